//! `cargo xtask mutants`: cargo-mutants over the pure modules, where a test suite that cannot
//! fail shows first: grafx-core (scopes, expiry, URLs, the wire types) and the signer's policy
//! code (the token cache's refresh phases, rate limits, origins, the client IP, the browser scope
//! policy, the proxy's allow-list, redactor and memory budget), each against its own unit tests.
//!
//! Not part of `cargo xtask test`: every mutant is a rebuild, and the whole run takes tens of
//! minutes on this project's 2-core machine. Writes `target/mutants/{core,signer}/mutants.out/`
//! (cargo-mutants' own `caught.txt`, `missed.txt`, `timeout.txt`, `unviable.txt`) and prints the
//! figures RELIABILITY.md records. Fails when fewer than 90% of the viable mutants are caught.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The cargo-mutants release the figures were taken with.
const CARGO_MUTANTS: &str = "25.3.1";

/// At least this share of the viable mutants (caught + missed + timed out) must be caught.
const GOAL: f64 = 0.90;

/// One cargo-mutants run: a name, its output directory under `target/mutants/`, its arguments.
struct Run {
    name: &'static str,
    dir: &'static str,
    args: &'static [&'static str],
}

/// The runs. In the signer, only the cache's pure phases (`cache/flight.rs`: time passed in, no
/// I/O) are mutated, not its async plumbing, which the integration suites test through sockets.
const RUNS: &[Run] = &[
    Run {
        name: "grafx-core",
        dir: "core",
        args: &["-p", "grafx-core"],
    },
    Run {
        name: "grafx-signer's pure modules",
        dir: "signer",
        args: &[
            "-p",
            "grafx-signer",
            "-f",
            "crates/grafx-signer/src/cache/flight.rs",
            "-f",
            "crates/grafx-signer/src/rate_limit.rs",
            "-f",
            "crates/grafx-signer/src/origin.rs",
            "-f",
            "crates/grafx-signer/src/client_ip.rs",
            "-f",
            "crates/grafx-signer/src/browser_scopes.rs",
            "-f",
            "crates/grafx-signer/src/proxy_rule.rs",
            "-f",
            "crates/grafx-signer/src/routes/proxy/redact.rs",
            "-f",
            "crates/grafx-signer/src/routes/proxy/budget.rs",
            "-f",
            "crates/grafx-signer/src/log_format.rs",
            "--re",
            r"(rate_limit|origin|client_ip|browser_scopes|proxy_rule|redact|budget|log_format)\.rs|cache/flight\.rs",
            // The unit tests only, built and run: each mutant links one test binary, not twenty.
            "--cargo-arg=--lib",
        ],
    },
];

/// Mutants by outcome, counted from cargo-mutants' lists.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    caught: usize,
    missed: usize,
    timeout: usize,
    unviable: usize,
}

impl Counts {
    fn read(out: &Path) -> Result<Self> {
        let lines = |file: &str| -> Result<usize> {
            let path = out.join(file);
            Ok(std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .lines()
                .filter(|l| !l.trim().is_empty())
                .count())
        };
        Ok(Self {
            caught: lines("caught.txt")?,
            missed: lines("missed.txt")?,
            timeout: lines("timeout.txt")?,
            unviable: lines("unviable.txt")?,
        })
    }

    /// Caught (a timeout counts: the mutant did not pass) over viable.
    fn share(self) -> f64 {
        let viable = self.caught + self.missed + self.timeout;
        if viable == 0 {
            0.0
        } else {
            (self.caught + self.timeout) as f64 / viable as f64
        }
    }
}

fn ensure_installed(install: bool) -> Result<()> {
    let version = Command::new("cargo")
        .args(["mutants", "--version"])
        .output();
    if version.is_ok_and(|o| o.status.success()) {
        return Ok(());
    }
    if !install {
        bail!("cargo-mutants is missing (run without --no-install)");
    }
    let status = Command::new("cargo")
        .args([
            "install",
            "cargo-mutants",
            "--version",
            CARGO_MUTANTS,
            "--locked",
        ])
        .status()
        .context("cargo install cargo-mutants")?;
    if !status.success() {
        bail!("cannot install cargo-mutants {CARGO_MUTANTS}");
    }
    Ok(())
}

/// Runs every [`RUNS`] entry (or only the one whose `dir` is `only`); false when the goal is
/// missed.
pub(crate) fn run(root: &Path, install: bool, only: Option<&str>) -> Result<bool> {
    ensure_installed(install)?;
    let mut ok = true;
    let mut total = Counts::default();
    for r in RUNS.iter().filter(|r| only.is_none_or(|o| o == r.dir)) {
        let out = root.join("target/mutants").join(r.dir);
        std::fs::create_dir_all(&out)?;
        println!("\nxtask: ==> cargo mutants: {}", r.name);
        // cargo-mutants exits non-zero when a mutant survives; the lists say what happened.
        let status = Command::new("cargo")
            .args(["mutants", "--no-shuffle", "-j", "1", "--output"])
            .arg(&out)
            .args(r.args)
            .current_dir(root)
            .status()
            .context("running cargo mutants")?;
        let counts = Counts::read(&out.join("mutants.out")).with_context(|| {
            format!(
                "cargo mutants ({}) wrote no results (exit {status})",
                r.name
            )
        })?;
        print_counts(r.name, counts);
        let missed = std::fs::read_to_string(out.join("mutants.out/missed.txt"))?;
        for line in missed.lines().filter(|l| !l.trim().is_empty()) {
            println!("  missed: {line}");
        }
        ok &= counts.share() >= GOAL;
        total.caught += counts.caught;
        total.missed += counts.missed;
        total.timeout += counts.timeout;
        total.unviable += counts.unviable;
    }
    print_counts("all", total);
    Ok(ok)
}

fn print_counts(name: &str, c: Counts) {
    println!(
        "xtask: mutants, {name}: {} caught, {} missed, {} timed out, {} unviable: {:.1}% of viable caught (goal {:.0}%)",
        c.caught,
        c.missed,
        c.timeout,
        c.unviable,
        c.share() * 100.0,
        GOAL * 100.0
    );
}
