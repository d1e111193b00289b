//! Shorter names for the package's wasm imports (issue #28).
//!
//! wasm-bindgen names each function the `.wasm` imports from its JavaScript glue
//! `__wbg_{name}_{16 hex digits}`, and every name is written twice: in the `.wasm`'s import
//! section and in the glue that defines it. The hex digits do not compress, so the names cost
//! about 4 KB of the gzip size. After wasm-pack, [`shorten`] renames every import of the glue
//! module to a short name (`_0`, `_1`, …, skipping any identifier the package's JavaScript
//! already uses) in both places:
//!
//! - the `.wasm`: only the import section is rewritten; every other byte is copied as it is;
//! - the JavaScript: whole identifiers only, in every `.js` file of the package (`--target web`
//!   defines the imports in `grafx_wasm.js`, `--target bundler` exports them from
//!   `grafx_wasm_bg.js`, which the `.wasm` imports by that path).
//!
//! It refuses rather than guesses: a `.wasm` with no import from the glue or with two import
//! sections, an import that the glue does not name or that a snippet names too, an import
//! encoding it does not know, or a rewritten `.wasm` that does not validate stops the build
//! before anything is written. (wasmparser is built without its `simd` feature: a `.wasm` with
//! SIMD would stop the build too, saying it does not validate.)
//!
//! ```text
//! (import "./grafx_wasm_bg.js" "__wbg_fetch_a9bc66c159c18e19" (func …))
//!   -> (import "./grafx_wasm_bg.js" "_0" (func …))
//! ```

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{bail, Context, Result};
use wasm_encoder::Encode;
use wasmparser::{BinaryReader, TypeRef};

/// The module name wasm-bindgen gives the imports its glue defines, for both targets.
pub(crate) const GLUE_MODULE: &str = "./grafx_wasm_bg.js";

/// The `.wasm` header: magic number and version 1.
const WASM_HEADER: [u8; 8] = *b"\0asm\x01\0\0\0";

/// The import section's id.
const IMPORT_SECTION: u8 = 2;

/// The `n`th short name: `_` and `n` in base 62 (`_0` … `_Z`, `_10`, …).
fn short_name(mut n: usize) -> String {
    const DIGITS: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut digits = Vec::new();
    loop {
        digits.push(DIGITS[n % 62]);
        n /= 62;
        if n == 0 {
            break;
        }
    }
    digits.push(b'_');
    digits.reverse();
    String::from_utf8(digits).expect("ASCII")
}

/// Whether `c` can be part of a JavaScript identifier (the ASCII ones wasm-bindgen writes).
fn is_identifier_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
}

/// Every identifier-like token of `js` (ASCII letters, digits, `_`, `$`).
fn identifiers(js: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = js.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() && !is_identifier_byte(bytes[at]) {
            at += 1;
        }
        let start = at;
        while at < bytes.len() && is_identifier_byte(bytes[at]) {
            at += 1;
        }
        (start < at).then(|| (start, &js[start..at]))
    })
}

/// `js` with every identifier in `names` replaced by its new name; counts each renaming in
/// `found`.
fn rename_identifiers(
    js: &str,
    names: &HashMap<String, String>,
    found: &mut HashMap<String, usize>,
) -> String {
    let mut out = String::with_capacity(js.len());
    let mut copied = 0;
    for (start, token) in identifiers(js) {
        if let Some(new) = names.get(token) {
            out.push_str(&js[copied..start]);
            out.push_str(new);
            copied = start + token.len();
            *found.entry(token.to_owned()).or_default() += 1;
        }
    }
    out.push_str(&js[copied..]);
    out
}

/// One import as the section holds it: its names and its descriptor's bytes, kept as they are.
struct Import<'a> {
    module: &'a str,
    name: &'a str,
    descriptor: &'a [u8],
}

/// The imports of an import section's contents.
fn read_imports(contents: &[u8]) -> Result<Vec<Import<'_>>> {
    let mut reader = BinaryReader::new(contents, 0);
    let count = reader.read_var_u32()?;
    let mut imports = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let module = reader.read_string()?;
        let name = reader.read_string()?;
        // The compact encodings (0x7F, 0x7E) begin with an empty name.
        if name.is_empty() && matches!(contents.get(reader.current_position()), Some(0x7E | 0x7F)) {
            bail!("the .wasm uses compact imports, which xtask cannot rename");
        }
        let start = reader.current_position();
        reader.read::<TypeRef>()?;
        let descriptor = &contents[start..reader.current_position()];
        imports.push(Import {
            module,
            name,
            descriptor,
        });
    }
    if !reader.eof() {
        bail!("the import section has bytes after its last import");
    }
    Ok(imports)
}

/// The import section's contents with each import of `module` renamed: the `n`th such import
/// gets the `n`th short name that `taken` does not hold. Returns the contents and the names
/// (old to new).
fn renamed_section(
    contents: &[u8],
    module: &str,
    taken: &BTreeSet<&str>,
) -> Result<(Vec<u8>, HashMap<String, String>)> {
    let imports = read_imports(contents)?;
    let mut free = (0..)
        .map(short_name)
        .filter(|n| !taken.contains(n.as_str()));
    let mut names = HashMap::new();
    let mut out = Vec::with_capacity(contents.len());
    (imports.len() as u32).encode(&mut out);
    for import in &imports {
        let name = if import.module == module {
            let new = free.next().expect("an endless sequence");
            if names.insert(import.name.to_owned(), new.clone()).is_some() {
                bail!("the .wasm imports {} twice", import.name);
            }
            new
        } else {
            import.name.to_owned()
        };
        import.module.encode(&mut out);
        name.as_str().encode(&mut out);
        out.extend_from_slice(import.descriptor);
    }
    Ok((out, names))
}

/// The `.wasm` with the imports of `module` renamed (see [`renamed_section`]); every section but
/// the import section is copied byte for byte.
pub(crate) fn rename_imports(
    wasm: &[u8],
    module: &str,
    taken: &BTreeSet<&str>,
) -> Result<(Vec<u8>, HashMap<String, String>)> {
    if !wasm.starts_with(&WASM_HEADER) {
        bail!("not a WebAssembly 1 module");
    }
    let mut out = WASM_HEADER.to_vec();
    let mut names = None;
    let mut reader = BinaryReader::new(&wasm[WASM_HEADER.len()..], WASM_HEADER.len());
    while !reader.eof() {
        let start = reader.original_position();
        let id = reader.read_u8()?;
        let size = reader.read_var_u32()? as usize;
        let contents = reader.read_bytes(size)?;
        if id == IMPORT_SECTION {
            if names.is_some() {
                bail!("the .wasm has two import sections");
            }
            let (section, renamed) = renamed_section(contents, module, taken)?;
            out.push(id);
            section.as_slice().encode(&mut out);
            names = Some(renamed);
        } else {
            out.extend_from_slice(&wasm[start..reader.original_position()]);
        }
    }
    Ok((out, names.unwrap_or_default()))
}

/// Renames the glue's imports in the package at `pkg`: its `.wasm` and its JavaScript (see the
/// module's header). Returns how many it renamed.
pub(crate) fn shorten(pkg: &Path, wasm_file: &str) -> Result<usize> {
    let wasm_path = pkg.join(wasm_file);
    let wasm =
        std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    let mut scripts = Vec::new();
    for path in crate::package::javascript_files(pkg)? {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        scripts.push((path, text));
    }
    let taken: BTreeSet<&str> = scripts
        .iter()
        .flat_map(|(_, text)| identifiers(text).map(|(_, token)| token))
        .collect();
    let (renamed_wasm, names) = rename_imports(&wasm, GLUE_MODULE, &taken)?;
    if names.is_empty() {
        bail!("the .wasm imports nothing from {GLUE_MODULE}: has wasm-bindgen renamed its glue module?");
    }
    wasmparser::Validator::new()
        .validate_all(&renamed_wasm)
        .context("the .wasm with renamed imports does not validate")?;
    let (mut in_glue, mut in_snippets) = (HashMap::new(), HashMap::new());
    let renamed_scripts: Vec<_> = scripts
        .iter()
        .map(|(path, text)| {
            let found = if crate::package::is_snippet(pkg, path) {
                &mut in_snippets
            } else {
                &mut in_glue
            };
            (path, rename_identifiers(text, &names, found))
        })
        .collect();
    let mut missing: Vec<_> = names.keys().filter(|n| !in_glue.contains_key(*n)).collect();
    missing.sort();
    if !missing.is_empty() {
        bail!(
            "{} imports the .wasm takes from {GLUE_MODULE} are not named in the package's glue, \
             so they cannot be renamed: {missing:?}",
            missing.len()
        );
    }
    let mut in_snippets: Vec<_> = in_snippets.into_keys().collect();
    in_snippets.sort();
    if !in_snippets.is_empty() {
        bail!("the package's own modules (snippets/) name imports of the glue, which only the glue should: {in_snippets:?}");
    }
    std::fs::write(&wasm_path, renamed_wasm)?;
    for (path, text) in renamed_scripts {
        std::fs::write(path, text)?;
    }
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, EntityType, ExportKind, ExportSection, Function, FunctionSection,
        ImportSection, MemoryType, Module, TypeSection, ValType,
    };

    /// A module that imports two functions from the glue, one from a snippet and a memory, and
    /// exports a function that calls the second import.
    fn module() -> Vec<u8> {
        let mut types = TypeSection::new();
        types.ty().function([ValType::I32], [ValType::I32]);
        let mut imports = ImportSection::new();
        imports.import(
            GLUE_MODULE,
            "__wbg_fetch_0123456789abcdef",
            EntityType::Function(0),
        );
        imports.import(
            "./snippets/x/browser.js",
            "withLock",
            EntityType::Function(0),
        );
        imports.import(
            GLUE_MODULE,
            "__wbg_now_fedcba9876543210",
            EntityType::Function(0),
        );
        let memory = MemoryType {
            minimum: 1,
            maximum: Some(3),
            memory64: false,
            shared: false,
            page_size_log2: None,
        };
        imports.import("env", "memory", EntityType::Memory(memory));
        let mut functions = FunctionSection::new();
        functions.function(0);
        let mut exports = ExportSection::new();
        exports.export("call_now", ExportKind::Func, 3);
        let mut code = CodeSection::new();
        let mut body = Function::new([]);
        body.instructions().local_get(0).call(2).end();
        code.function(&body);
        let mut module = Module::new();
        module
            .section(&types)
            .section(&imports)
            .section(&functions)
            .section(&exports)
            .section(&code);
        module.finish()
    }

    /// The imports of `wasm` as (module, name) pairs, read by wasmparser's own validator path.
    fn imports_of(wasm: &[u8]) -> Vec<(String, String)> {
        wasmparser::Validator::new()
            .validate_all(wasm)
            .expect("a valid module");
        let mut out = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            if let wasmparser::Payload::ImportSection(reader) = payload.unwrap() {
                for import in reader.into_imports() {
                    let import = import.unwrap();
                    out.push((import.module.to_owned(), import.name.to_owned()));
                }
            }
        }
        out
    }

    #[test]
    fn short_names_count_in_base_62_after_an_underscore() {
        assert_eq!(short_name(0), "_0");
        assert_eq!(short_name(9), "_9");
        assert_eq!(short_name(10), "_a");
        assert_eq!(short_name(61), "_Z");
        assert_eq!(short_name(62), "_10");
        assert_eq!(short_name(62 * 62 + 1), "_101");
    }

    #[test]
    fn only_the_glue_imports_are_renamed_and_the_module_stays_valid() {
        let wasm = module();
        let (renamed, names) = rename_imports(&wasm, GLUE_MODULE, &BTreeSet::new()).unwrap();
        assert_eq!(
            imports_of(&renamed),
            [
                (GLUE_MODULE, "_0"),
                ("./snippets/x/browser.js", "withLock"),
                (GLUE_MODULE, "_1"),
                ("env", "memory"),
            ]
            .map(|(m, n)| (m.to_owned(), n.to_owned()))
        );
        assert_eq!(names.len(), 2);
        assert_eq!(names["__wbg_fetch_0123456789abcdef"], "_0");
        assert_eq!(names["__wbg_now_fedcba9876543210"], "_1");
        // Everything after the import section is the same bytes: the code still calls import 2.
        let tail = |w: &[u8]| w[w.len() - 40..].to_vec();
        assert_eq!(tail(&renamed), tail(&wasm));
        assert!(renamed.len() < wasm.len());
    }

    #[test]
    fn names_the_javascript_already_uses_are_skipped() {
        let taken = BTreeSet::from(["_0", "_2"]);
        let (renamed, names) = rename_imports(&module(), GLUE_MODULE, &taken).unwrap();
        assert_eq!(names["__wbg_fetch_0123456789abcdef"], "_1");
        assert_eq!(names["__wbg_now_fedcba9876543210"], "_3");
        assert_eq!(imports_of(&renamed)[2].1, "_3");
    }

    #[test]
    fn a_module_without_imports_is_copied_as_it_is() {
        let wasm = Module::new().finish();
        let (renamed, names) = rename_imports(&wasm, GLUE_MODULE, &BTreeSet::new()).unwrap();
        assert_eq!(renamed, wasm);
        assert!(names.is_empty());
    }

    #[test]
    fn a_second_import_section_is_refused() {
        let mut imports = ImportSection::new();
        imports.import(
            GLUE_MODULE,
            "__wbg_a_0123456789abcdef",
            EntityType::Function(0),
        );
        let mut types = TypeSection::new();
        types.ty().function([], []);
        let mut module = Module::new();
        module.section(&types).section(&imports).section(&imports);
        let err = rename_imports(&module.finish(), GLUE_MODULE, &BTreeSet::new()).unwrap_err();
        assert!(err.to_string().contains("two import sections"), "{err}");
    }

    #[test]
    fn what_is_not_a_module_is_refused() {
        let err = rename_imports(b"\0asm\x0d\0\x01\0", GLUE_MODULE, &BTreeSet::new());
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("not a WebAssembly 1 module"));
        let mut truncated = module();
        truncated.truncate(truncated.len() - 3);
        assert!(rename_imports(&truncated, GLUE_MODULE, &BTreeSet::new()).is_err());
    }

    #[test]
    fn only_whole_identifiers_are_renamed() {
        let names = HashMap::from([("__wbg_a_1".to_owned(), "_0".to_owned())]);
        let mut found = HashMap::new();
        let js = "x.__wbg_a_1=function(){};__wbg_a_10();$__wbg_a_1;y[\"__wbg_a_1\"];__wbg_a_1";
        assert_eq!(
            rename_identifiers(js, &names, &mut found),
            "x._0=function(){};__wbg_a_10();$__wbg_a_1;y[\"_0\"];_0"
        );
        assert_eq!(found["__wbg_a_1"], 3);
    }

    #[test]
    fn the_package_is_renamed_in_the_wasm_and_every_script() {
        let dir = std::env::temp_dir().join(format!("xtask-import-names-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("snippets/x")).unwrap();
        std::fs::write(dir.join("m_bg.wasm"), module()).unwrap();
        let glue = "export function __wbg_fetch_0123456789abcdef(a){return _0}\n\
                    export function __wbg_now_fedcba9876543210(a){return a}\n";
        std::fs::write(dir.join("m_bg.js"), glue).unwrap();
        std::fs::write(dir.join("snippets/x/browser.js"), "export const _1 = 1;").unwrap();
        assert_eq!(shorten(&dir, "m_bg.wasm").unwrap(), 2);
        assert_eq!(
            std::fs::read_to_string(dir.join("m_bg.js")).unwrap(),
            "export function _2(a){return _0}\nexport function _3(a){return a}\n"
        );
        let names: Vec<_> = imports_of(&std::fs::read(dir.join("m_bg.wasm")).unwrap())
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(names, ["_2", "withLock", "_3", "memory"]);

        // An import the glue does not name stops the build, and nothing is written.
        std::fs::write(dir.join("m_bg.wasm"), module()).unwrap();
        std::fs::write(
            dir.join("m_bg.js"),
            "export function __wbg_fetch_0123456789abcdef(){}",
        )
        .unwrap();
        let err = shorten(&dir, "m_bg.wasm").unwrap_err().to_string();
        assert!(err.contains("__wbg_now_fedcba9876543210"), "{err}");
        assert_eq!(std::fs::read(dir.join("m_bg.wasm")).unwrap(), module());

        // Named by a second glue file, it is renamed there (`_1` is the snippet's, so `_2`).
        std::fs::write(dir.join("m.js"), "wasm.__wbg_now_fedcba9876543210").unwrap();
        assert_eq!(shorten(&dir, "m_bg.wasm").unwrap(), 2);
        assert_eq!(
            std::fs::read_to_string(dir.join("m.js")).unwrap(),
            "wasm._2"
        );
        std::fs::remove_file(dir.join("m.js")).unwrap();

        // A snippet that names an import stops the build.
        std::fs::write(dir.join("m_bg.wasm"), module()).unwrap();
        std::fs::write(dir.join("m_bg.js"), glue).unwrap();
        std::fs::write(
            dir.join("snippets/x/browser.js"),
            "__wbg_now_fedcba9876543210()",
        )
        .unwrap();
        let err = shorten(&dir, "m_bg.wasm").unwrap_err().to_string();
        assert!(err.contains("snippets"), "{err}");
        assert_eq!(std::fs::read_to_string(dir.join("m_bg.js")).unwrap(), glue);
        assert_eq!(std::fs::read(dir.join("m_bg.wasm")).unwrap(), module());

        // A .wasm that does not validate (its body calls function 9 of 4) stops it too.
        let mut broken = module();
        let end = broken.len();
        assert_eq!(
            broken[end - 3..],
            [0x10, 0x02, 0x0b],
            "the body ends `call 2; end`"
        );
        broken[end - 2] = 0x09;
        std::fs::write(dir.join("snippets/x/browser.js"), "").unwrap();
        std::fs::write(dir.join("m_bg.wasm"), &broken).unwrap();
        let err = format!("{:#}", shorten(&dir, "m_bg.wasm").unwrap_err());
        assert!(err.contains("does not validate"), "{err}");
        assert_eq!(std::fs::read(dir.join("m_bg.wasm")).unwrap(), broken);

        // A .wasm that imports nothing from the glue stops the build.
        std::fs::write(dir.join("m_bg.wasm"), Module::new().finish()).unwrap();
        let err = shorten(&dir, "m_bg.wasm").unwrap_err().to_string();
        assert!(err.contains("imports nothing"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
