//! `cargo xtask`: the project's task runner.
//!
//! - `cargo xtask test`: install whatever is missing on this machine (idempotent), then run every
//!   check and test suite, and finish with the gates (`gates: N passed, N failed`: fmt, clippy,
//!   builds) and one line `N passed, N failed` over every test.
//! - `cargo xtask demo`: the demo on the built-in emulator (or real CHILI with `--chili`).
//! - `cargo xtask bench`: benchmarks (`--check` fails on a missed target); `cargo xtask soak`:
//!   load and soak; `cargo xtask fuzz`: the fuzz targets for a bounded time; `cargo xtask mutants`:
//!   mutation testing of the pure modules.
//! - `cargo xtask package`: the npm package as users get it (`crates/grafx-wasm/pkg`).
//! - `cargo xtask bootstrap`: only the installation part.

mod bench;
mod bench_browser;
mod bench_upstream;
mod bootstrap;
mod demo;
mod dist;
mod empty_root;
mod fuzz;
mod import_names;
mod licenses;
mod mutants;
mod nginx;
mod package;
mod page_watch;
mod process_tree;
mod proxy_bench;
mod proxy_results;
mod readme_snippets;
mod results;
mod servers;
mod soak;
mod steps;
mod tally;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The project's task runner.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install what is missing, then run formatting, lints, unit, integration and browser tests.
    Test {
        /// Do not install anything; fail if a tool is missing.
        #[arg(long)]
        no_install: bool,
        /// Skip the headless-Chromium suites.
        #[arg(long)]
        no_browser: bool,
        /// Run only the steps whose name contains this text (e.g. `grafx-wasm in Chromium`,
        /// `end-to-end`), for a quick loop while working on one part.
        #[arg(long)]
        only: Option<String>,
    },
    /// Build grafx-wasm, start the emulator and the signer serving www/, print one URL, run until
    /// Ctrl-C.
    Demo {
        /// Where the signer (and the page) listens.
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: std::net::SocketAddr,
        /// Use real CHILI GraFx instead of the emulator, with credentials from the GRAFX_* variables.
        #[arg(long)]
        chili: bool,
        /// Do not install anything; fail if a tool is missing.
        #[arg(long)]
        no_install: bool,
    },
    /// Benchmarks, side by side in one run; writes target/bench/results.{md,json}.
    Bench {
        /// One short run of each part (a smoke test of the harness, not figures to quote).
        #[arg(long)]
        quick: bool,
        /// Exit non-zero when a target is missed (the targets table in BENCHMARKS.md).
        #[arg(long)]
        check: bool,
        /// Do not install anything; fail if a tool is missing.
        #[arg(long)]
        no_install: bool,
        /// Measure nothing: publish this full run's results.json (docs/bench-results.json and
        /// BENCHMARKS.md) again, after a change to how its figures are rendered.
        #[arg(long, value_name = "RESULTS_JSON")]
        publish: Option<std::path::PathBuf>,
    },
    /// Load (wrk, 64 connections) and soak (3-second tokens, hundreds of refreshes) against the
    /// release binaries; writes target/bench/soak.{md,json}.
    Soak {
        /// Seconds of load.
        #[arg(long, default_value_t = 60)]
        load_secs: u64,
        /// Seconds of soak.
        #[arg(long, default_value_t = 600)]
        soak_secs: u64,
        /// Do not install anything; fail if a tool is missing.
        #[arg(long)]
        no_install: bool,
    },
    /// Run the cargo-fuzz targets for a bounded time each.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        secs: u64,
        /// Targets to run (default: all).
        targets: Vec<String>,
        /// Do not install anything; fail if a tool is missing.
        #[arg(long)]
        no_install: bool,
    },
    /// Mutation testing (cargo-mutants) of grafx-core and the signer's pure modules; fails below
    /// 90% of viable mutants caught. Takes tens of minutes; not part of `test`.
    Mutants {
        /// Do not install anything; fail if cargo-mutants is missing.
        #[arg(long)]
        no_install: bool,
        /// Only this part: `core` or `signer`.
        #[arg(long, value_parser = ["core", "signer"])]
        only: Option<String>,
    },
    /// Build the npm package as users get it: `crates/grafx-wasm/pkg` (`--target web`) and
    /// `pkg-bundler` (`--target bundler`), with the size settings the tests measure.
    Package {
        /// Do not install anything; fail if a tool is missing.
        #[arg(long)]
        no_install: bool,
    },
    /// The release artifacts in `dist/`: the static signer and emulator for
    /// x86_64-unknown-linux-musl (each a .tar.gz with its licenses and a README), the npm
    /// package's tarball, and SHA256SUMS; after proving the signer static in an empty root and
    /// packaging the publishable crates.
    Dist {
        /// Do not install anything; fail if a tool is missing.
        #[arg(long)]
        no_install: bool,
    },
    /// Install the toolchain pieces the tests need (wasm32 target, wasm-pack, wasm-bindgen-cli,
    /// Chromium and ChromeDriver, npm dev tools).
    Bootstrap,
}

/// The workspace root (the parent of `crates/`).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map(PathBuf::from)
        .unwrap_or(manifest)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    let result = match cli.command {
        Command::Bootstrap => bootstrap::ensure(&root, true).map(|_| true),
        Command::Demo {
            listen,
            chili,
            no_install,
        } => demo::run(&root, !no_install, listen, chili),
        Command::Bench {
            publish: Some(results),
            ..
        } => bench::publish(&root, &results).map(|()| true),
        Command::Bench {
            quick,
            check,
            no_install,
            publish: None,
        } => bench::run(&root, !no_install, quick, check),
        Command::Soak {
            load_secs,
            soak_secs,
            no_install,
        } => soak::run(&root, !no_install, load_secs, soak_secs),
        Command::Fuzz {
            secs,
            targets,
            no_install,
        } => fuzz::run(&root, !no_install, secs, &targets),
        Command::Package { no_install } => package::run(&root, !no_install),
        Command::Dist { no_install } => dist::run_dist(&root, !no_install),
        Command::Mutants { no_install, only } => mutants::run(&root, !no_install, only.as_deref()),
        Command::Test {
            no_install,
            no_browser,
            only,
        } => steps::test(&root, !no_install, !no_browser, only.as_deref()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
