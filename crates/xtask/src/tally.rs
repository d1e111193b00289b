//! Counting passed and failed tests from each runner's own summary lines.

/// Passed, failed and skipped counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    /// Not run on purpose: libtest's `ignored`, node's `# skipped` and `# todo`.
    pub(crate) skipped: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }
}

fn number_before(line: &str, word: &str) -> Option<u64> {
    let i = line.find(word)?;
    line[..i]
        .trim_end()
        .rsplit([' ', ';', '.'])
        .next()?
        .parse()
        .ok()
}

impl Tally {
    /// Sums the summary lines in a runner's output: libtest and wasm-bindgen-test-runner
    /// (`test result: ok. N passed; M failed; K ignored; …`) and node's TAP reporter (`# pass N`,
    /// `# fail M`, `# cancelled C`, counted as failed, `# skipped S`, `# todo T`).
    pub(crate) fn parse(output: &str) -> Tally {
        let mut t = Tally::default();
        let count = |n: &str| n.trim().parse::<u64>().unwrap_or(0);
        for line in output.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("test result: ") {
                t.passed += number_before(rest, " passed").unwrap_or(0);
                t.failed += number_before(rest, " failed").unwrap_or(0);
                t.skipped += number_before(rest, " ignored").unwrap_or(0);
            } else if let Some(n) = line.strip_prefix("# pass ") {
                t.passed += count(n);
            } else if let Some(n) = line
                .strip_prefix("# fail ")
                .or_else(|| line.strip_prefix("# cancelled "))
            {
                t.failed += count(n);
            } else if let Some(n) = line
                .strip_prefix("# skipped ")
                .or_else(|| line.strip_prefix("# todo "))
            {
                t.skipped += count(n);
            }
        }
        t
    }
}

/// The test binaries of a `cargo test` run that never reported a result (a crash, a signal, a
/// build that failed), from cargo's own lines: each `Running …` and `Doc-tests …` should be
/// followed by one `test result:`, and with `--no-fail-fast` cargo lists the targets that failed.
/// Returns what to tell the reader, empty when every binary reported.
pub(crate) fn unreported(output: &str) -> Vec<String> {
    // Cargo's own lines, indented as cargo indents them: a runner's "Running headless tests…"
    // is not one.
    let started = output
        .lines()
        .filter(|l| {
            (l.starts_with("     Running ") && l.trim_end().ends_with(')'))
                || l.starts_with("   Doc-tests ")
        })
        .count();
    // wasm-bindgen-test-runner says "no tests to run!" for a binary with none.
    let reported = output
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("test result: ") || *l == "no tests to run!")
        .count();
    let mut notes: Vec<String> = Vec::new();
    if reported < started {
        notes.push(format!(
            "{} of {started} test binaries never reported a result",
            started - reported
        ));
    }
    let mut failed_block = false;
    for line in output.lines() {
        if line.contains("targets failed:") || line.contains("target failed:") {
            failed_block = true;
        } else if failed_block && line.starts_with("    ") {
            notes.push(format!("failed: {}", line.trim()));
        } else {
            failed_block = false;
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_runner_format() {
        let out = "\
running 3 tests
test result: ok. 32 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
test result: FAILED. 14 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.48s
test result: ok. 5 passed; 0 failed; 0 ignored; 0 filtered out; finished in 0.07s
# tests 4
# pass 3
# fail 1
";
        assert_eq!(
            Tally::parse(out),
            Tally {
                passed: 54,
                failed: 3,
                skipped: 0,
            }
        );
        let tap =
            "# tests 9\n# suites 0\n# pass 5\n# fail 1\n# cancelled 2\n# skipped 1\n# todo 1\n";
        assert_eq!(
            Tally::parse(tap),
            Tally {
                passed: 5,
                failed: 3,
                skipped: 2,
            },
            "cancelled counts as failed"
        );
        assert_eq!(
            Tally::parse("test result: ok. 12 passed; 0 failed; 13 ignored; 0 measured"),
            Tally {
                passed: 12,
                failed: 0,
                skipped: 13,
            }
        );
        assert_eq!(
            Tally::parse("no summaries here\nok 1 - thing"),
            Tally::default()
        );
    }

    #[test]
    fn binaries_that_never_reported_are_named() {
        let fine = "     Running unittests src/lib.rs (target/wasm32-unknown-unknown/debug/deps/x.wasm)\nno tests to run!\n     Running tests/a.rs (target/debug/deps/a-1)\nRunning headless tests in Chrome on `http://127.0.0.1:1/`\ntest result: ok. 1 passed; 0 failed\n   Doc-tests x\ntest result: ok. 0 passed; 0 failed\n";
        assert!(unreported(fine).is_empty());
        let crashed = "     Running tests/a.rs (target/debug/deps/a-1)\ntest result: ok. 1 passed; 0 failed\n     Running tests/b.rs (target/debug/deps/b-2)\nerror: test failed, to rerun pass `-p x --test b`\n\nCaused by:\n  process didn't exit successfully (signal: 11, SIGSEGV)\nerror: 1 target failed:\n    `-p x --test b`\n";
        assert_eq!(
            unreported(crashed),
            [
                "1 of 2 test binaries never reported a result",
                "failed: `-p x --test b`"
            ]
        );
    }
}
