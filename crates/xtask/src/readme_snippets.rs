//! The READMEs' JavaScript snippets (the project's and the npm package's) as TypeScript modules, for `tsc --noEmit` in strict mode: a
//! snippet that stops compiling against the package's `.d.ts` fails `cargo xtask test`.
//!
//! ```ignore
//! let tsconfig = readme_snippets::write(root)?; // target/readme-snippets/tsconfig.json
//! ```
//!
//! Each ```` ```js ```` block becomes its own module. A snippet uses names the prose defines
//! (`grafx`, `signal`, `projectId`…): each is declared with its type in [`FREE_NAMES`], and only
//! where the snippet uses it and does not declare it itself.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// What the package exports that snippets use without importing it.
const PACKAGE_NAMES: [&str; 3] = ["init", "GraFxClient", "isGraFxError"];

/// The names the README's prose gives the snippets, and their types.
const FREE_NAMES: [(&str, &str); 12] = [
    ("grafx", "GraFxClient"),
    ("writer", "ReturnType<GraFxClient[\"via\"]>"),
    ("signal", "AbortSignal"),
    ("id", "string"),
    ("templateId", "string"),
    ("projectId", "string"),
    ("projectName", "string"),
    (
        "onProgress",
        "(p: import(\"grafx-wasm\").TaskProgress) => void",
    ),
    ("progressBar", "{ update(ms: number): void }"),
    ("sdk", "import(\"@chili-publish/studio-sdk\").default"),
    ("auth", "{ getAccessTokenSilently(): Promise<string> }"),
    (
        "StudioUI",
        "{ studioUILoaderConfig(config: import(\"grafx-wasm\").StudioUILoaderConfig): unknown }",
    ),
];

/// The fenced blocks of `markdown` in `lang`, with the line each starts on.
pub(crate) fn blocks(markdown: &str, lang: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (n, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(tag)) if tag.trim() == lang => open = Some((n + 1, String::new())),
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some((_, text)), None) => {
                text.push_str(line);
                text.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// Whether `code` uses `name` as a whole word (not as a property after a dot).
fn uses(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + name.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        !word(before) && !word(after) && before != Some('.')
    })
}

/// Whether `code` declares `name` itself (`const`, `let`, a destructuring, or an import).
fn declares(code: &str, name: &str) -> bool {
    code.lines().any(|l| {
        let l = l.trim_start();
        let binding = ["const ", "let ", "import "]
            .iter()
            .any(|k| l.starts_with(k));
        binding && uses(l.split('=').next().unwrap_or(l), name)
    })
}

/// The module for one snippet: declarations for what it uses and does not declare, then itself.
pub(crate) fn module(code: &str) -> String {
    let imports: Vec<&str> = PACKAGE_NAMES
        .iter()
        .copied()
        .filter(|n| uses(code, n) && !declares(code, n))
        .collect();
    let mut m = String::new();
    let named: Vec<&str> = imports.iter().copied().filter(|n| *n != "init").collect();
    let default = imports.contains(&"init");
    match (default, named.is_empty()) {
        (true, true) => m.push_str("import init from \"grafx-wasm\";\n"),
        (true, false) => {
            let _ = writeln!(
                m,
                "import init, {{ {} }} from \"grafx-wasm\";",
                named.join(", ")
            );
        }
        (false, false) => {
            let _ = writeln!(m, "import {{ {} }} from \"grafx-wasm\";", named.join(", "));
        }
        (false, true) => {}
    }
    let type_only = !code.contains("GraFxClient") || declares(code, "GraFxClient");
    if type_only && uses(code, "grafx") && !declares(code, "grafx") {
        m.push_str("import type { GraFxClient } from \"grafx-wasm\";\n");
    }
    for (name, ty) in FREE_NAMES {
        if !uses(code, name) || declares(code, name) {
            continue;
        }
        let _ = writeln!(m, "declare const {name}: {ty};");
    }
    if code.contains("import.meta.env") {
        // A Vite app's environment, as Vite's client types declare it.
        m.push_str(
            "declare global { interface ImportMeta { env: Record<string, string | undefined> } }\n",
        );
    }
    m.push_str("export {};\n");
    m.push_str(code);
    m
}

/// The READMEs whose snippets are compiled, and the prefix of their files.
const READMES: [(&str, &str); 2] = [
    ("README.md", "readme"),
    ("crates/grafx-wasm/README.md", "npm-readme"),
];

/// Writes every JavaScript snippet of [`READMES`] as `target/readme-snippets/{prefix}-L.ts` (L:
/// its line) with a tsconfig extending `tests/types`'s, and returns that tsconfig's path.
pub(crate) fn write(root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/readme-snippets");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut files = Vec::new();
    for (readme, prefix) in READMES {
        let text = std::fs::read_to_string(root.join(readme))
            .with_context(|| format!("reading {readme}"))?;
        let snippets = blocks(&text, "js");
        anyhow::ensure!(
            snippets.len() >= 3,
            "{readme} has {} js snippets; the extractor is broken",
            snippets.len()
        );
        for (line, code) in &snippets {
            let name = format!("{prefix}-{line}.ts");
            std::fs::write(dir.join(&name), module(code))?;
            files.push(format!("\"{name}\""));
        }
    }
    let tsconfig = dir.join("tsconfig.json");
    std::fs::write(
        &tsconfig,
        format!(
            "{{ \"extends\": \"../../tests/types/tsconfig.json\", \"files\": [{}] }}\n",
            files.join(", ")
        ),
    )?;
    Ok(tsconfig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_found_with_their_lines() {
        let md = "a\n```js\nx();\n```\n```sh\nls\n```\n```js\ny();\nz();\n```\n";
        assert_eq!(
            blocks(md, "js"),
            vec![(2, "x();\n".to_owned()), (8, "y();\nz();\n".to_owned())]
        );
    }

    #[test]
    fn a_snippet_gets_only_the_names_it_uses_and_lacks() {
        let m = module("const grafx = new GraFxClient({ signerUrl: \"/\" });\nawait grafx.fetch(id, { signal });\n");
        assert!(
            m.contains("import { GraFxClient } from \"grafx-wasm\";"),
            "{m}"
        );
        assert!(m.contains("declare const id: string;"), "{m}");
        assert!(m.contains("declare const signal: AbortSignal;"), "{m}");
        assert!(
            !m.contains("declare const grafx"),
            "declared by the snippet: {m}"
        );
        assert!(!m.contains("projectId"), "{m}");

        let m = module("await grafx.templates.list();\nx.id;\n");
        assert!(m.contains("declare const grafx: GraFxClient;"), "{m}");
        assert!(m.contains("import type { GraFxClient }"), "{m}");
        assert!(
            !m.contains("declare const id"),
            "a property is not a name: {m}"
        );

        let m = module("import init, { GraFxClient } from \"grafx-wasm\";\nawait init();\n");
        assert!(!m.contains("import init from"), "{m}");
        assert!(!m.contains("import { GraFxClient }"), "{m}");
    }
}
