//! Installing what the tests need on a fresh machine, and nothing when it is all there.
//!
//! Each tool is checked first (a version command, or a file) and installed only when missing or at
//! the wrong version, so a warm run spends a second here. The pins and pitfalls:
//! - wasm-pack 0.15.1, installed `--locked`;
//! - wasm-bindgen-cli at exactly the `wasm-bindgen` version in Cargo.lock, installed WITHOUT
//!   `--locked` (its own lockfile pins a crate the registry here lacks);
//! - Chromium and ChromeDriver from Debian (`chromium`, `chromium-driver`); browsers cannot be
//!   downloaded any other way here;
//! - the x86_64-unknown-linux-musl target and Debian's musl-tools, for the static signer;
//! - redis-server from Debian, started by the shared-store tests themselves on free ports;
//! - npm dev tools through `npm ci`, which puts `binaryen@132.0.0`'s `wasm-opt` first on PATH
//!   (Debian's binaryen 108 produces wasm that Chromium refuses to instantiate).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The pinned wasm-pack version.
const WASM_PACK_VERSION: &str = "0.15.1";
/// Where Debian puts the browser and its driver.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's ChromeDriver.
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Debian's musl C compiler wrapper, for the static (musl) signer's C dependencies.
const MUSL_GCC: &str = "/usr/bin/musl-gcc";

/// Debian's Redis server, which the shared-store tests start on a free port.
pub(crate) const REDIS_SERVER: &str = grafx_testkit::REDIS_SERVER;

/// What the test steps need from the bootstrap: the PATH to give child processes.
#[derive(Debug, Clone)]
pub(crate) struct Toolchain {
    pub(crate) path: OsString,
}

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn run(cmd: &str, args: &[&str], root: &Path, path: &OsString) -> Result<()> {
    println!("xtask: $ {cmd} {}", args.join(" "));
    let status = Command::new(cmd)
        .args(args)
        .current_dir(root)
        .env("PATH", path)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .with_context(|| format!("cannot start {cmd}"))?;
    if !status.success() {
        bail!("`{cmd} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}

/// The `wasm-bindgen` version pinned in Cargo.lock.
pub(crate) fn locked_wasm_bindgen_version(root: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
            {
                return Ok(v.trim_end_matches('"').to_owned());
            }
        }
    }
    bail!("Cargo.lock has no wasm-bindgen package")
}

/// Whether this process runs as root (apt without sudo; chroot without a user namespace).
pub(crate) fn is_root() -> bool {
    output("id", &["-u"]).as_deref() == Some("0")
}

fn apt_install(packages: &[&str], root: &Path, path: &OsString) -> Result<()> {
    let (cmd, prefix): (&str, Vec<&str>) = if is_root() {
        ("apt-get", vec![])
    } else {
        ("sudo", vec!["-n", "apt-get"])
    };
    let mut update = prefix.clone();
    update.extend_from_slice(&["update", "-qq"]);
    run(cmd, &update, root, path)?;
    let mut install = prefix;
    install.extend_from_slice(&["install", "-y", "-qq"]);
    install.extend_from_slice(packages);
    run(cmd, &install, root, path)
}

/// Checks every tool, installing what is missing when `install` is set.
pub(crate) fn ensure(root: &Path, install: bool) -> Result<Toolchain> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let mut dirs = vec![root.join("node_modules/.bin"), home.join(".cargo/bin")];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path = std::env::join_paths(dirs).context("building PATH")?;
    // Look tools up on the PATH the steps will use.
    std::env::set_var("PATH", &path);
    let mut missing = Vec::new();
    let mut need = |what: String, fix: &dyn Fn() -> Result<()>| -> Result<()> {
        if install {
            println!("xtask: installing {what}");
            fix()
        } else {
            missing.push(what);
            Ok(())
        }
    };

    let targets = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if !targets
        .lines()
        .any(|t| t.trim() == "wasm32-unknown-unknown")
    {
        need("the wasm32-unknown-unknown target".into(), &|| {
            run(
                "rustup",
                &["target", "add", "wasm32-unknown-unknown"],
                root,
                &path,
            )
        })?;
    }
    if !targets.lines().any(|t| t.trim() == crate::dist::MUSL) {
        need(
            format!("the {} target (the static signer)", crate::dist::MUSL),
            &|| run("rustup", &["target", "add", crate::dist::MUSL], root, &path),
        )?;
    }
    if !Path::new(MUSL_GCC).exists() {
        need(
            "musl-tools (Debian package: musl-gcc, for the static signer's C parts)".into(),
            &|| apt_install(&["musl-tools"], root, &path),
        )?;
    }
    if output("cargo", &["fmt", "--version"]).is_none()
        || output("cargo", &["clippy", "--version"]).is_none()
    {
        need("rustfmt and clippy".into(), &|| {
            run(
                "rustup",
                &["component", "add", "rustfmt", "clippy"],
                root,
                &path,
            )
        })?;
    }
    let wasm_pack = output("wasm-pack", &["--version"]).unwrap_or_default();
    if wasm_pack != format!("wasm-pack {WASM_PACK_VERSION}") {
        need(
            format!("wasm-pack {WASM_PACK_VERSION} (found `{wasm_pack}`)"),
            &|| {
                run(
                    "cargo",
                    &[
                        "install",
                        "wasm-pack",
                        "--version",
                        WASM_PACK_VERSION,
                        "--locked",
                        "--force",
                    ],
                    root,
                    &path,
                )
            },
        )?;
    }
    let bindgen = locked_wasm_bindgen_version(root)?;
    let found = output("wasm-bindgen", &["--version"]).unwrap_or_default();
    let runner = output("wasm-bindgen-test-runner", &["--version"]).unwrap_or_default();
    if found != format!("wasm-bindgen {bindgen}") || !runner.ends_with(&bindgen) {
        let exact = format!("={bindgen}");
        need(
            format!("wasm-bindgen-cli {bindgen} (found `{found}`)"),
            &|| {
                // Not --locked: the CLI's lockfile pins a crate version this registry lacks.
                run(
                    "cargo",
                    &[
                        "install",
                        "wasm-bindgen-cli",
                        "--version",
                        &exact,
                        "--force",
                    ],
                    root,
                    &path,
                )
            },
        )?;
    }
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        need(
            "Chromium and ChromeDriver (Debian packages)".into(),
            &|| apt_install(&["chromium", "chromium-driver"], root, &path),
        )?;
    }
    if !Path::new("/usr/bin/curl").exists() {
        need(
            "curl (Debian package, for the README's emulator example)".into(),
            &|| apt_install(&["curl"], root, &path),
        )?;
    }
    if !Path::new(REDIS_SERVER).exists() || !Path::new("/usr/bin/openssl").exists() {
        need(
            "redis-server and openssl (Debian packages, for the shared-store tests and the TLS certificates of those and of the empty-root check)".into(),
            &|| apt_install(&["redis-server", "openssl"], root, &path),
        )?;
    }
    if output("node", &["--version"]).is_none() || output("npm", &["--version"]).is_none() {
        need("Node.js and npm (Debian packages)".into(), &|| {
            apt_install(&["nodejs", "npm"], root, &path)
        })?;
    }
    if npm_ci_needed(root) {
        need("npm dev tools (npm ci)".into(), &|| {
            run(
                "npm",
                &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
                root,
                &path,
            )
        })?;
    }
    if !missing.is_empty() {
        bail!(
            "missing: {} (run without --no-install to install them)",
            missing.join(", ")
        );
    }
    Ok(Toolchain { path })
}

/// `npm ci` is needed when node_modules is absent or older than the lock file.
fn npm_ci_needed(root: &Path) -> bool {
    let lock = root.join("package-lock.json");
    let installed = root.join("node_modules/.package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(&lock), modified(&installed)) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(l), Some(i)) => l > i,
    }
}
