//! Counting passed and failed tests from each runner's own summary lines.

/// Passed and failed counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.passed += o.passed;
        self.failed += o.failed;
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
    /// (`test result: ok. N passed; M failed; …`) and node's test runner (`# pass N`, `# fail M`).
    pub(crate) fn parse(output: &str) -> Tally {
        let mut t = Tally::default();
        for line in output.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("test result: ") {
                t.passed += number_before(rest, " passed").unwrap_or(0);
                t.failed += number_before(rest, " failed").unwrap_or(0);
            } else if let Some(n) = line.strip_prefix("# pass ") {
                t.passed += n.trim().parse().unwrap_or(0);
            } else if let Some(n) = line.strip_prefix("# fail ") {
                t.failed += n.trim().parse().unwrap_or(0);
            }
        }
        t
    }
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
                failed: 3
            }
        );
        assert_eq!(
            Tally::parse("no summaries here\nok 1 - thing"),
            Tally::default()
        );
    }
}
