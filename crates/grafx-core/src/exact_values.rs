//! Exact values of the small accessors and refusals, one assertion per behaviour a mutant of
//! `cargo xtask mutants` changed without another test noticing. Runs on the host and on wasm32.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::time::Duration;

use crate::{EnvironmentApiUrl, EnvironmentName, ExpiresIn, OutputFormat, Timestamp};

#[test]
fn names_display_as_given() {
    assert_eq!(
        EnvironmentName::new("acme-prod").unwrap().to_string(),
        "acme-prod"
    );
}

#[test]
fn each_url_flaw_is_refused_on_its_own() {
    for bad in [
        "https://acme.example/a b/",     // whitespace only
        "https://acme.example/a\u{7}b/", // a control character only
        "https://acme.example/a\\b/",    // a backslash only
        "https://acme.example/a?q",      // a query in the path
        "https://acme.example/a#f",      // a fragment in the path
        "https://acme.example?q",        // a query right after the host
        "https://acme.example#f",        // a fragment right after the host
        "http://[]/",                    // an empty IPv6 literal
        "https://acme.example:+1/",      // a signed port
        "https://acme.example:/",        // an empty port
    ] {
        assert!(EnvironmentApiUrl::parse(bad).is_err(), "{bad}");
    }
    assert!(EnvironmentApiUrl::parse("https://acme.example:8443/grafx/").is_ok());
    assert!(EnvironmentApiUrl::parse("http://[::1]:8080/").is_ok());
}

#[test]
fn timestamps_read_back_exactly() {
    let t = Timestamp::from_millis(1_234_567);
    assert_eq!(t.as_millis(), 1_234_567);
    assert_eq!(t.as_secs(), 1_234);
    assert_eq!(Timestamp::from_millis(999).as_secs(), 0);
    assert_eq!(Timestamp::from_js_millis(f64::INFINITY).as_millis(), 0);
    assert_eq!(Timestamp::from_js_millis(f64::NAN).as_millis(), 0);
    assert_eq!(Timestamp::from_js_millis(-5.0).as_millis(), 0);
    assert_eq!(Timestamp::from_js_millis(1_500.7).as_millis(), 1_500);
}

#[test]
fn output_formats_have_their_media_types() {
    assert_eq!(OutputFormat::Pdf.content_type(), "application/pdf");
    assert_eq!(OutputFormat::Png.content_type(), "image/png");
    assert_eq!(OutputFormat::Jpg.content_type(), "image/jpeg");
}

#[test]
fn a_lifetime_reads_back_exactly() {
    let d = Duration::from_secs(3600);
    assert_eq!(ExpiresIn::new(d).unwrap().duration(), d);
}
