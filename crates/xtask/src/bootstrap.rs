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

/// One thing the steps need: what it is, whether it is already here, and how to install it.
struct Requirement {
    what: String,
    present: bool,
    install: Box<dyn Fn() -> Result<()>>,
}

/// Where the installers run: the repository and the PATH the steps will use.
#[derive(Clone)]
struct Installer {
    root: PathBuf,
    path: OsString,
}

impl Installer {
    fn requirement(
        &self,
        what: impl Into<String>,
        present: bool,
        cmd: &'static str,
        args: &[&str],
    ) -> Requirement {
        let (this, args) = (
            self.clone(),
            args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
        );
        Requirement {
            what: what.into(),
            present,
            install: Box::new(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run(cmd, &args, &this.root, &this.path)
            }),
        }
    }

    fn debian(
        &self,
        what: impl Into<String>,
        present: bool,
        packages: &'static [&'static str],
    ) -> Requirement {
        let this = self.clone();
        Requirement {
            what: what.into(),
            present,
            install: Box::new(move || apt_install(packages, &this.root, &this.path)),
        }
    }
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
    let installer = Installer {
        root: root.to_owned(),
        path: path.clone(),
    };
    let mut requirements = rust_requirements(&installer);
    requirements.extend(wasm_requirements(&installer)?);
    requirements.extend(debian_requirements(&installer));
    requirements.push(installer.requirement(
        "npm dev tools (npm ci)",
        !npm_ci_needed(root),
        "npm",
        &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
    ));
    let mut missing = Vec::new();
    for r in requirements.into_iter().filter(|r| !r.present) {
        if install {
            println!("xtask: installing {}", r.what);
            (r.install)()?;
        } else {
            missing.push(r.what);
        }
    }
    if !missing.is_empty() {
        bail!(
            "missing: {} (run without --no-install to install them)",
            missing.join(", ")
        );
    }
    Ok(Toolchain { path })
}

/// The Rust targets (wasm32, musl) and components (rustfmt, clippy).
fn rust_requirements(i: &Installer) -> Vec<Requirement> {
    let targets = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    let has_target = |name: &str| targets.lines().any(|t| t.trim() == name);
    let musl = crate::dist::MUSL;
    vec![
        i.requirement(
            "the wasm32-unknown-unknown target",
            has_target("wasm32-unknown-unknown"),
            "rustup",
            &["target", "add", "wasm32-unknown-unknown"],
        ),
        i.requirement(
            format!("the {musl} target (the static signer)"),
            has_target(musl),
            "rustup",
            &["target", "add", musl],
        ),
        i.requirement(
            "rustfmt and clippy",
            output("cargo", &["fmt", "--version"]).is_some()
                && output("cargo", &["clippy", "--version"]).is_some(),
            "rustup",
            &["component", "add", "rustfmt", "clippy"],
        ),
    ]
}

/// wasm-pack at its pin, and wasm-bindgen-cli at Cargo.lock's wasm-bindgen (not `--locked`: the
/// CLI's lockfile pins a crate version this registry lacks).
fn wasm_requirements(i: &Installer) -> Result<Vec<Requirement>> {
    let wasm_pack = output("wasm-pack", &["--version"]).unwrap_or_default();
    let bindgen = locked_wasm_bindgen_version(&i.root)?;
    let found = output("wasm-bindgen", &["--version"]).unwrap_or_default();
    let runner = output("wasm-bindgen-test-runner", &["--version"]).unwrap_or_default();
    let exact = format!("={bindgen}");
    Ok(vec![
        i.requirement(
            format!("wasm-pack {WASM_PACK_VERSION} (found `{wasm_pack}`)"),
            wasm_pack == format!("wasm-pack {WASM_PACK_VERSION}"),
            "cargo",
            &[
                "install",
                "wasm-pack",
                "--version",
                WASM_PACK_VERSION,
                "--locked",
                "--force",
            ],
        ),
        i.requirement(
            format!("wasm-bindgen-cli {bindgen} (found `{found}`)"),
            found == format!("wasm-bindgen {bindgen}") && runner.ends_with(&bindgen),
            "cargo",
            &[
                "install",
                "wasm-bindgen-cli",
                "--version",
                &exact,
                "--force",
            ],
        ),
    ])
}

/// Debian's packages: musl-tools, Chromium and its driver, curl, redis-server and openssl, Node.
fn debian_requirements(i: &Installer) -> Vec<Requirement> {
    let exists = |p: &str| Path::new(p).exists();
    vec![
        i.debian(
            "musl-tools (Debian package: musl-gcc, for the static signer's C parts)",
            exists(MUSL_GCC),
            &["musl-tools"],
        ),
        i.debian(
            "Chromium and ChromeDriver (Debian packages)",
            exists(CHROMIUM) && exists(CHROMEDRIVER),
            &["chromium", "chromium-driver"],
        ),
        i.debian(
            "curl (Debian package, for the README's emulator example)",
            exists("/usr/bin/curl"),
            &["curl"],
        ),
        i.debian(
            "redis-server and openssl (Debian packages, for the shared-store tests and the TLS certificates of those and of the empty-root check)",
            exists(REDIS_SERVER) && exists("/usr/bin/openssl"),
            &["redis-server", "openssl"],
        ),
        i.debian(
            "Node.js and npm (Debian packages)",
            output("node", &["--version"]).is_some() && output("npm", &["--version"]).is_some(),
            &["nodejs", "npm"],
        ),
    ]
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
