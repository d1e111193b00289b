//! A watch on a headless-Chromium suite for the test runner's known hang (wasm-pack#783):
//! Chromium never finishes loading the test page, and wasm-bindgen-test-runner waits out
//! ChromeDriver's 300-second page-load timeout before it gives up. The watch sees that the
//! page has not loaded long after the runner began its session, so the suite can be stopped
//! and tried again sooner.
//!
//! It reads the whole lines of the runner's standard output only: the runner's own lines and
//! the page's text come there (`#output`: `Loading scripts...` with no newline in the page as
//! served, then `Loading Wasm module...` and a newline once the page's module script runs,
//! then the harness's lines), while cargo's lines and the runner's log go to standard error. A
//! page that loads but hangs later is left to the runner's own test timeout.
//!
//! ```ignore
//! let mut watch = PageWatch::new(PAGE_LOAD_LIMIT);
//! watch.line("Running headless tests in Chrome on `http://127.0.0.1:4000/`", Instant::now());
//! if watch.stalled(Instant::now()) { process_tree::kill(child.id()); }
//! ```

use std::time::{Duration, Instant};

/// How long the runner may take from its `Running headless tests in` line to the page's first
/// line: starting Chromium and loading the page until its module script runs. That takes about a
/// second (`cargo xtask test` logs it for each suite); a hung load never ends.
pub(crate) const PAGE_LOAD_LIMIT: Duration = Duration::from_secs(120);

/// The line a stopped suite's output gets, which [`crate::steps`] reads as a page that never
/// loaded.
pub(crate) const STOPPED: &str =
    "xtask: Chromium had not loaded the test page in time: the suite was stopped (wasm-pack#783)";

/// The runner's line once ChromeDriver is up, before it starts Chromium: it arms the watch.
const STARTING: &str = "Running headless tests in ";

/// The runner's lines between [`STARTING`] and the page's text (whether it found a
/// `webdriver.json`). Any other line on standard output is the page's text, and disarms the
/// watch.
const BEFORE_THE_PAGE: [&str; 3] = ["Try find `webdriver.json`", "Ok", "Not found"];

/// Whether a suite's runner is waiting for its page, and since when.
#[derive(Debug)]
pub(crate) struct PageWatch {
    /// How long the runner may wait ([`PAGE_LOAD_LIMIT`] in `cargo xtask test`).
    limit: Duration,
    /// When the runner began its session, while the page's text has not come.
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

    /// Takes note of one line of the suite's standard output, printed at `now`. The page's
    /// first line returns how long the runner waited for it (for the log: evidence for the
    /// limit).
    pub(crate) fn line(&mut self, line: &str, now: Instant) -> Option<Duration> {
        if line.starts_with(STARTING) {
            self.waiting_since = Some(now);
            None
        } else if BEFORE_THE_PAGE.iter().any(|p| line.starts_with(p)) {
            None
        } else {
            let since = self.waiting_since.take()?;
            Some(now.saturating_duration_since(since))
        }
    }

    /// Whether the runner has waited for its page for the limit or longer at `now`.
    pub(crate) fn stalled(&self, now: Instant) -> bool {
        self.waiting_since
            .is_some_and(|since| now.saturating_duration_since(since) >= self.limit)
    }

    /// The limit this watch keeps.
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STARTED: &str = "Running headless tests in Chrome on `http://127.0.0.1:4000/`";

    #[test]
    fn a_page_that_never_answers_stalls_at_the_limit() {
        let t0 = Instant::now();
        let mut watch = PageWatch::new(PAGE_LOAD_LIMIT);
        watch.line("Set WASM_BINDGEN_TEST_TIMEOUT to 240 seconds...", t0);
        assert!(
            !watch.stalled(t0 + PAGE_LOAD_LIMIT),
            "not armed before the runner starts its session"
        );
        watch.line(STARTED, t0);
        watch.line(
            "Try find `webdriver.json` for configure browser's capabilities:",
            t0,
        );
        watch.line("Ok", t0 + Duration::from_secs(1));
        assert!(!watch.stalled(t0 + PAGE_LOAD_LIMIT - Duration::from_millis(1)));
        assert!(watch.stalled(t0 + PAGE_LOAD_LIMIT));
    }

    #[test]
    fn the_pages_first_line_disarms_the_watch() {
        // What the runner prints in a healthy run, line by line.
        let t0 = Instant::now();
        let mut watch = PageWatch::new(PAGE_LOAD_LIMIT);
        watch.line(STARTED, t0);
        watch.line("Not found", t0);
        assert_eq!(
            watch.line("Loading scripts...", t0 + Duration::from_secs(3)),
            Some(Duration::from_secs(3)),
            "the wait is told once, at the page's first line"
        );
        assert_eq!(
            watch.line("running 48 tests", t0 + Duration::from_secs(3)),
            None
        );
        assert!(
            !watch.stalled(t0 + PAGE_LOAD_LIMIT * 3),
            "a long test run after the page loaded is not a hang"
        );
        // The next test binary's runner starts its own session: watched again, from then.
        let t1 = t0 + Duration::from_secs(200);
        watch.line(STARTED, t1);
        assert!(!watch.stalled(t1 + PAGE_LOAD_LIMIT - Duration::from_secs(1)));
        assert!(watch.stalled(t1 + PAGE_LOAD_LIMIT));
    }
}
