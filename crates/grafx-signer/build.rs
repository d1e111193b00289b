//! Stamps the binary with the git commit it was built from, for `grafx-signer --version`:
//! `GRAFX_SIGNER_COMMIT` when set (a build from a source tarball), else `git rev-parse`, else
//! `unknown` (a crate built from crates.io has no repository).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=GRAFX_SIGNER_COMMIT");
    let commit = std::env::var("GRAFX_SIGNER_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    // A new commit rebuilds the stamp: HEAD, and the branch it points to.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
        println!("cargo:rerun-if-changed={dir}/packed-refs");
    }
    println!("cargo:rustc-env=GRAFX_SIGNER_COMMIT={commit}");
}
