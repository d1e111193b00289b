//! `cargo xtask package`: the npm package as its users get it, built the one way the tests, the
//! demo and the bench build it.
//!
//! `wasm-pack build --release` for `--target web` (`crates/grafx-wasm/pkg`, the npm package) and
//! `--target bundler` (`pkg-bundler`), with rustc's `opt-level = "z"` for the whole wasm (its
//! dependencies too; the servers keep the release profile's opt-level 3), then the package
//! manifest completed. A plain `wasm-pack build` gives a package about a third larger (issue #28).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Result};

use crate::bootstrap::Toolchain;

/// The builds: wasm-pack's target and its output directory under `crates/grafx-wasm`.
pub(crate) const TARGETS: [(&str, &str); 2] = [("web", "pkg"), ("bundler", "pkg-bundler")];

/// The wasm-pack command for `target` into `crates/grafx-wasm/{out}`.
pub(crate) fn wasm_pack(root: &Path, toolchain: &Toolchain, target: &str, out: &str) -> Command {
    let mut c = Command::new("wasm-pack");
    c.args(["build", "--release", "--target", target])
        .args([
            "--mode",
            "no-install",
            "--out-dir",
            out,
            "crates/grafx-wasm",
        ])
        .current_dir(root)
        .env("PATH", &toolchain.path)
        // Size for the whole wasm; the servers keep the release profile's opt-level 3.
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "z");
    c
}

/// `cargo xtask package`: both builds and the manifest; prints the package's gzip size.
pub(crate) fn run(root: &Path, install: bool) -> Result<bool> {
    let toolchain = crate::bootstrap::ensure(root, install)?;
    for (target, out) in TARGETS {
        println!("xtask: ==> wasm-pack build --target {target} (into crates/grafx-wasm/{out})");
        if !wasm_pack(root, &toolchain, target, out).status()?.success() {
            bail!("wasm-pack build --target {target} failed");
        }
    }
    let pkg = root.join("crates/grafx-wasm/pkg");
    finish_package_json(&pkg)?;
    let size = Command::new("sh")
        .arg("-c")
        .arg("cat grafx_wasm_bg.wasm grafx_wasm.js snippets/*/js/*.js | gzip -9 | wc -c")
        .current_dir(&pkg)
        .output()?;
    println!(
        "xtask: the npm package is crates/grafx-wasm/pkg (`npm pack` there); gzip -9 of .wasm + JS: {} bytes",
        String::from_utf8_lossy(&size.stdout).trim()
    );
    Ok(true)
}

/// Adds what wasm-pack leaves out of the package manifest: `exports` (import and types), and the
/// wasm file as an export so bundlers and import maps can address it.
pub(crate) fn finish_package_json(pkg: &Path) -> Result<()> {
    let path = pkg.join("package.json");
    let mut manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    manifest["exports"] = serde_json::json!({
        ".": { "types": "./grafx_wasm.d.ts", "import": "./grafx_wasm.js" },
        "./grafx_wasm_bg.wasm": "./grafx_wasm_bg.wasm",
        "./package.json": "./package.json",
    });
    manifest["sideEffects"] = serde_json::json!(["./snippets/*"]);
    // The licenses ship with the package (wasm-pack lists them only on some runs).
    for license in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let from = pkg.join("..").join(license);
        if !pkg.join(license).exists() {
            std::fs::copy(&from, pkg.join(license))?;
        }
        if let Some(files) = manifest["files"].as_array_mut() {
            if !files.iter().any(|f| f == license) {
                files.push(serde_json::json!(license));
            }
        }
    }
    // What the npm registry shows besides the README: where the code lives and where to report.
    manifest["repository"]["directory"] = serde_json::json!("crates/grafx-wasm");
    manifest["homepage"] = serde_json::json!(
        "https://github.com/grafx-signer/grafx-signer/tree/main/crates/grafx-wasm#readme"
    );
    manifest["bugs"] =
        serde_json::json!({ "url": "https://github.com/grafx-signer/grafx-signer/issues" });
    std::fs::write(&path, serde_json::to_string_pretty(&manifest)? + "\n")?;
    Ok(())
}
