//! `cargo xtask fuzz`: each cargo-fuzz target (fuzz/) for a bounded time.
//!
//! Installs cargo-fuzz when missing. Uses the nightly toolchain when rustup has one, otherwise
//! stable with `RUSTC_BOOTSTRAP=1` (cargo-fuzz needs `-Z` flags for the sanitizer). New corpus
//! entries go to target/fuzz-corpus/<target> so the committed seeds in fuzz/corpus stay small;
//! crashes land in fuzz/artifacts/<target>/.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The targets' names: grafx-fuzz's list, which its `regressions` test holds equal to the bins of
/// fuzz/Cargo.toml and the files of fuzz/fuzz_targets/.
fn target_names() -> Vec<&'static str> {
    grafx_fuzz::TARGETS.iter().map(|(name, _)| *name).collect()
}

fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("nightly"))
        })
        .unwrap_or(false)
}

/// Runs `targets` (all when empty) for `secs` seconds each; false when one found a crash.
pub(crate) fn run(root: &Path, install: bool, secs: u64, targets: &[String]) -> Result<bool> {
    ensure_cargo_fuzz(install)?;
    let names = target_names();
    for t in targets {
        if !names.contains(&t.as_str()) {
            bail!("no fuzz target `{t}`; the targets are {}", names.join(", "));
        }
    }
    let chosen: Vec<&str> = if targets.is_empty() {
        names
    } else {
        targets.iter().map(String::as_str).collect()
    };
    let nightly = has_nightly();
    let mut crashed = Vec::new();
    for target in chosen {
        if !fuzz_one(root, target, secs, nightly)? {
            crashed.push(target);
        }
    }
    if crashed.is_empty() {
        println!("xtask: no crash in {secs} s per target");
    }
    Ok(crashed.is_empty())
}

/// cargo-fuzz at its pin, installed when missing (unless `install` is off).
fn ensure_cargo_fuzz(install: bool) -> Result<()> {
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    if !install {
        bail!("cargo-fuzz is missing (run without --no-install)");
    }
    let status = Command::new("cargo")
        .args(["install", "cargo-fuzz", "--version", "0.13.2", "--locked"])
        .status()
        .context("cargo install cargo-fuzz")?;
    if !status.success() {
        bail!("cannot install cargo-fuzz");
    }
    Ok(())
}

/// Builds and fuzzes `target` for `secs` seconds; false when it found a crash.
fn fuzz_one(root: &Path, target: &str, secs: u64, nightly: bool) -> Result<bool> {
    let scratch = root.join("target/fuzz-corpus").join(target);
    std::fs::create_dir_all(&scratch)?;
    let cargo = || {
        let mut cmd = Command::new("cargo");
        if nightly {
            cmd.arg("+nightly");
        } else {
            cmd.env("RUSTC_BOOTSTRAP", "1");
        }
        cmd.current_dir(root);
        cmd
    };
    // Build first, so a compile error is not mistaken for a crash.
    let built = cargo()
        .args(["fuzz", "build", target])
        .status()
        .context("cargo fuzz build")?;
    if !built.success() {
        bail!("cannot build the fuzz target {target}");
    }
    let mut cmd = cargo();
    cmd.args(["fuzz", "run", target])
        .arg(&scratch)
        .arg(root.join("fuzz/corpus").join(target))
        .args([
            "--",
            &format!("-max_total_time={secs}"),
            "-print_final_stats=1",
        ]);
    println!("xtask: fuzzing {target} for {secs} s");
    let status = cmd.status().context("cargo fuzz run")?;
    if !status.success() {
        println!(
            "xtask: {target} found a crash: see fuzz/artifacts/{target}/; after the fix copy it to fuzz/regressions/{target}/"
        );
    }
    Ok(status.success())
}
