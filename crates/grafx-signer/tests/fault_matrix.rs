//! The fault matrix (RELIABILITY.md): every upstream fault the emulator can inject, against the
//! real signer on loopback. For each fault:
//! 1. cold (nothing cached): the signer's status and code, with `Retry-After` where it applies;
//! 2. warm (a valid token inside the refresh leeway): the cached token is still served;
//! 3. once the fault clears: a fresh token, from cold and from warm;
//! 4. no panic anywhere in the signer or the emulator (a panic hook counts them).
//!
//! The browser half of the matrix (the GraFxError code each fault becomes) runs in Chromium:
//! `fault_matrix_in_the_browser` in crates/grafx-wasm/tests.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use common::*;
use grafx_emulator::{ClientSpec, Fault, FaultSpec, FaultTarget};

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts panics raised in library code (signer, core, emulator), not in test assertions.
fn count_library_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info
                .location()
                .is_some_and(|l| l.file().contains("/src/") && !l.file().contains("/tests/"))
            {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// What a fault does to the token endpoint.
enum Injected {
    Fault(Fault),
    /// The integration's credentials are deleted in GraFx (tokens already issued stay valid).
    CredentialsRevoked,
}

struct Case {
    name: &'static str,
    injected: Injected,
    status: u16,
    code: &'static str,
    retry_after: bool,
    /// How `grafx_signer_upstream_requests_total{outcome}` counts the fault.
    outcome: &'static str,
}

fn status(status: u16, retry_after: Option<u64>) -> Injected {
    Injected::Fault(Fault::Status {
        status,
        body: Some(r#"{"error":"server_error","error_description":"injected"}"#.into()),
        content_type: None,
        retry_after,
    })
}

fn reply(body: &str) -> Injected {
    Injected::Fault(Fault::Status {
        status: 200,
        body: Some(body.into()),
        content_type: None,
        retry_after: None,
    })
}

fn cases() -> Vec<Case> {
    let unavailable = |name, outcome, injected| Case {
        name,
        injected,
        status: 503,
        code: "upstream_unavailable",
        retry_after: true,
        outcome,
    };
    vec![
        unavailable("upstream_500", "unavailable", status(500, None)),
        unavailable("upstream_502", "unavailable", status(502, None)),
        unavailable("upstream_503", "unavailable", status(503, None)),
        unavailable(
            "upstream_429_retry_after",
            "rate_limited",
            status(429, Some(2)),
        ),
        unavailable(
            "upstream_timeout",
            "timeout",
            Injected::Fault(Fault::Delay { ms: 2500 }),
        ),
        unavailable("connection_reset", "network", Injected::Fault(Fault::Drop)),
        unavailable(
            "malformed_json",
            "invalid_reply",
            Injected::Fault(Fault::MalformedJson),
        ),
        unavailable(
            "html_error_page",
            "unavailable",
            Injected::Fault(Fault::Html { status: 502 }),
        ),
        unavailable(
            "wrong_token_type",
            "invalid_reply",
            reply(r#"{"access_token":"eyJ.a.b","token_type":"mac","expires_in":86400}"#),
        ),
        unavailable(
            "missing_expires_in",
            "invalid_reply",
            reply(r#"{"access_token":"eyJ.a.b","token_type":"Bearer"}"#),
        ),
        unavailable(
            "negative_expires_in",
            "invalid_reply",
            reply(r#"{"access_token":"eyJ.a.b","token_type":"Bearer","expires_in":-60}"#),
        ),
        unavailable(
            "huge_expires_in",
            "invalid_reply",
            reply(r#"{"access_token":"eyJ.a.b","token_type":"Bearer","expires_in":1e300}"#),
        ),
        Case {
            name: "credentials_revoked",
            injected: Injected::CredentialsRevoked,
            status: 502,
            code: "upstream_rejected",
            retry_after: false,
            outcome: "rejected",
        },
    ]
}

fn inject(h: &Harness, injected: &Injected) {
    match injected {
        Injected::Fault(f) => h
            .emulator
            .emulator()
            .arm_fault(FaultSpec {
                target: FaultTarget::Token,
                times: 100,
                fault: f.clone(),
            })
            .unwrap(),
        Injected::CredentialsRevoked => {
            assert!(h.emulator.emulator().remove_client("demo-reader"));
        }
    }
}

fn clear(h: &Harness, injected: &Injected) {
    h.emulator.emulator().clear_faults();
    if let Injected::CredentialsRevoked = injected {
        h.emulator.emulator().upsert_client(ClientSpec::new(
            "demo-reader",
            "demo-reader-secret",
            ClientSpec::read_scopes(),
        ));
    }
}

async fn alive(h: &Harness) {
    let res = http()
        .get(format!("{}/healthz", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the signer still answers");
}

/// The signer's refresh leeway (its default) and the emulator's token lifetime (CHILI's 24 h).
const LIFETIME: Duration = Duration::from_secs(86_400);
const LEEWAY: Duration = Duration::from_secs(300);

async fn run(case: &Case) {
    let h = harness(fast_settings(), false, |c| {
        c.upstream_timeout = Duration::from_secs(1);
        c.upstream_retries = 1;
    })
    .await;
    let name = case.name;

    // 1. Cold: nothing cached, so the fault reaches the browser as a typed error.
    inject(&h, &case.injected);
    let res = h.post("/token").send().await.unwrap();
    let retry_after = res.headers().get("retry-after").cloned();
    let (_, description) = error(res, case.status, case.code).await;
    assert!(
        !description.contains("demo-reader-secret"),
        "{name}: {description}"
    );
    assert_eq!(
        retry_after.is_some(),
        case.retry_after,
        "{name}: Retry-After"
    );
    if let Some(ra) = retry_after {
        let secs: u64 = ra.to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&secs), "{name}: Retry-After {secs}");
    }
    alive(&h).await;

    // 2. The fault clears: the next request gets a token (past any Retry-After and backoff).
    clear(&h, &case.injected);
    h.advance(Duration::from_secs(6));
    let first = h.token().await;
    assert!(first.expires_in.as_secs() > 86_000, "{name}: a fresh token");

    // 3. Warm: the token enters the leeway, the refresh hits the fault, the token is still served.
    h.advance(LIFETIME - LEEWAY + Duration::from_secs(60));
    inject(&h, &case.injected);
    let upstream_before = h.token_requests();
    let served = h.token().await;
    assert_eq!(
        served.access_token, first.access_token,
        "{name}: the valid cached token is still served"
    );
    assert!(
        served.expires_in.as_secs() <= LEEWAY.as_secs(),
        "{name}: with its true remaining lifetime"
    );
    assert!(
        h.token_requests() > upstream_before,
        "{name}: the refresh was attempted"
    );
    alive(&h).await;

    // 4. Cleared again: past the minimum refresh interval the signer obtains a new token.
    clear(&h, &case.injected);
    h.advance(Duration::from_secs(31));
    let renewed = h.token().await;
    assert_ne!(
        renewed.access_token, first.access_token,
        "{name}: recovered with a new token"
    );
    assert!(renewed.expires_in.as_secs() > 86_000, "{name}: fresh");

    // Metrics counted the failures by their outcome (the cold request and the warm refresh, each
    // with its retry when the fault is transient) and the two successes.
    let metrics = h.metrics().await;
    let count = |outcome: &str| {
        let series = format!(
            r#"grafx_signer_upstream_requests_total{{integration="default",outcome="{outcome}"}} "#
        );
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str())?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Transient faults are retried once (`upstream_retries = 1`); a refusal of the
    // credentials never is.
    let attempts = if case.outcome == "rejected" { 2.0 } else { 4.0 };
    assert_eq!(
        count(case.outcome),
        attempts,
        "{name}: counted as `{}`: {metrics}",
        case.outcome
    );
    assert_eq!(count("ok"), 2.0, "{name}: {metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upstream_fault_is_typed_served_from_cache_and_recovers() {
    count_library_panics();
    for case in cases() {
        run(&case).await;
        assert_eq!(
            PANICS.load(Ordering::SeqCst),
            0,
            "{}: a panic in library code",
            case.name
        );
    }
}

/// An API 401 for a token the signer believes valid (e.g. CHILI rotated its signing keys): the
/// signer has nothing to refresh early (tokens cannot be revoked), so it keeps serving its token
/// and the browser module's single forced retry ends in `unauthorized` without a loop; that half
/// runs in Chromium (`retry_once_after_a_401`, `unauthorized_after_the_retry`). Here: API 401s
/// never make the signer fetch again.
#[tokio::test]
async fn api_401s_do_not_make_the_signer_loop() {
    let h = harness(fast_settings(), false, |_| {}).await;
    let token = h.token().await;
    h.emulator
        .emulator()
        .arm_fault(FaultSpec {
            target: FaultTarget::Api,
            times: 10,
            fault: Fault::Status {
                status: 401,
                body: None,
                content_type: None,
                retry_after: None,
            },
        })
        .unwrap();
    let api = format!("{}templates", token.environment_api_url);
    for _ in 0..3 {
        let res = http()
            .get(&api)
            .bearer_auth(token.access_token.secret())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let again = h.token().await;
        assert_eq!(again.access_token, token.access_token);
    }
    assert_eq!(h.token_requests(), 1, "one upstream call in all");
}
