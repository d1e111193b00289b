//! The token cache against the emulator: one upstream call per refresh, never a storm.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use grafx_emulator::{Fault, FaultSpec, FaultTarget, Settings};

fn status_fault(status: u16, times: u32, retry_after: Option<u64>) -> FaultSpec {
    FaultSpec {
        target: FaultTarget::Token,
        times,
        fault: Fault::Status {
            status,
            body: Some("{}".into()),
            content_type: None,
            retry_after,
        },
    }
}

/// A single token reply with this status and body (e.g. a 200 with a malformed token).
fn reply_fault(status: u16, body: Option<&str>) -> FaultSpec {
    FaultSpec {
        target: FaultTarget::Token,
        times: 1,
        fault: Fault::Status {
            status,
            body: body.map(str::to_owned),
            content_type: None,
            retry_after: None,
        },
    }
}

#[tokio::test]
async fn two_hundred_concurrent_cold_requests_make_one_upstream_call() {
    // A slow upstream widens the window in which requests pile up.
    let h = harness(fast_settings(), false, |_| {}).await;
    h.emulator
        .emulator()
        .arm_fault(FaultSpec {
            target: FaultTarget::Token,
            times: 1,
            fault: Fault::Delay { ms: 300 },
        })
        .unwrap();
    let requests = (0..200).map(|_| h.post("/token").send());
    let replies = futures_util::future::join_all(requests).await;
    let mut tokens = std::collections::HashSet::new();
    for r in replies {
        let r = r.unwrap();
        assert_eq!(r.status(), 200);
        let t: grafx_core::SignerToken = r.json().await.unwrap();
        tokens.insert(t.access_token.secret().to_owned());
    }
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        h.token_requests(),
        1,
        "single-flight: exactly one upstream call"
    );
}

#[tokio::test]
async fn concurrent_cold_failures_are_shared_too() {
    let h = harness(fast_settings(), false, |c| c.upstream_retries = 0).await;
    h.emulator
        .emulator()
        .arm_fault(FaultSpec {
            target: FaultTarget::Token,
            times: 1,
            fault: Fault::Delay { ms: 300 },
        })
        .unwrap();
    h.emulator.emulator().remove_client("demo-reader");
    let replies = futures_util::future::join_all((0..50).map(|_| h.post("/token").send())).await;
    for r in replies {
        assert_eq!(r.unwrap().status(), 502);
    }
    assert_eq!(
        h.token_requests(),
        1,
        "waiters share the failed attempt instead of each retrying"
    );
}

#[tokio::test]
async fn refresh_ahead_happens_in_the_background_before_expiry() {
    // 4 s tokens; the 5 min leeway is clamped to half the lifetime, so the refresh is due at 2 s,
    // inside the emulator's 3 s re-issue window, so the refresh yields a new token.
    let settings = Settings {
        token_lifetime_secs: 4,
        reissue_window_secs: 3,
        ..fast_settings()
    };
    let h = harness(settings, true, |c| c.min_refresh_interval = Duration::ZERO).await;
    assert!(
        h.wait_for(5, |h| h.token_requests() == 1).await,
        "the refresher warms the cache"
    );
    let first = h.token().await;
    assert_eq!(h.token_requests(), 1);
    assert!(
        h.wait_for(4, |h| h.token_requests() == 2).await,
        "refreshed with no caller waiting"
    );
    let second = h.token().await;
    assert_ne!(second.access_token, first.access_token);
    assert!(second.expires_in.as_secs() >= 3);
    assert_eq!(
        h.token_requests(),
        2,
        "serving did not need another upstream call"
    );
}

#[tokio::test]
async fn the_upstream_budget_never_starves_a_healthy_integrations_due_refreshes() {
    // 2 s tokens, re-issued in their last 2 s: a refresh every second. A budget of 3 attempts a
    // minute would refuse most of them; a healthy integration is never held back by it.
    let settings = Settings {
        token_lifetime_secs: 2,
        reissue_window_secs: 2,
        ..fast_settings()
    };
    let h = harness(settings, true, |c| {
        c.min_refresh_interval = Duration::ZERO;
        c.upstream_attempts_per_minute = 3;
    })
    .await;
    assert!(h.wait_for(5, |h| h.token_requests() >= 1).await);
    let mut seen = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while tokio::time::Instant::now() < deadline {
        // Every request is served a live token, none refused.
        let t = h.token().await;
        seen.insert(t.access_token.secret().to_owned());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen.len() >= 6,
        "{} tokens in 8 s of 2 s tokens, over a budget of 3 a minute",
        seen.len()
    );
}

#[tokio::test]
async fn chili_reissue_window_causes_no_request_storm() {
    // CHILI returns the SAME token until 1 s before expiry. With a leeway larger than that window,
    // refreshes get the old token back; the signer must keep serving it and not loop.
    let settings = Settings {
        token_lifetime_secs: 6,
        reissue_window_secs: 1,
        ..fast_settings()
    };
    let h = harness(settings, true, |c| {
        c.min_refresh_interval = Duration::from_millis(500)
    })
    .await;
    assert!(h.wait_for(5, |h| h.token_requests() == 1).await);
    let mut seen = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(6500);
    let mut served = 0;
    while tokio::time::Instant::now() < deadline {
        let t = h.token().await;
        assert!(t.expires_in.as_secs() >= 1);
        seen.insert(t.access_token.secret().to_owned());
        served += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = h.emulator.emulator().stats();
    assert!(served > 100);
    assert_eq!(
        stats.tokens_issued, 2,
        "one re-issue in 6.5 s of 6 s tokens"
    );
    assert!(
        stats.token_requests <= 6,
        "no storm: {} upstream calls for {served} requests",
        stats.token_requests
    );
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn stale_if_error_then_recovery() {
    let settings = Settings {
        token_lifetime_secs: 4,
        reissue_window_secs: 0,
        ..fast_settings()
    };
    let h = harness(settings, true, |c| {
        c.min_refresh_interval = Duration::ZERO;
        c.upstream_retries = 0;
    })
    .await;
    assert!(h.wait_for(5, |h| h.token_requests() == 1).await);
    let cached = h.token().await;
    h.emulator
        .emulator()
        .arm_fault(status_fault(503, 1000, None))
        .unwrap();
    // Past the refresh point (2 s), refreshes fail but the valid token keeps being served (the
    // request wakes the refresher, whose attempt fails).
    h.advance(Duration::from_millis(2600));
    let still = h.token().await;
    assert_eq!(still.access_token, cached.access_token);
    assert!(
        h.wait_for(5, |h| h.token_requests() >= 2).await,
        "a refresh was attempted"
    );
    assert_eq!(h.token().await.access_token, cached.access_token);
    // After expiry there is nothing valid to serve: 503 with Retry-After.
    h.advance(Duration::from_millis(1600));
    let res = h.post("/token").send().await.unwrap();
    let (headers, d) = error(res, 503, "upstream_unavailable").await;
    assert!(headers.contains_key("retry-after"));
    assert!(d.contains("503"), "{d}");
    // Once upstream recovers, so does the signer (after the failure backoff).
    h.emulator.emulator().clear_faults();
    h.advance(Duration::from_secs(61));
    let fresh = h.token().await;
    assert_ne!(fresh.access_token, cached.access_token);
}

#[tokio::test]
async fn no_retry_after_a_credential_error() {
    let h = harness(fast_settings(), false, |c| c.upstream_retries = 3).await;
    h.emulator.emulator().remove_client("demo-reader");
    let res = h.post("/token").send().await.unwrap();
    let (_, d) = error(res, 502, "upstream_rejected").await;
    assert!(d.contains("client id") && d.contains("secret"), "{d}");
    assert!(
        !d.contains("demo-reader-secret"),
        "the secret is never echoed"
    );
    assert_eq!(h.token_requests(), 1);
}

#[tokio::test]
async fn transient_5xx_and_network_errors_are_retried_with_backoff() {
    let h = harness(fast_settings(), false, |c| c.upstream_retries = 3).await;
    let e = h.emulator.emulator();
    e.arm_fault(status_fault(502, 1, None)).unwrap();
    e.arm_fault(FaultSpec {
        target: FaultTarget::Token,
        times: 1,
        fault: Fault::Drop,
    })
    .unwrap();
    e.arm_fault(FaultSpec {
        target: FaultTarget::Token,
        times: 1,
        fault: Fault::Html { status: 503 },
    })
    .unwrap();
    let started = std::time::Instant::now();
    h.token().await;
    assert_eq!(h.token_requests(), 4);
    // 200 ms, 400 ms and 800 ms base backoffs (plus jitter) separate the four attempts.
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn upstream_429_retry_after_is_honoured() {
    let h = harness(fast_settings(), false, |c| c.upstream_retries = 2).await;
    h.emulator
        .emulator()
        .arm_fault(status_fault(429, 1, Some(30)))
        .unwrap();
    let res = h.post("/token").send().await.unwrap();
    let (headers, _) = error(res, 503, "upstream_unavailable").await;
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((29..=30).contains(&retry), "{retry}");
    // Within the window, the signer does not ask again.
    let res = h.post("/token").send().await.unwrap();
    error(res, 503, "upstream_unavailable").await;
    assert_eq!(h.token_requests(), 1);
}

#[tokio::test]
async fn malformed_or_html_replies_are_clear_errors() {
    let h = harness(fast_settings(), false, |c| c.upstream_retries = 0).await;
    let e = h.emulator.emulator();
    e.arm_fault(FaultSpec {
        target: FaultTarget::Token,
        times: 1,
        fault: Fault::MalformedJson,
    })
    .unwrap();
    let (_, d) = error(
        h.post("/token").send().await.unwrap(),
        503,
        "upstream_unavailable",
    )
    .await;
    assert!(d.contains("invalid token reply"), "{d}");
    // Past the failure backoff (during it, the same failure is answered without asking again).
    h.advance(Duration::from_secs(61));
    let body = r#"{"access_token":"x","token_type":"mac","expires_in":60}"#;
    e.arm_fault(reply_fault(200, Some(body))).unwrap();
    let (_, d) = error(
        h.post("/token").send().await.unwrap(),
        503,
        "upstream_unavailable",
    )
    .await;
    assert!(d.contains("mac"), "{d}");
    for bad in [
        r#"{"access_token":"x","token_type":"Bearer"}"#,
        r#"{"access_token":"x","token_type":"Bearer","expires_in":-5}"#,
        r#"{"access_token":"x","token_type":"Bearer","expires_in":1e12}"#,
    ] {
        h.advance(Duration::from_secs(61));
        e.arm_fault(reply_fault(200, Some(bad))).unwrap();
        let (_, d) = error(
            h.post("/token").send().await.unwrap(),
            503,
            "upstream_unavailable",
        )
        .await;
        assert!(d.contains("expires_in"), "{d}");
    }
    // A redirect is never followed (it could carry the secret to a host nobody configured).
    h.advance(Duration::from_secs(61));
    e.arm_fault(reply_fault(307, None)).unwrap();
    let (_, d) = error(
        h.post("/token").send().await.unwrap(),
        503,
        "upstream_unavailable",
    )
    .await;
    assert!(d.contains("redirect"), "{d}");
    // An oversized reply is cut off, not buffered.
    h.advance(Duration::from_secs(61));
    e.arm_fault(reply_fault(200, Some(&"x".repeat(200_000))))
        .unwrap();
    let (_, d) = error(
        h.post("/token").send().await.unwrap(),
        503,
        "upstream_unavailable",
    )
    .await;
    assert!(d.contains("larger than"), "{d}");
    // During the backoff the same failure is answered without asking upstream again.
    let calls = h.token_requests();
    let (_, d) = error(
        h.post("/token").send().await.unwrap(),
        503,
        "upstream_unavailable",
    )
    .await;
    assert!(d.contains("larger than"), "{d}");
    assert_eq!(
        h.token_requests(),
        calls,
        "no upstream call during the backoff"
    );
    // And then it works.
    h.advance(Duration::from_secs(61));
    h.token().await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_503_not_a_hang() {
    let h = harness(fast_settings(), false, |c| {
        c.upstream_retries = 0;
        c.integrations.get_mut("default").unwrap().auth_url =
            "http://127.0.0.1:9/oauth/token".parse().unwrap();
    })
    .await;
    let (headers, d) = error(
        h.post("/token").send().await.unwrap(),
        503,
        "upstream_unavailable",
    )
    .await;
    assert!(d.contains("cannot reach"), "{d}");
    assert_eq!(headers["retry-after"], "5");
}

#[tokio::test]
async fn reload_keeps_tokens_of_unchanged_integrations() {
    let h = harness(fast_settings(), false, |_| {}).await;
    let before = h.token().await;
    // Same credentials, other origins: the cached token survives.
    let mut config = (*h.state.config()).clone();
    config
        .integrations
        .get_mut("default")
        .unwrap()
        .allowed_origins =
        grafx_signer::OriginPolicy::parse_list(&format!("{ORIGIN}, https://other.test")).unwrap();
    let kept = h.state.reload(config.clone()).await;
    assert_eq!(kept, ["default"]);
    assert_eq!(h.token().await.access_token, before.access_token);
    assert_eq!(h.token_requests(), 1);
    // A changed secret starts cold.
    h.emulator
        .emulator()
        .upsert_client(grafx_emulator::ClientSpec::new(
            "demo-reader",
            "rotated",
            grafx_emulator::ClientSpec::read_scopes(),
        ));
    config
        .integrations
        .get_mut("default")
        .unwrap()
        .client_secret = grafx_signer::ClientSecret::new("rotated".into());
    assert!(h.state.reload(config).await.is_empty());
    h.token().await;
    assert_eq!(h.token_requests(), 2);
}
