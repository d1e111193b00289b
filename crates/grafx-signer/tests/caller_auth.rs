//! Caller authentication against real parts on loopback: a locally served JWKS (RS256 and ES256
//! keys, rotated mid-test), HS256 cookie sessions, and a small forward-auth app.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use common::*;
use grafx_signer::{CallerConfig, CallerMethod, SessionKey};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const ISSUER: &str = "https://login.app.test/";
const AUDIENCE: &str = "grafx-signer";
const HS_SECRET: &str = "an-app-session-secret-of-at-least-32-bytes";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn rsa(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(&fixture(name)).unwrap()
}

fn ec() -> EncodingKey {
    EncodingKey::from_ec_pem(&fixture("caller-es256.pem")).unwrap()
}

fn public_jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, alg).unwrap();
    jwk.common.key_id = Some(kid.into());
    jwk
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(sub: &str) -> Value {
    json!({ "sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "iat": now() })
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).unwrap()
}

/// A JWKS endpoint whose key set can be replaced, counting fetches.
struct Jwks {
    url: String,
    keys: Arc<Mutex<JwkSet>>,
    fetches: Arc<AtomicU64>,
    /// Milliseconds each fetch waits before answering.
    delay_ms: Arc<AtomicU64>,
    /// Bytes of padding appended to the key set (an oversized reply).
    padding: Arc<AtomicU64>,
}

async fn jwks(keys: Vec<Jwk>) -> Jwks {
    let set = Arc::new(Mutex::new(JwkSet { keys }));
    let fetches = Arc::new(AtomicU64::new(0));
    let delay_ms = Arc::new(AtomicU64::new(0));
    let padding = Arc::new(AtomicU64::new(0));
    let (s, f, d, p) = (
        set.clone(),
        fetches.clone(),
        delay_ms.clone(),
        padding.clone(),
    );
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            f.fetch_add(1, Ordering::SeqCst);
            let mut body = serde_json::to_string(&*s.lock().unwrap()).unwrap();
            body.push_str(&" ".repeat(p.load(Ordering::SeqCst) as usize));
            let delay = Duration::from_millis(d.load(Ordering::SeqCst));
            async move {
                tokio::time::sleep(delay).await;
                ([("content-type", "application/json")], body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Jwks {
        url,
        keys: set,
        fetches,
        delay_ms,
        padding,
    }
}

/// A JWKS refetch for an unknown key that takes seconds must not hold up sessions whose key is
/// cached; an oversized JWKS is refused.
#[tokio::test]
async fn a_slow_jwks_refetch_does_not_block_known_keys() {
    let rsa1 = rsa("caller-rs256.pem");
    let keys = jwks(vec![public_jwk(&rsa1, Algorithm::RS256, "rsa-1")]).await;
    let config = CallerConfig::new(CallerMethod::Jwks(keys.url.parse().unwrap()))
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE);
    let h = Arc::new(harness(fast_settings(), false, with_caller(config)).await);
    let good = sign(Algorithm::RS256, Some("rsa-1"), &rsa1, &claims("alice"));
    assert_eq!(ask(&h, Some(&good), None).await.status(), 200);
    h.advance(grafx_signer::JWKS_MIN_REFETCH);
    // Under the 3 s client timeout of the test harness, so the fetch completes.
    keys.delay_ms.store(2_500, Ordering::SeqCst);
    let unknown = sign(Algorithm::RS256, Some("rotated"), &rsa1, &claims("bob"));
    let slow = {
        let h = Arc::clone(&h);
        tokio::spawn(async move { ask(&h, Some(&unknown), None).await.status() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    assert_eq!(ask(&h, Some(&good), None).await.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "a known key waited {:?} behind the JWKS fetch",
        started.elapsed()
    );
    assert_eq!(
        slow.await.unwrap(),
        401,
        "the unknown key is refused after the fetch"
    );
    // A JWKS larger than the signer reads is refused while reading (a 503, never a hang).
    keys.delay_ms.store(0, Ordering::SeqCst);
    keys.padding.store(4 * 1024 * 1024, Ordering::SeqCst);
    h.advance(grafx_signer::JWKS_MIN_REFETCH);
    let other = sign(Algorithm::RS256, Some("other"), &rsa1, &claims("carol"));
    let res = ask(&h, Some(&other), None).await;
    assert_eq!(res.status(), 503, "an oversized JWKS is not read");
}

fn with_caller(config: CallerConfig) -> impl FnOnce(&mut grafx_signer::SignerConfig) {
    move |c| {
        for i in c.integrations.values_mut() {
            i.caller = Some(config.clone());
        }
    }
}

async fn ask(h: &Harness, auth: Option<&str>, cookie: Option<&str>) -> reqwest::Response {
    let mut req = h.post("/token");
    if let Some(a) = auth {
        req = req.bearer_auth(a);
    }
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

async fn refused(res: reqwest::Response, reason_hint: &str) -> HeaderMap {
    let (headers, description) = error(res, 401, "caller_unauthenticated").await;
    let challenge = headers
        .get("www-authenticate")
        .expect("a WWW-Authenticate challenge")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with(r#"Bearer realm="grafx-signer""#),
        "{challenge}"
    );
    assert!(
        description.contains(reason_hint),
        "`{description}` should mention `{reason_hint}`"
    );
    let mut h = HeaderMap::new();
    for (k, v) in headers.iter() {
        h.insert(k.clone(), v.clone());
    }
    h
}

#[tokio::test]
async fn jwks_sessions_rs256_and_es256_pass_and_every_bad_one_is_refused() {
    let rsa1 = rsa("caller-rs256.pem");
    let rsa2 = rsa("caller-rs256-rotated.pem");
    let ec1 = ec();
    let keys = jwks(vec![
        public_jwk(&rsa1, Algorithm::RS256, "rsa-1"),
        public_jwk(&ec1, Algorithm::ES256, "ec-1"),
    ])
    .await;
    let config = CallerConfig::new(CallerMethod::Jwks(keys.url.parse().unwrap()))
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE);
    let h = harness(fast_settings(), false, with_caller(config)).await;

    // Valid sessions.
    let good_rs = sign(Algorithm::RS256, Some("rsa-1"), &rsa1, &claims("alice"));
    assert_eq!(ask(&h, Some(&good_rs), None).await.status(), 200);
    let good_es = sign(Algorithm::ES256, Some("ec-1"), &ec1, &claims("bob"));
    assert_eq!(ask(&h, Some(&good_es), None).await.status(), 200);
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 1, "the JWKS is cached");

    // No session at all: a bare challenge, no error attribute.
    let headers = refused(ask(&h, None, None).await, "sign in").await;
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer realm="grafx-signer""#
    );

    // Each bad claim, in a session otherwise valid: refused, and the reply says which.
    let bad_claims = [
        ("exp", json!(now() - 120), "expired"),
        ("nbf", json!(now() + 600), "not valid yet"),
        ("iss", json!("https://evil.test/"), "issuer"),
        ("aud", json!("another-api"), "audience"),
    ];
    // A configured issuer or audience is required: a session without the claim is refused (an
    // OIDC token minted for another app of the tenant often has no `aud` for this one).
    for (claim, hint) in [
        ("iss", "no issuer"),
        ("aud", "no audience"),
        ("exp", "no expiry"),
    ] {
        let mut c = claims("alice");
        c.as_object_mut().unwrap().remove(claim);
        let t = sign(Algorithm::RS256, Some("rsa-1"), &rsa1, &c);
        refused(ask(&h, Some(&t), None).await, hint).await;
    }
    for (claim, value, hint) in bad_claims {
        let mut c = claims("alice");
        c[claim] = value;
        let t = sign(Algorithm::RS256, Some("rsa-1"), &rsa1, &c);
        let headers = refused(ask(&h, Some(&t), None).await, hint).await;
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }

    // Signed by another key under rsa-1's kid.
    refused(
        ask(
            &h,
            Some(&sign(
                Algorithm::RS256,
                Some("rsa-1"),
                &rsa2,
                &claims("mallory"),
            )),
            None,
        )
        .await,
        "signature",
    )
    .await;

    // `alg: none`, hand-made (no library signs it).
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("mallory"))
    );
    refused(ask(&h, Some(&none), None).await, "alg").await;

    // HS256 where RS256/ES256 are configured (the classic key-confusion attack).
    let hs = sign(
        Algorithm::HS256,
        Some("rsa-1"),
        &EncodingKey::from_secret(b"whatever").unwrap(),
        &claims("mallory"),
    );
    refused(ask(&h, Some(&hs), None).await, "RS256 or ES256").await;

    // Key rotation: the app now signs with rsa-2 and publishes only it. A session with the new
    // kid triggers one JWKS fetch and passes; the old kid is now unknown and refused.
    *keys.keys.lock().unwrap() = JwkSet {
        keys: vec![public_jwk(&rsa2, Algorithm::RS256, "rsa-2")],
    };
    h.advance(grafx_signer::JWKS_MIN_REFETCH);
    let rotated = sign(Algorithm::RS256, Some("rsa-2"), &rsa2, &claims("alice"));
    assert_eq!(ask(&h, Some(&rotated), None).await.status(), 200);
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 2);
    // rsa-1 is still in the cached set? No: the set was replaced by the fetch.
    refused(ask(&h, Some(&good_rs), None).await, "unknown key").await;
    // Unknown kids do not hammer the JWKS endpoint: at most one fetch per interval.
    for i in 0..5 {
        let t = sign(
            Algorithm::RS256,
            Some(&format!("nope-{i}")),
            &rsa2,
            &claims("x"),
        );
        refused(ask(&h, Some(&t), None).await, "unknown key").await;
    }
    assert_eq!(
        keys.fetches.load(Ordering::SeqCst),
        2,
        "JWKS refetches are rate limited: none within the interval of the last"
    );

    let m = h.metrics().await;
    for reason in [
        "missing",
        "expired",
        "not_yet_valid",
        "wrong_issuer",
        "wrong_audience",
        "invalid_signature",
        "unknown_key",
        "algorithm_not_allowed",
    ] {
        assert!(
            m.contains(&format!(
                "grafx_signer_caller_refusals_total{{reason=\"{reason}\"}}"
            )),
            "refusals counted by reason ({reason}):\n{m}"
        );
    }
}

#[tokio::test]
async fn a_jwks_endpoint_that_is_down_refuses_with_503() {
    let config = CallerConfig::new(CallerMethod::Jwks(
        "http://127.0.0.1:9/jwks.json".parse().unwrap(),
    ));
    let h = harness(fast_settings(), false, with_caller(config)).await;
    let t = sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &rsa("caller-rs256.pem"),
        &claims("alice"),
    );
    let (headers, _) = error(
        ask(&h, Some(&t), None).await,
        503,
        "caller_check_unavailable",
    )
    .await;
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn hs256_sessions_from_a_cookie_or_a_bearer() {
    let config = CallerConfig::new(CallerMethod::JwtSecret(SessionKey::new(HS_SECRET.into())))
        .with_cookie("app_session")
        .with_audience(AUDIENCE);
    let h = harness(fast_settings(), false, with_caller(config)).await;
    let key = EncodingKey::from_secret(HS_SECRET.as_bytes()).unwrap();
    // With an audience configured, an HS256 session without `aud` is refused.
    let mut no_aud = claims("mallory");
    no_aud.as_object_mut().unwrap().remove("aud");
    refused(
        ask(&h, Some(&sign(Algorithm::HS256, None, &key, &no_aud)), None).await,
        "no audience",
    )
    .await;
    let t = sign(Algorithm::HS256, None, &key, &claims("alice"));
    assert_eq!(
        ask(&h, None, Some(&format!("theme=dark; app_session={t}")))
            .await
            .status(),
        200
    );
    assert_eq!(ask(&h, Some(&t), None).await.status(), 200);
    refused(
        ask(&h, None, Some("app_session=not-a-jwt")).await,
        "not a valid JWT",
    )
    .await;
    // The wrong secret, and an RS256 session where HS256 is configured.
    let forged = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(b"guessed").unwrap(),
        &claims("mallory"),
    );
    refused(ask(&h, Some(&forged), None).await, "signature").await;
    let rs = sign(
        Algorithm::RS256,
        None,
        &rsa("caller-rs256.pem"),
        &claims("mallory"),
    );
    refused(ask(&h, Some(&rs), None).await, "HS256").await;
    // Preflights invite credentials for the allowed origin, so cookie sessions work cross-origin.
    let pre = http()
        .request(reqwest::Method::OPTIONS, format!("{}/token", h.url))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-csrf, authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-credentials"], "true");
    assert_eq!(pre.headers()["access-control-allow-origin"], ORIGIN);
}

#[tokio::test]
async fn rate_limits_are_per_user_when_the_user_is_known() {
    let config = CallerConfig::new(CallerMethod::JwtSecret(SessionKey::new(HS_SECRET.into())));
    let h = harness(fast_settings(), false, |c| {
        c.rate_limit_per_minute = 600; // the shared IP's allowance: plenty
        c.user_rate_limit_per_minute = 5; // a burst of 5 per user
        with_caller(config)(c);
    })
    .await;
    let key = EncodingKey::from_secret(HS_SECRET.as_bytes()).unwrap();
    let alice = sign(Algorithm::HS256, None, &key, &claims("alice"));
    let bob = sign(Algorithm::HS256, None, &key, &claims("bob"));
    for _ in 0..5 {
        assert_eq!(ask(&h, Some(&alice), None).await.status(), 200);
    }
    error(ask(&h, Some(&alice), None).await, 429, "rate_limited").await;
    // Same IP, another user: their own allowance.
    assert_eq!(ask(&h, Some(&bob), None).await.status(), 200);
}

/// The app's session check: `session=good-{user}` is allowed and named, `session=bad` refused,
/// `session=boom` a 500.
async fn forward_auth_app() -> (String, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let app = axum::Router::new().route(
        "/auth",
        get(move |headers: HeaderMap| {
            c.fetch_add(1, Ordering::SeqCst);
            async move {
                let cookie = headers
                    .get("cookie")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let session = cookie
                    .split(';')
                    .find_map(|kv| kv.trim().strip_prefix("session="))
                    .unwrap_or("");
                if let Some(user) = session.strip_prefix("good-") {
                    (StatusCode::OK, [("x-auth-request-user", user.to_owned())]).into_response()
                } else if session == "boom" {
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                } else {
                    StatusCode::UNAUTHORIZED.into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/auth", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

use axum::response::IntoResponse;

/// Junk sessions are refused by the per-IP limit before they cost a session check, and session
/// checks in flight are bounded however many new cookies arrive at once.
#[tokio::test]
async fn junk_sessions_hit_the_ip_limit_before_any_session_check() {
    let (url, calls) = forward_auth_app().await;
    let config = CallerConfig::new(CallerMethod::ForwardAuth {
        url: url.parse().unwrap(),
        user_header: Some("x-auth-request-user".into()),
        cache_for: Duration::from_secs(30),
    });
    let h = harness(fast_settings(), false, |c| {
        c.rate_limit_per_minute = 10; // a burst of 5
        with_caller(config)(c);
    })
    .await;
    let mut limited = 0;
    for i in 0..40 {
        let res = ask(&h, None, Some(&format!("session=junk-{i}"))).await;
        limited += usize::from(res.status() == 429);
    }
    assert_eq!(limited, 35, "the IP's burst of 5, then 429s");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        5,
        "only requests within the IP limit reached the app's session check"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_requests_in_flight_are_bounded() {
    // A slow session check that records how many run at once.
    let (now, peak) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (n, p) = (now.clone(), peak.clone());
    let app = axum::Router::new().route(
        "/auth",
        get(move || {
            let (n, p) = (n.clone(), p.clone());
            async move {
                let running = n.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(running, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                n.fetch_sub(1, Ordering::SeqCst);
                StatusCode::UNAUTHORIZED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/auth", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = CallerConfig::new(CallerMethod::ForwardAuth {
        url: url.parse().unwrap(),
        user_header: None,
        cache_for: Duration::from_secs(30),
    });
    let h = Arc::new(harness(fast_settings(), false, with_caller(config)).await);
    let asks: Vec<_> = (0..100)
        .map(|i| {
            let h = Arc::clone(&h);
            tokio::spawn(async move {
                ask(&h, None, Some(&format!("session=new-{i}")))
                    .await
                    .status()
            })
        })
        .collect();
    for a in asks {
        let status = a.await.unwrap();
        assert!(status == 401 || status == 503, "{status}");
    }
    let peak = peak.load(Ordering::SeqCst) as usize;
    assert!(
        peak <= grafx_signer::MAX_FORWARD_AUTH_IN_FLIGHT,
        "{peak} session checks ran at once"
    );
}

#[tokio::test]
async fn forward_auth_allows_refuses_caches_and_fails_closed() {
    let (url, calls) = forward_auth_app().await;
    let config = CallerConfig::new(CallerMethod::ForwardAuth {
        url: url.parse().unwrap(),
        user_header: Some("x-auth-request-user".into()),
        cache_for: Duration::from_secs(10),
    });
    let h = harness(fast_settings(), false, with_caller(config)).await;

    assert_eq!(
        ask(&h, None, Some("session=good-alice")).await.status(),
        200
    );
    assert_eq!(
        ask(&h, None, Some("session=good-alice")).await.status(),
        200
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the decision is cached");
    refused(ask(&h, None, Some("session=bad")).await, "refused").await;
    refused(ask(&h, None, Some("session=bad")).await, "refused").await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "refusals are cached too");
    refused(ask(&h, None, None).await, "sign in").await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "no credentials: not even asked"
    );
    // The decision is kept for `cache_for` (10 s) on the signer's clock: after 5 s, still cached;
    // after 11, asked again.
    h.advance(Duration::from_secs(5));
    ask(&h, None, Some("session=good-alice")).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "cached for 10 s");
    h.advance(Duration::from_secs(6));
    assert_eq!(
        ask(&h, None, Some("session=good-alice")).await.status(),
        200
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "asked again after the cache time"
    );
    // The app's check fails: refused with 503, never let in.
    error(
        ask(&h, None, Some("session=boom")).await,
        503,
        "caller_check_unavailable",
    )
    .await;

    // The check endpoint is down.
    let down = CallerConfig::new(CallerMethod::ForwardAuth {
        url: "http://127.0.0.1:9/auth".parse().unwrap(),
        user_header: None,
        cache_for: Duration::from_secs(30),
    });
    let h2 = harness(fast_settings(), false, with_caller(down)).await;
    error(
        ask(&h2, None, Some("session=good-alice")).await,
        503,
        "caller_check_unavailable",
    )
    .await;
}

#[test]
fn caller_configuration_is_checked_and_named() {
    let dir = std::env::temp_dir().join(format!("grafx-caller-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let short = dir.join("short.secret");
    std::fs::write(&short, "tooshort").unwrap();
    let base = grafx_signer::ConfigArgs {
        client_id: Some("id".into()),
        environment: Some("acme".into()),
        allowed_origins: Some("https://app.example".into()),
        ..Default::default()
    };
    let env =
        std::collections::BTreeMap::from([("GRAFX_CLIENT_SECRET".to_owned(), "s3cr3t".to_owned())]);
    let load =
        |args: grafx_signer::ConfigArgs| grafx_signer::ConfigSource::new(args, env.clone()).load();
    // Each mistake, and what its error must say.
    let mistakes = [
        (
            grafx_signer::ConfigArgs {
                caller_jwt_secret_file: Some(short),
                ..base.clone()
            },
            ["SIGNER_CALLER_JWT_SECRET_FILE", "32 bytes"],
        ),
        (
            grafx_signer::ConfigArgs {
                caller_jwks_url: Some("http://keys.example/jwks.json".into()),
                ..base.clone()
            },
            ["SIGNER_CALLER_JWKS_URL", "https"],
        ),
        (
            grafx_signer::ConfigArgs {
                caller_jwks_url: Some("https://keys.example/jwks.json".into()),
                caller_forward_auth: Some("http://app.internal/auth".into()),
                ..base.clone()
            },
            ["SIGNER_CALLER_", "exactly one"],
        ),
        (
            grafx_signer::ConfigArgs {
                caller_issuer: Some("https://login.example/".into()),
                ..base.clone()
            },
            ["SIGNER_CALLER_", "exactly one"],
        ),
        // JWKS without an audience would accept tokens for any app of the identity provider.
        (
            grafx_signer::ConfigArgs {
                caller_jwks_url: Some("https://keys.example/jwks.json".into()),
                caller_issuer: Some("https://login.example/".into()),
                ..base.clone()
            },
            ["SIGNER_CALLER_AUDIENCE", "required"],
        ),
    ];
    for (args, needles) in mistakes {
        let e = load(args).unwrap_err().to_string();
        assert!(needles.iter().all(|n| e.contains(n)), "{e}");
    }
    let ok = load(grafx_signer::ConfigArgs {
        caller_jwks_url: Some("https://keys.example/jwks.json".into()),
        caller_cookie: Some("session".into()),
        caller_issuer: Some("https://login.example/".into()),
        caller_audience: Some("https://api.example/".into()),
        ..base
    })
    .unwrap();
    assert!(ok.integrations["default"].caller.is_some());
}

/// `exp` and `nbf` are judged on the signer's clock, with 30 s of leeway either way, and anything
/// but a non-negative number of seconds is refused.
#[tokio::test]
async fn session_times_are_judged_on_the_signers_clock() {
    let config = CallerConfig::new(CallerMethod::JwtSecret(SessionKey::new(HS_SECRET.into())))
        .with_audience(AUDIENCE);
    let h = harness(fast_settings(), false, with_caller(config)).await;
    let key = EncodingKey::from_secret(HS_SECRET.as_bytes()).unwrap();
    let with = |edit: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = claims("alice");
        edit(c.as_object_mut().unwrap());
        sign(Algorithm::HS256, None, &key, &c)
    };
    let t0 = now();
    let expiring = with(&|c| {
        c.insert("exp".into(), json!(t0 + 100));
    });
    let not_yet = with(&|c| {
        c.insert("nbf".into(), json!(t0 + 100));
    });
    assert_eq!(ask(&h, Some(&expiring), None).await.status(), 200);
    refused(ask(&h, Some(&not_yet), None).await, "not valid yet").await;
    // 80 s later on the signer's clock: `nbf` is within the leeway.
    h.advance(Duration::from_secs(80));
    assert_eq!(ask(&h, Some(&not_yet), None).await.status(), 200);
    // 125 s: `exp` passed, still within the leeway; 140 s: expired.
    h.advance(Duration::from_secs(45));
    assert_eq!(ask(&h, Some(&expiring), None).await.status(), 200);
    h.advance(Duration::from_secs(15));
    refused(ask(&h, Some(&expiring), None).await, "expired").await;
    // Claims that are not dates.
    for bad in [json!(null), json!(-1), json!("soon")] {
        let t = with(&|c| {
            c.insert("nbf".into(), bad.clone());
        });
        refused(ask(&h, Some(&t), None).await, "sign in again").await;
    }
}
