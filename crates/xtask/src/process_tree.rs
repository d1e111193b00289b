//! A process and every process under it, found through `/proc` and killed together: a stopped
//! `wasm-pack test` leaves cargo, the test runner, ChromeDriver and Chromium running unless each
//! is killed too.
//!
//! ```ignore
//! process_tree::kill(child.id());
//! let _ = child.wait();
//! ```

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How many times the tree is gathered again for processes started while it was being stopped.
const GATHERINGS: usize = 20;

/// Kills `root` and every process under it. Each is stopped (`SIGSTOP`) as it is found, so
/// that nothing forks a process that escapes, and the tree is gathered again until no new one
/// turns up once every process found has stopped; then all are killed, the last found first
/// (no stopped process is left in a group orphaned by its parent's death, which the kernel
/// would wake with `SIGCONT`).
pub(crate) fn kill(root: u32) {
    let mut stopped = vec![root];
    let mut halted = stop(&stopped);
    for _ in 0..GATHERINGS {
        let found: Vec<u32> = descendants(root, &parents())
            .into_iter()
            .filter(|pid| !stopped.contains(pid))
            .collect();
        if found.is_empty() {
            if halted {
                break;
            }
            halted = wait_halted(&stopped);
            continue;
        }
        halted = stop(&found);
        stopped.extend(found);
    }
    let last_first: Vec<u32> = stopped.iter().rev().copied().collect();
    signal("-KILL", &last_first);
}

/// Sends `SIGSTOP` to `pids`, then [`wait_halted`]. A signal takes effect when its process next
/// leaves the kernel: one caught in the middle of a fork finishes it first, and its new child
/// must be in `/proc` before the tree is gathered again, or it would escape.
fn stop(pids: &[u32]) -> bool {
    signal("-STOP", pids);
    wait_halted(pids)
}

/// Waits (a second at most) until each of `pids` has stopped or ended; whether all have.
fn wait_halted(pids: &[u32]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if pids.iter().all(|&pid| halted(pid)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether every thread of `pid` is stopped or has ended (or the process is gone): it can
/// start no process any more. A stop reaches each thread on its own, so the main thread's
/// state alone does not tell.
fn halted(pid: u32) -> bool {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    threads.filter_map(Result::ok).all(|t| {
        std::fs::read_to_string(t.path().join("stat"))
            .ok()
            .and_then(|stat| state_in(&stat))
            .is_none_or(|s| matches!(s, 'T' | 't' | 'Z' | 'X'))
    })
}

/// The state letter (`R`, `S`, `T`, `Z`…) in a `/proc/…/stat` line.
fn state_in(stat: &str) -> Option<char> {
    stat_field(stat, 0)?.chars().next()
}

/// `kill SIGNAL pids…`; a process that has ended meanwhile is no error worth printing.
fn signal(signal: &str, pids: &[u32]) {
    let _ = Command::new("kill")
        .arg(signal)
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status();
}

/// Each running process's parent, from `/proc`.
fn parents() -> BTreeMap<u32, u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    entries
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, parent_in_stat(&stat)?))
        })
        .collect()
}

/// The `n`th field after the command name in a `/proc/…/stat` line (0: the state, 1: the
/// parent, 2: the process group): the name is in parentheses and may itself hold spaces and
/// parentheses.
fn stat_field(stat: &str, n: usize) -> Option<&str> {
    stat.rsplit_once(')')?.1.split_whitespace().nth(n)
}

/// The parent's pid in a `/proc/PID/stat` line.
fn parent_in_stat(stat: &str) -> Option<u32> {
    stat_field(stat, 1)?.parse().ok()
}

/// Every process under `root`, given each process's parent.
fn descendants(root: u32, parents: &BTreeMap<u32, u32>) -> Vec<u32> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (&child, &parent) in parents {
        children.entry(parent).or_default().push(child);
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(pid) = frontier.pop() {
        // Each process has one parent in the map, so each is reached once; only a loop back to
        // the root (a pid reused while `/proc` was read) could reach one again.
        for &child in children.get(&pid).into_iter().flatten() {
            if child != root {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

/// Whether process `pid` has ended: gone, or a zombie waiting for its parent to reap it (for
/// the tests, here and in `steps`).
#[cfg(test)]
pub(crate) fn ended(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| state_in(&stat))
        .is_none_or(|s| matches!(s, 'Z' | 'X'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_under_a_process_is_found_through_every_generation() {
        // wasm-pack 10, cargo 11, runner 12, chromedriver 13, chromium 14 and 15; 20 is not ours.
        let parents = BTreeMap::from([
            (11, 10),
            (12, 11),
            (13, 12),
            (14, 13),
            (15, 14),
            (20, 1),
            (10, 1),
        ]);
        let mut under = descendants(10, &parents);
        under.sort_unstable();
        assert_eq!(under, [11, 12, 13, 14, 15]);
        assert_eq!(descendants(15, &parents), Vec::<u32>::new());
        // A loop back to the root ends there.
        assert_eq!(descendants(30, &BTreeMap::from([(31, 30), (30, 31)])), [31]);
    }

    #[test]
    fn the_parent_is_read_past_a_name_with_spaces_and_parentheses() {
        assert_eq!(
            parent_in_stat("4242 (chrome (gpu) x) S 4200 4242 1 0"),
            Some(4200)
        );
        assert_eq!(parent_in_stat("7 (sh) R 1 7 7"), Some(1));
        assert_eq!(parent_in_stat("garbage"), None);
    }

    /// The process group the test's processes run in, killed whole when the test ends, so a
    /// failed test leaves nothing behind (stopped or not).
    struct Group(u32);

    impl Drop for Group {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.0)])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// The live processes in process group `group` (the fifth field of `/proc/PID/stat`).
    fn alive_in(group: u32) -> Vec<u32> {
        parents()
            .keys()
            .copied()
            .filter(|&pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                stat_field(&stat, 2) == Some(group.to_string().as_str()) && !ended(pid)
            })
            .collect()
    }

    #[test]
    fn a_tree_that_keeps_forking_below_its_root_is_killed_whole() {
        use std::os::unix::process::CommandExt;
        // sh → sh, which starts `sleep`s as fast as it can: the forker is below the root, so it
        // runs on while the root is stopped, and only gathering the tree again finds all it
        // started. The test's processes have a process group of their own.
        let mut root = Command::new("sh")
            .args(["-c", "sh -c 'while :; do sleep 31 & done' & wait"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("sh runs");
        let group = Group(root.id());
        let started = Instant::now() + Duration::from_secs(10);
        while alive_in(group.0).len() < 20 {
            assert!(Instant::now() < started, "the forker started no sleeps");
            std::thread::sleep(Duration::from_millis(5));
        }
        kill(root.id());
        // Generous: only a failing run waits it out.
        let deadline = Instant::now() + Duration::from_secs(20);
        while root.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "the root outlived the kill");
            std::thread::sleep(Duration::from_millis(20));
        }
        loop {
            let left = alive_in(group.0);
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "outlived the kill: {left:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
