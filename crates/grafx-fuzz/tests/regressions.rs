//! Replays every committed fuzz input, on stable and in CI: the seed corpus (`fuzz/corpus/`) and
//! each crash the fuzzer found (`fuzz/regressions/`, kept after the fix).
#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn every_committed_fuzz_input_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut replayed = 0;
    for (name, target) in grafx_fuzz::TARGETS {
        let mut seeds = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                {
                    continue;
                }
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "{} fails", path.display());
                seeds += 1;
            }
        }
        assert!(seeds > 0, "no corpus for {name}");
        replayed += seeds;
    }
    println!("replayed {replayed} fuzz inputs");
}

/// cargo-fuzz needs each target as a `[[bin]]` of fuzz/Cargo.toml with a file in
/// fuzz/fuzz_targets/; `grafx_fuzz::TARGETS` is the list everything else reads (the replay above,
/// `cargo xtask fuzz`). The three must name the same targets.
#[test]
fn the_cargo_fuzz_bins_are_the_targets_list() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut listed: Vec<&str> = grafx_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    listed.sort_unstable();
    let manifest: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let mut bins: Vec<(String, String)> = manifest["bin"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let field = |k: &str| b[k].as_str().unwrap().to_owned();
            (field("name"), field("path"))
        })
        .collect();
    bins.sort_unstable();
    let names: Vec<&str> = bins.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, listed, "fuzz/Cargo.toml's [[bin]] names");
    for (name, path) in &bins {
        assert_eq!(path, &format!("fuzz_targets/{name}.rs"));
    }
    let mut files: Vec<String> = std::fs::read_dir(root.join("fuzz_targets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort_unstable();
    let expected: Vec<String> = listed.iter().map(|n| format!("{n}.rs")).collect();
    assert_eq!(files, expected, "fuzz/fuzz_targets/");
}
