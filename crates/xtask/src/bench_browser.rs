//! `cargo xtask bench`, the browser: the package's size against auth0-spa-js, and the Chromium
//! figures of `tests/bench/browser.mjs` (`grafx.fetch` against raw `fetch`, wasm init, ten tabs).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::bootstrap::Toolchain;
use crate::results::*;

/// The package's gzip size beside auth0-spa-js 2.27's production bundle (the package built
/// already, into `crates/grafx-wasm/pkg`).
pub(crate) fn package_sizes(root: &Path, toolchain: &Toolchain) -> Result<Sizes> {
    // Measured as `cargo xtask test` measures it (the modules in one order: joined in directory
    // order, gzip gave 30 bytes more).
    let ours = crate::package::gzip_size(root).context(
        "measuring the package's gzip size (crates/grafx-wasm/pkg has no complete build)",
    )?;
    let dir = root.join("target/bench/auth0");
    std::fs::create_dir_all(&dir)?;
    let out = Command::new("npm")
        .args([
            "pack",
            "@auth0/auth0-spa-js@2.27.0",
            "--silent",
            "--pack-destination",
        ])
        .arg(&dir)
        .env("PATH", &toolchain.path)
        .output()?;
    let tgz = dir.join(String::from_utf8_lossy(&out.stdout).trim());
    let bundle = Command::new("tar")
        .arg("-xzOf")
        .arg(&tgz)
        .arg("package/dist/auth0-spa-js.production.js")
        .output()?
        .stdout;
    let auth0 = if bundle.is_empty() {
        None
    } else {
        Some(crate::package::gzip_len(&bundle)?)
    };
    Ok(Sizes {
        grafx_wasm_gzip: ours,
        auth0_spa_js_2_27_gzip: auth0,
        target: PACKAGE_TARGET_BYTES,
    })
}

/// Chromium figures from `tests/bench/browser.mjs` against the demo stack (the package built
/// already).
pub(crate) fn browser_bench(root: &Path, toolchain: &Toolchain, quick: bool) -> Result<Chromium> {
    let site = crate::demo::assemble_site(root)?;
    let demo = crate::demo::DemoStack::start(site, "127.0.0.1:0".parse()?, false)?;
    let out = Command::new("node")
        .arg(root.join("tests/bench/browser.mjs"))
        .env("DEMO_URL", &demo.url)
        .env("CALLS", if quick { "100" } else { "1000" })
        .env("CHROMIUM", crate::bootstrap::CHROMIUM)
        .env("PATH", &toolchain.path)
        .current_dir(root)
        .output()?;
    demo.stop();
    if !out.status.success() {
        bail!(
            "browser bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}
