//! `cargo xtask`: the project's task runner.
//!
//! - `cargo xtask test`: install whatever is missing on this machine (idempotent), then run every
//!   check and test suite, and finish with one line `N passed, N failed` over all of them.
//! - `cargo xtask bootstrap`: only the installation part.

mod bootstrap;
mod browser;
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
        Command::Test {
            no_install,
            no_browser,
        } => steps::test(&root, !no_install, !no_browser),
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
