//! `cargo xtask package`: the npm package as its users get it, built the one way the tests, the
//! demo and the bench build it.
//!
//! `wasm-pack build --release` for `--target web` (`crates/grafx-wasm/pkg`, the npm package) and
//! `--target bundler` (`pkg-bundler`), with rustc's `opt-level = "z"` for the whole wasm (its
//! dependencies too; the servers keep the release profile's opt-level 3); then the `.wasm`'s
//! imports from its glue renamed to short names in both (`import_names.rs`); then its JavaScript
//! minified by esbuild (whitespace and syntax; the crate's own modules also get short local
//! names, while the generated glue keeps its names so `GraFxClient.name` reads as written); and
//! the package manifest completed. The `.d.ts` keeps every doc comment. A plain `wasm-pack
//! build` does none of this and gives a larger package (issue #28).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::bootstrap::Toolchain;

/// The builds: wasm-pack's target and its output directory under `crates/grafx-wasm`.
pub(crate) const TARGETS: [(&str, &str); 2] = [("web", "pkg"), ("bundler", "pkg-bundler")];

/// The cargo features of the npm build (and of the Chromium suites, which test what ships).
pub(crate) const FEATURES: &str = "small-allocator";

/// The wasm-pack command for `target` into `crates/grafx-wasm/{out}`.
fn wasm_pack(root: &Path, toolchain: &Toolchain, target: &str, out: &str) -> Command {
    let mut c = Command::new("wasm-pack");
    c.args(["build", "--release", "--target", target])
        .args([
            "--mode",
            "no-install",
            "--out-dir",
            out,
            "crates/grafx-wasm",
            "--",
            "--features",
            FEATURES,
        ])
        .current_dir(root)
        .env("PATH", &toolchain.path)
        // Size for the whole wasm; the servers keep the release profile's opt-level 3.
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "z");
    c
}

/// Builds the package for `target` into `crates/grafx-wasm/{out}`: wasm-pack, then the `.wasm`'s
/// glue imports renamed (`import_names.rs`), then every JavaScript file of it minified in place.
pub(crate) fn build(root: &Path, toolchain: &Toolchain, target: &str, out: &str) -> Result<()> {
    println!("xtask: ==> wasm-pack build --target {target} (into crates/grafx-wasm/{out})");
    // wasm-pack leaves the snippets of earlier builds: a JS module the crate no longer has would
    // ship, and count in the size.
    let snippets = root.join("crates/grafx-wasm").join(out).join("snippets");
    if snippets.exists() {
        std::fs::remove_dir_all(&snippets)
            .with_context(|| format!("removing {}", snippets.display()))?;
    }
    let status = wasm_pack(root, toolchain, target, out)
        .status()
        .context("running wasm-pack")?;
    if !status.success() {
        bail!("wasm-pack build --target {target} failed");
    }
    let pkg = root.join("crates/grafx-wasm").join(out);
    let renamed = crate::import_names::shorten(&pkg, "grafx_wasm_bg.wasm")?;
    println!("xtask: {renamed} wasm imports renamed to short names");
    minify(root, toolchain, &pkg)
}

/// Whether `file` of the package at `pkg` is one of the crate's own JS modules, which
/// wasm-bindgen copies under `snippets/` (the rest is the generated glue).
pub(crate) fn is_snippet(pkg: &Path, file: &Path) -> bool {
    file.strip_prefix(pkg)
        .is_ok_and(|f| f.starts_with("snippets"))
}

/// The package's JavaScript files: its own and wasm-bindgen's snippets.
pub(crate) fn javascript_files(pkg: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![pkg.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "js") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Minifies each JavaScript file of `pkg` in place with the esbuild that `npm ci` installs (a
/// transform per file: imports and exports stay as they are, for browsers and bundlers alike).
/// The crate's own modules (`snippets/`) get short local names too (exports keep theirs); the
/// generated glue keeps its names, so `GraFxClient.name` reads as written.
fn minify(root: &Path, toolchain: &Toolchain, pkg: &Path) -> Result<()> {
    let esbuild = root.join("node_modules/.bin/esbuild");
    for file in javascript_files(pkg)? {
        let status = Command::new(&esbuild)
            .arg(&file)
            .args(is_snippet(pkg, &file).then_some("--minify-identifiers"))
            .args([
                "--minify-whitespace",
                "--minify-syntax",
                "--format=esm",
                "--target=es2022",
                "--charset=utf8",
                "--log-level=warning",
                // wasm-bindgen names the snippet module once per import in its imports object.
                "--log-override:duplicate-object-key=silent",
                "--allow-overwrite",
            ])
            .arg(format!("--outfile={}", file.display()))
            .env("PATH", &toolchain.path)
            .status()
            .with_context(|| format!("running {}", esbuild.display()))?;
        if !status.success() {
            bail!("esbuild could not minify {}", file.display());
        }
    }
    Ok(())
}

/// The length of `bytes` gzipped with `gzip -9`: how every package size here is counted.
pub(crate) fn gzip_len(bytes: &[u8]) -> Result<u64> {
    let mut child = Command::new("gzip")
        .arg("-9c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running gzip")?;
    std::io::Write::write_all(&mut child.stdin.take().context("gzip's stdin")?, bytes)?;
    Ok(child.wait_with_output()?.stdout.len() as u64)
}

/// gzip -9 of the web package's `.wasm` and its JavaScript, as the size target counts it: the
/// `.wasm`, the glue, then the crate's own modules in path order.
pub(crate) fn gzip_size(root: &Path) -> Option<u64> {
    let pkg = root.join("crates/grafx-wasm/pkg");
    let mut files = vec![pkg.join("grafx_wasm_bg.wasm"), pkg.join("grafx_wasm.js")];
    files.extend(
        javascript_files(&pkg)
            .ok()?
            .into_iter()
            .filter(|f| is_snippet(&pkg, f)),
    );
    let mut bytes = Vec::new();
    for file in files {
        bytes.extend(std::fs::read(file).ok()?);
    }
    gzip_len(&bytes).ok()
}

/// `cargo xtask package`: both builds and the manifest; prints the package's gzip size.
pub(crate) fn run(root: &Path, install: bool) -> Result<bool> {
    let toolchain = crate::bootstrap::ensure(root, install)?;
    for (target, out) in TARGETS {
        build(root, &toolchain, target, out)?;
    }
    finish_package_json(&root.join("crates/grafx-wasm/pkg"))?;
    println!(
        "xtask: the npm package is crates/grafx-wasm/pkg (`npm pack` there); gzip -9 of .wasm + JS: {} bytes",
        gzip_size(root).map_or("unknown".into(), |n| n.to_string())
    );
    Ok(true)
}

/// Names `file` in the manifest's `files`, so `npm pack` takes it.
fn list_in_files(manifest: &mut serde_json::Value, file: &str) {
    if let Some(files) = manifest["files"].as_array_mut() {
        if !files.iter().any(|f| f == file) {
            files.push(serde_json::json!(file));
        }
    }
}

/// Ships `file`, already written into `pkg`, in the npm package (its manifest's `files`).
pub(crate) fn ship_in_npm_package(pkg: &Path, file: &str) -> Result<()> {
    let path = pkg.join("package.json");
    let mut manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    list_in_files(&mut manifest, file);
    std::fs::write(&path, serde_json::to_string_pretty(&manifest)? + "\n")?;
    Ok(())
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
        list_in_files(&mut manifest, license);
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
