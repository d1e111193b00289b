//! The browser suites and their fixtures agree: every integration a suite names is one the stack
//! creates (`FIXTURE_INTEGRATIONS`), and every JS browser test has its Rust runner.
#![allow(clippy::unwrap_used)]

use grafx_testkit::is_fixture;

/// The integration names a suite file passes: `integration: "x"`, `client("x")` and
/// `Some("x".into())` next to `integration:`.
fn names_in(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for marker in ["integration: \"", "client(\"", "integration: Some(\""] {
        for (i, _) in text.match_indices(marker) {
            let rest = &text[i + marker.len()..];
            if let Some(end) = rest.find('"') {
                names.push(rest[..end].to_owned());
            }
        }
    }
    names
}

#[test]
fn the_suites_name_only_declared_integrations() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafx-wasm/tests");
    let mut seen = 0;
    for file in ["client_tests.js", "browser.rs"] {
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("reading the suite {file}: {e}"));
        // Names no integration can have (`a/b`) are the option checks' invalid inputs.
        let valid = |n: &String| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        };
        for name in names_in(&text).into_iter().filter(valid) {
            assert!(
                is_fixture(&name),
                "{file} names integration `{name}`, which FIXTURE_INTEGRATIONS does not declare"
            );
            seen += 1;
        }
    }
    assert!(seen > 20, "the suites were read ({seen} names)");
    // The fault matrix's names are built in a loop: `matrix-${i++}` up to the declared count.
    assert!(is_fixture("matrix-15") && !is_fixture("matrix-16") && !is_fixture("nope"));
}

/// The test names of `client_tests.js`'s `tests` object (`  async name(…) {`).
fn js_tests(text: &str) -> std::collections::BTreeSet<String> {
    let start = text.find("const tests = {").expect("the tests object");
    text[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with('}'))
        .filter_map(|l| l.strip_prefix("  async "))
        .map(|l| l.split('(').next().unwrap_or_default().trim().to_owned())
        .collect()
}

/// The names `browser.rs` runs through `js_tests!(…)`.
fn rust_runners(text: &str) -> std::collections::BTreeSet<String> {
    let start = text.find("js_tests!(\n").expect("the js_tests! list");
    let list = &text[start + "js_tests!(".len()..];
    let end = list.find(");").expect("the list's end");
    list[..end]
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_js_browser_test_runs_and_every_runner_has_its_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafx-wasm/tests");
    let js = js_tests(&std::fs::read_to_string(dir.join("client_tests.js")).unwrap());
    let rust = rust_runners(&std::fs::read_to_string(dir.join("browser.rs")).unwrap());
    assert!(js.len() > 30, "the JS suite was read: {js:?}");
    let missing: Vec<_> = js.difference(&rust).collect();
    let stale: Vec<_> = rust.difference(&js).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "client_tests.js tests not in browser.rs's js_tests!: {missing:?}; runners without a test: {stale:?}"
    );
}

#[tokio::test]
async fn the_fixture_config_creates_exactly_the_declared_integrations() {
    let em = grafx_emulator::start(Default::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let config = grafx_testkit::fixture_config(em.emulator(), "http://127.0.0.1:9").unwrap();
    let mut expected: Vec<String> = grafx_testkit::FIXTURE_INTEGRATIONS
        .iter()
        .map(|n| (*n).to_owned())
        .chain(["default".to_owned()])
        .chain((0..grafx_testkit::FAULT_MATRIX_INTEGRATIONS).map(|i| format!("matrix-{i}")))
        .collect();
    expected.sort();
    let created: Vec<String> = config.integrations.keys().cloned().collect();
    assert_eq!(created, expected);
    // The proxied integrations keep their token on the server; the others hand out read-only ones.
    for (name, i) in &config.integrations {
        let proxied = name == "proxied" || name == "quota";
        assert_eq!(i.proxy.is_some(), proxied, "{name}");
        assert_eq!(
            i.allowed_origins == grafx_signer::OriginPolicy::ServerSideOnly,
            proxied,
            "{name}"
        );
    }
    em.stop().await;
}
