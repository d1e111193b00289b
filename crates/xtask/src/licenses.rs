//! `THIRD-PARTY-LICENSES.txt`: the license texts of every crate a shipped artifact links, as the
//! MIT, Apache-2.0, BSD and ISC licenses ask of a binary distribution.
//!
//! ```ignore
//! let text = licenses::third_party(root, "grafx-signer", "x86_64-unknown-linux-musl")?;
//! ```
//!
//! The crates are the normal (not dev, not build) dependencies of the package, resolved for the
//! target by `cargo metadata`; each one's license files are read from its source directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Whether a file name is a license or notice file.
fn is_license_file(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "LICENSE",
        "LICENCE",
        "COPYING",
        "NOTICE",
        "UNLICENSE",
        "COPYRIGHT",
    ]
    .iter()
    .any(|p| upper.starts_with(p))
}

/// The ids of the packages `start` links on `target`: itself and its normal dependencies.
fn linked(resolve: &Value, start: &str) -> BTreeSet<String> {
    let nodes: BTreeMap<&str, &Value> = resolve["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let mut seen = BTreeSet::new();
    let mut todo = vec![start.to_owned()];
    while let Some(id) = todo.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let deps = nodes.get(id.as_str()).and_then(|n| n["deps"].as_array());
        for dep in deps.into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null());
            if normal {
                todo.extend(dep["pkg"].as_str().map(str::to_owned));
            }
        }
    }
    seen
}

/// The third-party license file for `package` built for `target`.
pub(crate) fn third_party(root: &Path, package: &str, target: &str) -> Result<String> {
    let out = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", target])
        .current_dir(root)
        .output()
        .context("cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: Value = serde_json::from_slice(&out.stdout)?;
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let packages = meta["packages"].as_array().context("no packages")?;
    let start = packages
        .iter()
        .find(|p| p["name"] == package && members.contains(p["id"].as_str().unwrap_or("")))
        .and_then(|p| p["id"].as_str())
        .with_context(|| format!("{package} is not a workspace member"))?;
    let ids = linked(&meta["resolve"], start);
    let mut text = format!(
        "Third-party software in {package} ({target}): the crates it links, with their licenses.\n\
         {package} itself is licensed under MIT OR Apache-2.0 (LICENSE-MIT, LICENSE-APACHE).\n"
    );
    let mut shipped: Vec<&Value> = packages
        .iter()
        .filter(|p| {
            let id = p["id"].as_str().unwrap_or("");
            ids.contains(id) && !members.contains(id)
        })
        .collect();
    shipped.sort_by_key(|p| (p["name"].as_str(), p["version"].as_str()));
    anyhow::ensure!(shipped.len() >= 10, "only {} crates found", shipped.len());
    // Identical texts (most Apache-2.0 files are) are written once, numbered, and each crate
    // names the texts that are its own.
    let mut texts: Vec<(String, Vec<String>)> = Vec::new();
    let mut listing = String::new();
    for p in shipped {
        let name = format!(
            "{} {}",
            p["name"].as_str().unwrap_or("?"),
            p["version"].as_str().unwrap_or("?")
        );
        let license = p["license"].as_str().unwrap_or("see its license file");
        let dir = Path::new(p["manifest_path"].as_str().unwrap_or("")).parent();
        let mut files: Vec<_> = dir
            .and_then(|d| std::fs::read_dir(d).ok())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| is_license_file(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        files.sort();
        let mut refs = Vec::new();
        for file in files {
            let body = std::fs::read_to_string(&file).unwrap_or_default();
            let body = body.trim_end().to_owned();
            let n = match texts.iter().position(|(t, _)| *t == body) {
                Some(n) => n,
                None => {
                    texts.push((body, Vec::new()));
                    texts.len() - 1
                }
            };
            let shown = file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            texts[n].1.push(format!("{name} ({shown})"));
            refs.push(format!("[{}]", n + 1));
        }
        let refs = if refs.is_empty() {
            "the crate carries no license file".to_owned()
        } else {
            format!("texts {}", refs.join(" "))
        };
        let _ = writeln!(
            listing,
            "- {name}: {license}; {}; {refs}",
            p["repository"].as_str().unwrap_or("no repository given")
        );
    }
    let _ = write!(text, "\nThe crates:\n\n{listing}");
    for (n, (body, users)) in texts.iter().enumerate() {
        let _ = write!(
            text,
            "\n\n======== [{}] the license text of {} ========\n\n{body}\n",
            n + 1,
            users.join(", ")
        );
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_files_are_recognised() {
        for yes in [
            "LICENSE",
            "LICENSE-MIT",
            "license-apache",
            "COPYING",
            "NOTICE.md",
            "UNLICENSE",
        ] {
            assert!(is_license_file(yes), "{yes}");
        }
        for no in ["README.md", "Cargo.toml", "src"] {
            assert!(!is_license_file(no), "{no}");
        }
    }

    #[test]
    fn the_signers_file_names_what_it_links_and_nothing_it_does_not() {
        let text = third_party(
            &crate::workspace_root(),
            "grafx-signer",
            "x86_64-unknown-linux-musl",
        )
        .unwrap();
        for linked in [
            "- webpki-roots ",
            "- ring ",
            "- mimalloc ",
            "- libsqlite3-sys ",
        ] {
            assert!(text.contains(linked), "{linked}");
        }
        // The emulator's image encoder is a dev-dependency's: not in the binary.
        assert!(!text.contains("- jpeg-encoder "));
        assert!(
            !text.contains("- grafx-core "),
            "the project's own crates are not third-party"
        );
        assert!(text.contains("Apache License"));
        assert!(
            text.len() < 1_500_000,
            "identical texts written once: {} bytes",
            text.len()
        );
    }

    #[test]
    fn only_normal_dependencies_are_followed() {
        let resolve = serde_json::json!({ "nodes": [
            { "id": "app", "deps": [
                { "pkg": "lib", "dep_kinds": [{ "kind": null }] },
                { "pkg": "testonly", "dep_kinds": [{ "kind": "dev" }] },
                { "pkg": "buildonly", "dep_kinds": [{ "kind": "build" }] },
            ]},
            { "id": "lib", "deps": [{ "pkg": "leaf", "dep_kinds": [{ "kind": null }] }] },
            { "id": "leaf", "deps": [] },
        ]});
        let ids = linked(&resolve, "app");
        assert_eq!(
            ids.into_iter().collect::<Vec<_>>(),
            ["app", "leaf", "lib"].map(String::from)
        );
    }
}
