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
    // A new commit rebuilds the stamp: HEAD, the branch it points to, and packed refs. Only files
    // that exist are watched (cargo reruns a script that watches a missing file on every build).
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
    }
    watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten() {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rustc-env=GRAFX_SIGNER_COMMIT={commit}");
}
