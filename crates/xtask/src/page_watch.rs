//! A watch on a headless-Chromium suite for the test runner's known hang (wasm-pack#783):
//! Chromium never finishes loading the test page, and wasm-bindgen-test-runner waits out
//! ChromeDriver's 300-second page-load timeout before it gives up. The watch notices that the
//! runner has said nothing since it set out to open the page, and the suite is stopped long
//! before then, so that the try after it starts sooner.
//!
//! ```ignore
//! let mut watch = PageWatch::new(PAGE_LOAD_LIMIT);
//! watch.line("Running headless tests in Chrome on `http://127.0.0.1:4000/`", Instant::now());
//! if watch.stalled(Instant::now()) { kill_tree(child.id()); }
//! ```

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the runner may take from naming its page to the page's first output: starting
/// ChromeDriver and Chromium, then loading the page. It takes a few seconds; a hung load never
/// ends.
pub(crate) const PAGE_LOAD_LIMIT: Duration = Duration::from_secs(120);

/// The line a stopped suite's output gets, which [`crate::steps`] reads as a page that never
/// loaded.
pub(crate) const STOPPED: &str =
    "xtask: Chromium had not loaded the test page in time: the suite was stopped (wasm-pack#783)";

/// What the runner prints before it opens the page: its first line arms the watch.
const OPENING: &str = "Running headless tests in ";

/// The runner's other lines before the page loads: ChromeDriver's start and the capabilities
/// file. Any other line is the page's own output, and disarms the watch.
const BEFORE_THE_PAGE: [&str; 5] = [
    "Try find `webdriver.json`",
    "Ok",
    "Not found",
    "Failed to start driver",
    "Driver has not bound port",
];

/// Whether a suite's runner is waiting for its page, and since when.
#[derive(Debug)]
pub(crate) struct PageWatch {
    /// How long the runner may wait ([`PAGE_LOAD_LIMIT`] in `cargo xtask test`).
    limit: Duration,
    /// When the runner set out to open the page, while no output from the page has come.
    waiting_since: Option<Instant>,
}

impl PageWatch {
    /// A watch that calls a wait of `limit` or longer a hang.
    pub(crate) fn new(limit: Duration) -> Self {
        PageWatch {
            limit,
            waiting_since: None,
        }
    }

    /// Takes note of one line of the suite's output, printed at `now`.
    pub(crate) fn line(&mut self, line: &str, now: Instant) {
        if line.starts_with(OPENING) {
            self.waiting_since = Some(now);
        } else if !BEFORE_THE_PAGE.iter().any(|p| line.starts_with(p)) {
            self.waiting_since = None;
        }
    }

    /// Whether the runner has waited for its page for the limit or longer at `now`.
    pub(crate) fn stalled(&self, now: Instant) -> bool {
        self.waiting_since
            .is_some_and(|since| now.saturating_duration_since(since) >= self.limit)
    }
}

/// Kills `root` and every process under it (`wasm-pack`, cargo, the runner, ChromeDriver and
/// Chromium): killing `wasm-pack` alone would leave Chromium running with the output pipes open.
pub(crate) fn kill_tree(root: u32) {
    let pids = descendants(root, &parents());
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(root.to_string())
        .args(pids.iter().map(u32::to_string))
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

/// The parent's pid in a `/proc/PID/stat` line: the second field after the command name, which
/// is in parentheses and may itself hold spaces and parentheses.
fn parent_in_stat(stat: &str) -> Option<u32> {
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Every process under `root`, given each process's parent.
fn descendants(root: u32, parents: &BTreeMap<u32, u32>) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(pid) = frontier.pop() {
        for (&child, _) in parents.iter().filter(|(_, &p)| p == pid) {
            if child != root && !found.contains(&child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENED: &str = "Running headless tests in Chrome on `http://127.0.0.1:4000/`";

    #[test]
    fn a_page_that_never_answers_stalls_at_the_limit() {
        let t0 = Instant::now();
        let mut watch = PageWatch::new(PAGE_LOAD_LIMIT);
        assert!(
            !watch.stalled(t0 + PAGE_LOAD_LIMIT),
            "not armed before the runner opens the page"
        );
        watch.line(OPENED, t0);
        watch.line(
            "Try find `webdriver.json` for configure browser's capabilities:",
            t0,
        );
        watch.line("Ok", t0 + Duration::from_secs(1));
        assert!(!watch.stalled(t0 + PAGE_LOAD_LIMIT - Duration::from_millis(1)));
        assert!(watch.stalled(t0 + PAGE_LOAD_LIMIT));
    }

    #[test]
    fn the_pages_first_output_disarms_the_watch() {
        let t0 = Instant::now();
        let mut watch = PageWatch::new(PAGE_LOAD_LIMIT);
        watch.line(OPENED, t0);
        watch.line("Not found", t0);
        watch.line(
            "Loading scripts...running 48 tests",
            t0 + Duration::from_secs(3),
        );
        assert!(
            !watch.stalled(t0 + PAGE_LOAD_LIMIT * 3),
            "a long test run after the page loaded is not a hang"
        );
        // The next binary's runner opens its own page: watched again, from then.
        let t1 = t0 + Duration::from_secs(200);
        watch.line(OPENED, t1);
        assert!(!watch.stalled(t1 + PAGE_LOAD_LIMIT - Duration::from_secs(1)));
        assert!(watch.stalled(t1 + PAGE_LOAD_LIMIT));
    }

    #[test]
    fn the_tree_under_a_process_is_found_through_every_generation() {
        // wasm-pack 10 → cargo 11 → runner 12 → chromedriver 13 → chromium 14, 15; 20 is not ours.
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
}
