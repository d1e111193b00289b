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
