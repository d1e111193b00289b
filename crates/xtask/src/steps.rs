//! Running each check as a child process, streaming its output, and totalling the results.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::bootstrap::{self, Toolchain, CHROMEDRIVER};
use crate::page_watch::{self, PageWatch};
use crate::process_tree;
use crate::servers::free_port;
use crate::tally::Tally;
use grafx_testkit::BrowserStack;

struct StepResult {
    name: String,
    ok: bool,
    tally: Tally,
    took: Duration,
    /// A check that passes or fails (fmt, clippy, a build) rather than a suite of tests.
    gate: bool,
}

/// The steps run so far.
struct Report {
    root: std::path::PathBuf,
    toolchain: Toolchain,
    results: Vec<StepResult>,
    /// `--only`: run just the steps whose name contains it.
    only: Option<String>,
    /// Steps left out (by `--only`, `--no-browser`), named in the summary.
    left_out: Vec<String>,
}

impl Report {
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args)
            .current_dir(&self.root)
            .env("PATH", &self.toolchain.path);
        c
    }

    /// Whether `--only` leaves this step in.
    fn wanted(&self, name: &str) -> bool {
        self.only.as_deref().is_none_or(|o| name.contains(o))
    }

    /// Runs `cmd`, streaming and capturing its output. A gate (fmt, clippy, tsc) passes or fails
    /// and counts no tests; a suite counts what its runner reports, plus one failure if it failed
    /// without saying so (it did not compile, or crashed).
    fn run(&mut self, name: &str, mut cmd: Command, gate: bool) {
        if !self.wanted(name) {
            self.left_out.push(name.to_owned());
            return;
        }
        println!("\nxtask: ==> {name}");
        let start = Instant::now();
        let (ok, output) = execute(name, &mut cmd);
        self.finish(name, start, ok, &output, gate);
    }

    /// A headless-Chromium suite, run again (each command once, in order) while Chromium never
    /// loaded the test page: the runner's known hang (wasm-pack#783), where no test starts and
    /// the renderer idles. A try is stopped once [`page_watch::PAGE_LOAD_LIMIT`] passes without
    /// the page (the runner itself would wait out ChromeDriver's 300-second page-load
    /// timeout). The caller says how many tries (`commands`, one per try). A run that failed
    /// any other way is never re-run; a hang in a suite's second test binary re-runs the whole
    /// suite, the first binary's passed tests too.
    fn run_in_browser<const N: usize>(&mut self, name: &str, commands: [Command; N]) {
        const { assert!(N > 0, "at least one try") };
        if !self.wanted(name) {
            self.left_out.push(name.to_owned());
            return;
        }
        println!("\nxtask: ==> {name}");
        let start = Instant::now();
        let (mut ok, mut output) = (false, String::new());
        for (i, mut cmd) in commands.into_iter().enumerate() {
            if i > 0 {
                if ok || !page_never_loaded(&output) {
                    break;
                }
                println!(
                    "xtask: {name}: Chromium never loaded the test page (no test ran; wasm-pack#783): try {} of {N}",
                    i + 1
                );
            }
            (ok, output) = run_watched(name, &mut cmd, Some(page_watch::PAGE_LOAD_LIMIT));
        }
        self.finish(name, start, ok, &output, false);
    }

    /// Records a child process's test run from its outcome and output.
    fn finish(&mut self, name: &str, start: Instant, ok: bool, output: &str, gate: bool) {
        let mut tally = if gate {
            Tally {
                passed: u64::from(ok),
                failed: u64::from(!ok),
                skipped: 0,
            }
        } else {
            Tally::parse(output)
        };
        if !ok && tally.failed == 0 {
            tally.failed = 1;
        }
        if ok && !gate && tally.passed == 0 {
            println!("xtask: {name} ran no test; counting that as a failure");
            tally.failed = 1;
        }
        for note in crate::tally::unreported(output) {
            println!("xtask: {name}: {note}");
            tally.failed = tally.failed.max(1);
        }
        let ok = ok && tally.failed == 0;
        self.results.push(StepResult {
            name: name.to_owned(),
            ok,
            tally,
            took: start.elapsed(),
            gate,
        });
    }

    /// Records a step that is not a child process's test run: a build (`gate`), or a suite that
    /// could not start (not a gate: it counts as a failed test on the last line).
    fn record(&mut self, name: &str, ok: bool, took: Duration, gate: bool) {
        if !self.wanted(name) {
            self.left_out.push(name.to_owned());
            return;
        }
        let tally = Tally {
            passed: u64::from(ok),
            failed: u64::from(!ok),
            skipped: 0,
        };
        self.results.push(StepResult {
            name: name.to_owned(),
            ok,
            tally,
            took,
            gate,
        });
    }

    /// Prints each step, then the gates on a line of their own and the tests on the last line
    /// (`N passed, N failed`, counting only tests). Returns whether everything passed.
    fn print(&self) -> bool {
        println!("\nxtask: summary");
        let mut tests = Tally::default();
        let mut gates = Tally::default();
        for r in &self.results {
            let status = if r.ok { "ok" } else { "FAIL" };
            if r.gate {
                println!(
                    "  {status:<4} {:<44} {:>17}  {:>6.1}s",
                    r.name,
                    "gate",
                    r.took.as_secs_f64()
                );
                gates += r.tally;
            } else {
                println!(
                    "  {status:<4} {:<44} {:>5} passed {:>3} failed {:>3} skipped  {:>6.1}s",
                    r.name,
                    r.tally.passed,
                    r.tally.failed,
                    r.tally.skipped,
                    r.took.as_secs_f64()
                );
                tests += r.tally;
            }
        }
        let ok = self.results.iter().all(|r| r.ok);
        if !self.left_out.is_empty() {
            println!(
                "xtask: left out of this run ({} steps): {}",
                self.left_out.len(),
                self.left_out.join("; ")
            );
        }
        println!("gates: {} passed, {} failed", gates.passed, gates.failed);
        println!(
            "{} passed, {} failed ({} skipped)",
            tests.passed, tests.failed, tests.skipped
        );
        ok
    }
}

/// Runs a command with both streams piped through to ours, returning success and the output.
/// With `page_load_limit`, a headless-Chromium suite whose test page has not loaded in that
/// time (see [`PageWatch`]) is stopped, with [`page_watch::STOPPED`] in its output.
fn stream(cmd: &mut Command, page_load_limit: Option<Duration>) -> Result<(bool, String)> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawning")?;
    let captured = Arc::new(Mutex::new(String::new()));
    let watch = page_load_limit.map(|limit| Arc::new(Mutex::new(PageWatch::new(limit))));
    let stdout = Box::new(child.stdout.take().context("stdout")?);
    let out = pump(stdout, false, Arc::clone(&captured), watch.clone());
    let err = pump(
        Box::new(child.stderr.take().context("stderr")?),
        true,
        Arc::clone(&captured),
        None,
    );
    let (status, stopped) = match &watch {
        Some(watch) => wait_or_stop(&mut child, watch)?,
        None => (child.wait().context("waiting")?, false),
    };
    if stopped {
        // The pipes close when the last process holding them ends: one that escaped the kill
        // must not hold up the rest of the run.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(out.is_finished() && err.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut c = lock(&captured);
        c.push_str(page_watch::STOPPED);
        c.push('\n');
    } else {
        let _ = out.join();
        let _ = err.join();
    }
    let _ = std::io::stdout().flush();
    let text = lock(&captured).clone();
    Ok((status.success(), text))
}

/// Copies `source` (a child's standard output, or with `to_stderr` its standard error) to ours
/// line by line, and into `captured`; each whole line also goes to `watch`, if any, before it is
/// printed (printing may wait on our own output). The line a pipe ends without a newline is
/// copied but not watched: it is what a stopped page had printed so far.
fn pump(
    source: Box<dyn Read + Send>,
    to_stderr: bool,
    captured: Arc<Mutex<String>>,
    watch: Option<Arc<Mutex<PageWatch>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        // Lossy: one bad byte in a child's output must not hide the rest of it.
        let mut reader = BufReader::new(source);
        let mut raw = Vec::new();
        while reader.read_until(b'\n', &mut raw).unwrap_or(0) > 0 {
            let whole = raw.ends_with(b"\n");
            let line = String::from_utf8_lossy(&raw)
                .trim_end_matches(['\n', '\r'])
                .to_owned();
            raw.clear();
            let waited = match &watch {
                Some(w) if whole => lock(w).line(&line, Instant::now()),
                _ => None,
            };
            if to_stderr {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
            if let Some(waited) = waited {
                println!(
                    "xtask: the test page loaded {:.1} s after the runner began",
                    waited.as_secs_f64()
                );
            }
            let mut c = lock(&captured);
            c.push_str(&line);
            c.push('\n');
        }
    })
}

/// `child`'s exit, and whether it was stopped (with everything under it) because `watch` saw
/// its page hang.
fn wait_or_stop(
    child: &mut std::process::Child,
    watch: &Mutex<PageWatch>,
) -> Result<(std::process::ExitStatus, bool)> {
    loop {
        if let Some(status) = child.try_wait().context("waiting")? {
            return Ok((status, false));
        }
        let (stalled, limit) = {
            let w = lock(watch);
            (w.stalled(Instant::now()), w.limit())
        };
        if stalled {
            println!(
                "{} (the page had not loaded {} s after the runner began)",
                page_watch::STOPPED,
                limit.as_secs()
            );
            process_tree::kill(child.id());
            // Should `kill` have failed, the child itself at least.
            let _ = child.kill();
            return Ok((child.wait().context("waiting")?, true));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A mutex's value, also after a thread panicked holding it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `wasm-pack test` of one crate in headless Chromium; `filter` (e.g. `--lib`) picks the test
/// targets, so that host-only doctests are not run, or counted, twice.
fn wasm_test(report: &Report, crate_dir: &str, filter: &[&str]) -> Command {
    let mut c = report.command(
        "wasm-pack",
        &[
            "test",
            "--headless",
            "--chrome",
            "--chromedriver",
            CHROMEDRIVER,
            "--mode",
            "no-install",
            crate_dir,
        ]
        .iter()
        .chain(filter)
        .copied()
        .collect::<Vec<_>>(),
    );
    // The timeout of the whole run in the browser, not of one test.
    c.env("WASM_BINDGEN_TEST_TIMEOUT", "240");
    // The page's text is streamed as it comes: the page watch sees the page load there.
    c.env_remove("WASM_BINDGEN_TEST_NO_STREAM");
    // ChromeDriver leaves each Chromium profile (about 22 MB) in the temporary folder when the
    // runner stops it; they go to one folder under target/, emptied before each suite.
    let tmp = report.root.join("target/tmp/chromium");
    let _ = std::fs::remove_dir_all(&tmp);
    if std::fs::create_dir_all(&tmp).is_ok() {
        c.env("TMPDIR", &tmp);
    }
    c
}

/// `cargo xtask test`.
pub(crate) fn test(root: &Path, install: bool, browser: bool, only: Option<&str>) -> Result<bool> {
    let toolchain = bootstrap::ensure(root, install)?;
    let mut report = Report {
        root: root.to_owned(),
        toolchain,
        results: Vec::new(),
        only: only.map(str::to_owned),
        left_out: Vec::new(),
    };
    lint_steps(&mut report);
    let c = report.command("cargo", &["test", "--workspace", "--no-fail-fast"]);
    report.run("cargo test --workspace", c, false);
    if browser {
        browser_steps(&mut report);
    } else {
        report
            .left_out
            .push("every Chromium suite and the end-to-end suite (--no-browser)".to_owned());
    }
    let package_built = package_steps(&mut report);
    if browser && !package_built {
        report.record(END_TO_END, false, Duration::ZERO, false);
    } else if browser && report.wanted(END_TO_END) {
        end_to_end(&mut report);
    } else if browser {
        report.left_out.push(END_TO_END.to_owned());
    }
    soak_step(&mut report, install);
    empty_root_step(&mut report);
    cargo_package_step(&mut report);
    Ok(report.print())
}

/// The gates on the source: rustfmt, and clippy on the host and on wasm32.
fn lint_steps(report: &mut Report) {
    let c = report.command("cargo", &["fmt", "--all", "--", "--check"]);
    report.run("cargo fmt --check", c, true);
    let c = report.command(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    );
    report.run("clippy -D warnings (host)", c, true);
    let c = report.command(
        "cargo",
        &[
            "clippy",
            "-p",
            "grafx-core",
            "-p",
            "grafx-browser-tests",
            "-p",
            "grafx-wasm",
            "--target",
            "wasm32-unknown-unknown",
            "--all-targets",
            // What ships: the npm build's allocator too.
            "--features",
            "grafx-wasm/small-allocator",
            "--",
            "-D",
            "warnings",
        ],
    );
    report.run("clippy -D warnings (wasm32)", c, true);
}

/// grafx-core's unit tests on wasm32, then the suites that need the emulator and signer
/// (grafx_testkit::BrowserStack), in headless Chromium.
fn browser_steps(report: &mut Report) {
    let c = wasm_test(report, "crates/grafx-core", &["--lib"]);
    report.run("grafx-core on wasm32 in Chromium", c, false);
    let stack = match free_port().and_then(BrowserStack::start) {
        Ok(stack) => stack,
        Err(e) => {
            println!("xtask: cannot start the emulator and signer for browser tests: {e:#}");
            report.record(
                "browser suites (emulator + signer)",
                false,
                Duration::ZERO,
                false,
            );
            return;
        }
    };
    for (name, dir, features) in [
        (
            "emulator across origins in Chromium",
            "crates/grafx-browser-tests",
            &[][..],
        ),
        // grafx-wasm with the npm build's features: the suites test what ships.
        (
            "grafx-wasm in Chromium (signer + emulator)",
            "crates/grafx-wasm",
            &["--features", crate::package::FEATURES][..],
        ),
    ] {
        let suite = || {
            let mut c = wasm_test(report, dir, features);
            c.envs(stack.env.iter().map(|(k, v)| (k, v)));
            c
        };
        // Eight tries for each suite here: Chromium hangs on the grafx-wasm suite's page before
        // loading it (wasm-pack#783) once or twice in most clean-clone runs, and three times in
        // a row in 3357491's (43 minutes in all); it has not hung on the other suite's. A hung
        // try is stopped after `page_watch::PAGE_LOAD_LIMIT` (2 minutes; the runner itself
        // waits 5).
        let commands: [Command; 8] = std::array::from_fn(|_| suite());
        report.run_in_browser(name, commands);
    }
    stack.stop();
}

/// A step's command (a suite or a gate) run to its end: whether it succeeded, and what it
/// printed.
fn execute(name: &str, cmd: &mut Command) -> (bool, String) {
    run_watched(name, cmd, None)
}

/// A step's command run to its end, or with `page_load_limit` stopped when its Chromium page
/// has not loaded in that time: whether it succeeded, and what it printed.
fn run_watched(name: &str, cmd: &mut Command, page_load_limit: Option<Duration>) -> (bool, String) {
    stream(cmd, page_load_limit).unwrap_or_else(|e| {
        println!("xtask: cannot run {name}: {e:#}");
        (false, String::new())
    })
}

/// Whether Chromium never loaded the suite's page, so no test ran: the suite was stopped while
/// it waited ([`page_watch::STOPPED`]), or wasm-bindgen-test-runner gave up with its output div
/// still at "Loading scripts...".
fn page_never_loaded(output: &str) -> bool {
    output.contains(page_watch::STOPPED)
        || output.contains("Loading scripts...Failed to detect test as having been run")
}

/// The gate on the package's size.
const PACKAGE_SIZE: &str = "package size (gzip -9, at most 65,536 bytes)";

/// The npm package (web and bundler builds, its size checked), then what needs it: the `.d.ts`
/// and the READMEs' snippets compiled with tsc. Returns whether the package built.
fn package_steps(report: &mut Report) -> bool {
    let started = Instant::now();
    let (ok, size) = package(report);
    report.record(
        "grafx-wasm package (web + bundler)",
        ok,
        started.elapsed(),
        true,
    );
    if let Some(size) = size {
        println!(
            "xtask: grafx-wasm size: gzip -9 of .wasm + JS glue (generated and snippets) = {size} bytes ({:.1} KB)",
            size as f64 / 1024.0
        );
    }
    if ok {
        // Issue #28's limit, the bench's target: a package that grows past it fails the run.
        let within = size.is_some_and(|b| b <= crate::results::PACKAGE_TARGET_BYTES);
        match size {
            None => println!("xtask: the package's size could not be measured"),
            Some(_) if !within => println!(
                "xtask: the package is over its size limit ({} bytes gzip): see BENCHMARKS.md's twiggy table for what it holds",
                crate::results::PACKAGE_TARGET_BYTES
            ),
            Some(_) => {}
        }
        report.record(PACKAGE_SIZE, within, Duration::ZERO, true);
    }
    const TSC: &str = "tsc --noEmit (grafx-wasm types + Studio SDK)";
    const README_TSC: &str = "tsc --noEmit (the READMEs' JavaScript snippets)";
    const BUNDLER: &str =
        "package in Node (bundler build: the .wasm as an ES module; web build: initSync; signer and API calls)";
    if !ok {
        // What needs the package did not run: that fails, rather than vanish from the summary.
        println!(
            "xtask: the package did not build: the tsc checks and the end-to-end suite did not run"
        );
        report.record(TSC, false, Duration::ZERO, true);
        report.record(README_TSC, false, Duration::ZERO, true);
        report.record(BUNDLER, false, Duration::ZERO, true);
        return false;
    }
    let c = report.command(
        "node",
        &[
            "--experimental-wasm-modules",
            "--no-warnings",
            "tests/bundler/smoke.mjs",
        ],
    );
    report.run(BUNDLER, c, true);
    let c = report.command("node_modules/.bin/tsc", &["-p", "tests/types"]);
    report.run(TSC, c, true);
    match crate::readme_snippets::write(&report.root) {
        Ok(tsconfig) => {
            let tsconfig = tsconfig.to_string_lossy().into_owned();
            let c = report.command("node_modules/.bin/tsc", &["-p", &tsconfig]);
            report.run(README_TSC, c, true);
        }
        Err(e) => {
            println!("xtask: {e:#}");
            report.record(README_TSC, false, Duration::ZERO, true);
        }
    }
    true
}

/// `cargo package` of the published crates, without the build: metadata and versions.
fn cargo_package_step(report: &mut Report) {
    let c = report.command(
        "cargo",
        &[
            "package",
            "--locked",
            "--allow-dirty",
            "--no-verify",
            "-p",
            "grafx-core",
            "-p",
            "grafx-wasm",
            "-p",
            "grafx-signer",
        ],
    );
    report.run(
        "cargo package (grafx-core, grafx-wasm, grafx-signer: metadata and versions)",
        c,
        true,
    );
}

const EMPTY_ROOT: &str =
    "static signer in an empty root (musl build; chroot: --version, check over TLS, serve)";

/// The release signer for x86_64-unknown-linux-musl, run in a root that holds nothing else:
/// what a `FROM scratch` image holds (README, Install).
fn empty_root_step(report: &mut Report) {
    if !report.wanted(EMPTY_ROOT) {
        report.left_out.push(EMPTY_ROOT.to_owned());
        return;
    }
    println!("\nxtask: ==> {EMPTY_ROOT}");
    let started = Instant::now();
    let result = crate::dist::build_static(&report.root, &report.toolchain, &["grafx-signer"])
        .and_then(|bins| crate::empty_root::check(&report.root, &bins.join("grafx-signer")));
    let ok = result.inspect_err(|e| println!("xtask: {e:#}")).is_ok();
    report.record(EMPTY_ROOT, ok, started.elapsed(), true);
}

const SOAK: &str = "soak, short form (release build: 20 s load, 60 s of 3 s tokens)";

/// The soak's short form: the release signer under load, then a minute of tokens that expire
/// every 3 seconds. A change that starves the refreshes (as an upstream budget once did) fails
/// here, not only in `cargo xtask soak`.
fn soak_step(report: &mut Report, install: bool) {
    if !report.wanted(SOAK) {
        report.left_out.push(SOAK.to_owned());
        return;
    }
    println!("\nxtask: ==> {SOAK}");
    let started = Instant::now();
    let ok = crate::soak::short(&report.root, install).unwrap_or_else(|e| {
        println!("xtask: the soak could not run: {e:#}");
        false
    });
    report.record(SOAK, ok, started.elapsed(), true);
}

const END_TO_END: &str = "end-to-end: demo in Chromium (node --test)";

/// The demo's end-to-end suites (`tests/e2e/`, node's test runner driving Chromium through
/// playwright-core) against the demo stack: emulator, signer and the page it serves.
fn end_to_end(report: &mut Report) {
    let started = Instant::now();
    let demo = crate::demo::assemble_site(&report.root)
        .and_then(|site| crate::demo::DemoStack::start(site, "127.0.0.1:0".parse()?, false));
    match demo {
        Ok(demo) => {
            println!("xtask: demo for end-to-end tests at {}", demo.url);
            let mut c = report.command(
                "node",
                &[
                    "--test",
                    "--test-reporter=tap",
                    "--test-concurrency=1",
                    "tests/e2e/",
                ],
            );
            c.env("DEMO_URL", &demo.url)
                .env("DEMO_SITE", report.root.join("target/demo"))
                .env(
                    "EMULATOR_URL",
                    demo.emulator_url.clone().unwrap_or_default(),
                )
                .env("CHROMIUM", bootstrap::CHROMIUM)
                .env("E2E_ARTIFACTS", report.root.join("target/e2e-artifacts"));
            report.run(END_TO_END, c, false);
            demo.stop();
        }
        Err(e) => {
            println!("xtask: cannot start the demo for end-to-end tests: {e:#}");
            report.record(END_TO_END, false, started.elapsed(), false);
        }
    }
}

/// Builds the npm package for `--target web` (pkg/) and `--target bundler` (pkg-bundler/) as
/// `cargo xtask package` does, and measures gzip -9 of the web build's .wasm plus its JS.
fn package(report: &Report) -> (bool, Option<u64>) {
    let mut ok = true;
    for (target, out) in crate::package::TARGETS {
        if let Err(e) = crate::package::build(&report.root, &report.toolchain, target, out) {
            println!("xtask: {e:#}");
            ok = false;
        }
    }
    let pkg = report.root.join("crates/grafx-wasm/pkg");
    if let Err(e) = crate::package::finish_package_json(&pkg) {
        println!("xtask: cannot complete pkg/package.json: {e:#}");
        ok = false;
    }
    (ok, crate::package::gzip_size(&report.root))
}

#[cfg(test)]
mod tests {
    use super::{page_never_loaded, stream};
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// A suite that prints the runner's lines before its page, then `after` (a script), while a
    /// `sleep 29` stands for Chromium; run with a 1-second page watch. Returns whether it
    /// succeeded, its output, and the sleep's pid (written to a file: a line of output would be
    /// the page's).
    fn hung_suite(test: &str, after: &str) -> (bool, String, u32) {
        let pid_file = std::env::temp_dir().join(format!("xtask-{test}-{}", std::process::id()));
        let script = format!(
            "echo 'Running headless tests in Chrome on `http://127.0.0.1:1/`'; echo Ok; sleep 29 & echo $! > \"$1\"; {after}; wait"
        );
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script, "sh"]).arg(&pid_file);
        let started = Instant::now();
        let (ok, output) = stream(&mut cmd, Some(Duration::from_secs(1))).expect("sh runs");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "stopped, not waited out"
        );
        let sleep = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|pid| pid.trim().parse().ok())
            .expect("sh wrote its sleep's pid");
        let _ = std::fs::remove_file(&pid_file);
        (ok, output, sleep)
    }

    /// Waits (a few seconds at most) for `pid` to end.
    fn assert_ends(pid: u32) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !crate::process_tree::ended(pid) {
            assert!(
                Instant::now() < deadline,
                "the suite's child outlived the stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_suite_whose_page_never_loads_is_stopped_with_everything_under_it() {
        let (ok, output, sleep) = hung_suite("hung-page", "true");
        assert!(!ok);
        assert!(page_never_loaded(&output), "{output}");
        assert_ends(sleep);
    }

    #[test]
    fn neither_the_pages_unfinished_line_nor_standard_error_disarm_the_watch() {
        // The page's `Loading scripts...` without its newline, and the runner's log on
        // standard error (RUST_LOG=debug), while the page hangs.
        let (ok, output, sleep) = hung_suite(
            "unfinished-line",
            "printf 'Loading scripts...'; echo 'POST /session/1/url' >&2",
        );
        assert!(!ok);
        assert!(page_never_loaded(&output), "{output}");
        assert_ends(sleep);
    }

    #[test]
    fn a_suite_whose_page_loaded_is_not_stopped() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo 'Running headless tests in Chrome on `http://127.0.0.1:1/`'; echo 'Loading Wasm module...'; sleep 4; echo 'test result: ok. 1 passed'",
        ]);
        let (ok, output) = stream(&mut cmd, Some(Duration::from_secs(2))).expect("sh runs");
        assert!(ok, "{output}");
        assert!(!page_never_loaded(&output));
        assert!(output.contains("test result: ok"));
    }

    #[test]
    fn a_step_without_a_watch_streams_all_its_output_as_it_comes() {
        // More than a pipe holds (64 KiB) on each stream: a pump that waited for the step's end
        // would leave the child blocked on a full pipe.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", "seq 1 30000; seq 30001 60000 >&2"]);
            let _ = done.send(stream(&mut cmd, None));
        });
        let (ok, output) = finished
            .recv_timeout(Duration::from_secs(60))
            .expect("the step ends")
            .expect("sh runs");
        assert!(ok);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 60_000);
        assert!(lines.contains(&"30000") && lines.contains(&"60000"));
    }

    #[test]
    fn a_suite_drops_no_stream_and_keeps_chromium_s_profiles_under_target() {
        let root = std::env::temp_dir().join(format!("xtask-suite-env-{}", std::process::id()));
        let profiles = root.join("target/tmp/chromium");
        std::fs::create_dir_all(profiles.join("left-by-a-killed-try")).unwrap();
        let report = super::Report {
            root: root.clone(),
            toolchain: crate::bootstrap::Toolchain {
                path: "/usr/bin".into(),
            },
            results: Vec::new(),
            only: None,
            left_out: Vec::new(),
        };
        let cmd = super::wasm_test(&report, "crates/grafx-wasm", &["--lib"]);
        let env = |name: &str| {
            cmd.get_envs()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.map(|v| v.to_owned()))
        };
        // Set in the caller's environment, it would hold the page's lines until the end, and the
        // watch would stop every healthy suite.
        assert_eq!(env("WASM_BINDGEN_TEST_NO_STREAM"), Some(None), "removed");
        assert_eq!(env("TMPDIR"), Some(Some(profiles.clone().into_os_string())));
        assert!(profiles.is_dir());
        assert!(
            !profiles.join("left-by-a-killed-try").exists(),
            "emptied before the suite"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn only_a_page_that_never_loaded_is_run_again() {
        let hung = "Running headless tests in Chrome on `http://127.0.0.1:1/`\nLoading scripts...Failed to detect test as having been run. It might have timed out.\n";
        assert!(page_never_loaded(hung));
        let stopped = format!(
            "Running headless tests in Chrome on `http://127.0.0.1:1/`\nOk\n{}\n",
            crate::page_watch::STOPPED
        );
        assert!(
            page_never_loaded(&stopped),
            "a suite the watch stopped is run again"
        );
        let ran = "running 48 tests\ntest a ... ok\nFailed to detect test as having been run. It might have timed out.\n";
        assert!(
            !page_never_loaded(ran),
            "a suite that started is not re-run"
        );
        assert!(!page_never_loaded(
            "test result: FAILED. 47 passed; 1 failed"
        ));
    }
}
