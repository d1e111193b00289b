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

/// The strings of a JSON array (none for anything else).
fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

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

/// Directories below a crate whose files are not built into it.
const NOT_SHIPPED: [&str; 6] = ["tests", "benches", "examples", "target", ".git", "fuzz"];

/// The license files of the crate in `dir`, at any depth (C sources a crate compiles in carry
/// their own: mimalloc's under `c_src/`, ring's under `third_party/`), sorted.
fn license_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    let mut todo = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = todo.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type()?;
            let in_licenses_dir = d.file_name().is_some_and(|n| n == "LICENSES");
            if kind.is_dir() && depth < 6 && !NOT_SHIPPED.contains(&name.as_str()) {
                todo.push((entry.path(), depth + 1));
            } else if kind.is_file() && (is_license_file(&name) || in_licenses_dir) {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

/// A crate that ships no license file: the standard text of its license, with its authors.
fn fallback_text(root: &Path, p: &Value) -> Result<String> {
    let license = p["license"].as_str().unwrap_or("");
    let authors: Vec<&str> = strings(&p["authors"]).collect();
    let holders = if authors.is_empty() {
        format!("the {} authors", p["name"].as_str().unwrap_or("?"))
    } else {
        authors.join(", ")
    };
    if license.contains("MIT") {
        let mit = std::fs::read_to_string(root.join("LICENSE-MIT"))?;
        // The standard MIT terms (from our own LICENSE-MIT), under this crate's holders.
        let terms = mit
            .find("Permission is hereby granted")
            .map(|at| &mit[at..])
            .context("LICENSE-MIT has no MIT terms")?;
        Ok(format!("MIT License\n\nCopyright (c) {holders}\n\n{terms}"))
    } else if license.contains("Apache-2.0") {
        Ok(std::fs::read_to_string(root.join("LICENSE-APACHE"))?)
    } else {
        bail!(
            "{} {} ships no license file and its license ({license}) has no standard text here",
            p["name"],
            p["version"]
        )
    }
}

/// What the toolchain links into a binary for `target`: Rust's standard library, and musl's libc
/// for a musl target.
fn toolchain_parts(target: &str) -> Result<Vec<(String, String)>> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
    let html =
        std::fs::read_to_string(Path::new(&sysroot).join("share/doc/rust/COPYRIGHT-library.html"))
            .context("the Rust toolchain's COPYRIGHT-library.html")?;
    let mut parts = vec![(
        "Rust's standard library (MIT OR Apache-2.0), with the notices of what it includes"
            .to_owned(),
        strip_tags(&html),
    )];
    if target.contains("musl") {
        let musl = std::fs::read_to_string("/usr/share/doc/musl/copyright")
            .context("musl's copyright (Debian package musl)")?;
        parts.push(("musl libc (MIT), linked statically".to_owned(), musl));
    }
    Ok(parts)
}

/// HTML as plain text: tags removed, entities for `<`, `>`, `&` and quotes decoded.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    lines
        .join("\n")
        .split("\n\n\n")
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Whether the package is only a procedural macro (run by the compiler, not linked).
fn is_proc_macro(p: &Value) -> bool {
    let targets = p["targets"].as_array().into_iter().flatten();
    let mut kinds = targets.flat_map(|t| t["kind"].as_array().into_iter().flatten());
    let mut any = false;
    let all = kinds.all(|k| {
        any = true;
        k == "proc-macro" || k == "custom-build"
    });
    any && all
}

/// License texts, each identical text once (most Apache-2.0 files are), numbered, with the
/// crates and toolchain parts that carry it.
#[derive(Default)]
struct Texts(Vec<(String, Vec<String>)>);

impl Texts {
    /// Adds `body` as a text of `user`; its number, from 1.
    fn add(&mut self, body: String, user: String) -> usize {
        let body = body.trim_end().to_owned();
        let n = match self.0.iter().position(|(t, _)| *t == body) {
            Some(n) => n,
            None => {
                self.0.push((body, Vec::new()));
                self.0.len() - 1
            }
        };
        self.0[n].1.push(user);
        n + 1
    }
}

/// The crates `package` links for `target` (not workspace members, not proc macros), sorted by
/// name and version.
fn shipped_crates<'m>(meta: &'m Value, package: &str) -> Result<Vec<&'m Value>> {
    let members: BTreeSet<&str> = strings(&meta["workspace_members"]).collect();
    let packages = meta["packages"].as_array().context("no packages")?;
    let start = packages
        .iter()
        .find(|p| p["name"] == package && members.contains(p["id"].as_str().unwrap_or("")))
        .and_then(|p| p["id"].as_str())
        .with_context(|| format!("{package} is not a workspace member"))?;
    let ids = linked(&meta["resolve"], start);
    let mut shipped: Vec<&Value> = packages
        .iter()
        .filter(|p| {
            let id = p["id"].as_str().unwrap_or("");
            ids.contains(id) && !members.contains(id) && !is_proc_macro(p)
        })
        .collect();
    shipped.sort_by_key(|p| (p["name"].as_str(), p["version"].as_str()));
    anyhow::ensure!(shipped.len() >= 10, "only {} crates found", shipped.len());
    Ok(shipped)
}

/// One crate's line of the listing, its texts added to `texts`: its license files, or the
/// standard text of its license when it ships none.
fn crate_entry(root: &Path, p: &Value, texts: &mut Texts) -> Result<String> {
    let name = format!(
        "{} {}",
        p["name"].as_str().unwrap_or("?"),
        p["version"].as_str().unwrap_or("?")
    );
    let license = p["license"].as_str().unwrap_or("see its license file");
    let dir = Path::new(p["manifest_path"].as_str().unwrap_or(""))
        .parent()
        .context("a manifest path")?;
    let mut refs = Vec::new();
    for file in license_files(dir)? {
        let body = std::fs::read_to_string(&file)
            .with_context(|| format!("{name}: reading {}", file.display()))?;
        let shown = file
            .strip_prefix(dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        refs.push(format!(
            "[{}]",
            texts.add(body, format!("{name} ({shown})"))
        ));
    }
    if refs.is_empty() {
        let body = fallback_text(root, p)?;
        refs.push(format!(
            "[{}] (the crate ships no license file: the standard text of its license)",
            texts.add(body, format!("{name} (standard {license} text)"))
        ));
    }
    Ok(format!(
        "- {name}: {license}; {}; texts {}\n",
        p["repository"].as_str().unwrap_or("no repository given"),
        refs.join(" ")
    ))
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
    let mut texts = Texts::default();
    let mut listing = String::new();
    for p in shipped_crates(&meta, package)? {
        listing += &crate_entry(root, p, &mut texts)?;
    }
    for (what, body) in toolchain_parts(target)? {
        let n = texts.add(body, what.clone());
        let _ = writeln!(listing, "- {what}; text [{n}]");
    }
    let mut text = format!(
        "Third-party software in {package} ({target}): the crates it links and what the Rust\n\
         toolchain links in, with their licenses. {package} itself is licensed under\n\
         MIT OR Apache-2.0 (LICENSE-MIT, LICENSE-APACHE).\n"
    );
    let _ = write!(text, "\nThe crates and toolchain parts:\n\n{listing}");
    for (n, (body, users)) in texts.0.iter().enumerate() {
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
