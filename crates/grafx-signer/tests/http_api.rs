//! The signer's HTTP API: what it hands out, to whom, and how it refuses.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use grafx_core::Scopes;
use grafx_signer::BrowserScopes;

#[tokio::test]
async fn hands_a_token_with_the_wire_shape_and_headers() {
    let h = harness(fast_settings(), false, |_| {}).await;
    let res = h.post("/token").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let hd = res.headers().clone();
    assert_eq!(hd["cache-control"], "no-store");
    assert_eq!(hd["pragma"], "no-cache");
    assert_eq!(hd["vary"], "Origin");
    assert_eq!(hd["access-control-allow-origin"], ORIGIN);
    assert!(hd.contains_key("x-request-id"));
    let t: grafx_core::SignerToken = res.json().await.unwrap();
    assert_eq!(t.environment.as_str(), "demo");
    assert_eq!(
        t.environment_api_url.as_str(),
        h.emulator.emulator().environment_api_url()
    );
    assert!((86_398..=86_400).contains(&t.expires_in.as_secs()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(t.expires_at.abs_diff(now + t.expires_in.as_secs()) <= 2);
    assert!(t.scope.contains("template:read"));
    // The token really works against the API.
    let api = http()
        .get(format!("{}templates", t.environment_api_url))
        .bearer_auth(t.access_token.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    // The named route reaches the same integration, from cache.
    let again: grafx_core::SignerToken = h
        .post("/token/default")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again.access_token, t.access_token);
    assert_eq!(h.token_requests(), 1);
}

#[tokio::test]
async fn refuses_bad_origins_missing_csrf_unknown_integrations_and_wrong_methods() {
    let h = harness(fast_settings(), false, |_| {}).await;
    let url = format!("{}/token", h.url);
    for origin in [
        "https://evil.example",
        "null",
        "http://app.test:3001",
        "http://app.test:3000.evil.net",
    ] {
        let res = http()
            .post(&url)
            .header("origin", origin)
            .header("x-csrf", "1")
            .send()
            .await
            .unwrap();
        assert!(
            res.headers().get("access-control-allow-origin").is_none(),
            "{origin}"
        );
        let (_, d) = error(res, 403, "origin_not_allowed").await;
        assert!(d.contains("not allowed"), "{d}");
    }
    let res = http()
        .post(&url)
        .header("x-csrf", "1")
        .send()
        .await
        .unwrap();
    error(res, 403, "origin_not_allowed").await;
    let res = http()
        .post(&url)
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    // The page can read this error: its origin is allowed.
    assert_eq!(res.headers()["access-control-allow-origin"], ORIGIN);
    let (_, d) = error(res, 403, "csrf_header_missing").await;
    assert!(d.contains("X-CSRF: 1"));
    let res = http()
        .post(&url)
        .header("origin", ORIGIN)
        .header("x-csrf", "yes")
        .send()
        .await
        .unwrap();
    error(res, 403, "csrf_header_missing").await;
    error(
        h.post("/token/writer").send().await.unwrap(),
        404,
        "unknown_integration",
    )
    .await;
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let res = http()
            .request(method, &url)
            .header("origin", ORIGIN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["allow"], "POST, OPTIONS");
        error(res, 405, "method_not_allowed").await;
    }
    let res = h
        .post("/token")
        .body(vec![b'x'; 10_000])
        .send()
        .await
        .unwrap();
    error(res, 413, "payload_too_large").await;
    error(
        http().get(format!("{}/nope", h.url)).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    // None of the refusals reached CHILI.
    assert_eq!(h.token_requests(), 0);
    let metrics = h.metrics().await;
    assert!(
        metrics.contains(r#"grafx_signer_refusals_total{reason="origin_not_allowed"} 5"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn preflights_are_answered_for_allowed_origins_only() {
    let h = harness(fast_settings(), false, |_| {}).await;
    let preflight = |origin: &'static str, method: &'static str| {
        http()
            .request(reqwest::Method::OPTIONS, format!("{}/token", h.url))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "x-csrf")
            .send()
    };
    let res = preflight(ORIGIN, "POST").await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["access-control-allow-origin"], ORIGIN);
    assert_eq!(res.headers()["access-control-allow-methods"], "POST");
    assert!(res.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("x-csrf"));
    let res = preflight("https://evil.example", "POST").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    error(res, 403, "origin_not_allowed").await;
    let res = preflight(ORIGIN, "DELETE").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    error(res, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn an_over_scoped_token_is_never_handed_to_a_browser() {
    let h = harness(fast_settings(), false, |c| {
        let i = c.integrations.get_mut("default").unwrap();
        i.client_id = "demo-writer".into();
        i.client_secret = grafx_signer::ClientSecret::new("demo-writer-secret".into());
        i.browser_scopes = Some(BrowserScopes::Only(
            grafx_emulator::READ_SCOPES.iter().copied().collect(),
        ));
    })
    .await;
    let res = h.post("/token").send().await.unwrap();
    let (_, d) = error(res, 403, "scope_not_allowed").await;
    assert!(d.contains("template:write"), "{d}");
    assert!(d.contains("read-only integration"), "{d}");
}

#[tokio::test]
async fn read_only_policy_refuses_write_tokens_and_passes_read_tokens() {
    for (client, allowed) in [("demo-writer", false), ("demo-reader", true)] {
        let h = harness(fast_settings(), false, |c| {
            let i = c.integrations.get_mut("default").unwrap();
            i.client_id = client.into();
            i.client_secret = grafx_signer::ClientSecret::new(format!("{client}-secret"));
            i.browser_scopes = Some(BrowserScopes::ReadOnly);
        })
        .await;
        // A scope CHILI might add later does not break the policy.
        h.emulator
            .emulator()
            .upsert_client(grafx_emulator::ClientSpec::new(
                client,
                format!("{client}-secret"),
                if allowed {
                    Scopes::parse("template:read template:list brand_new:read")
                } else {
                    grafx_emulator::ClientSpec::read_write_scopes()
                },
            ));
        let res = h.post("/token").send().await.unwrap();
        if allowed {
            assert_eq!(res.status(), 200);
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["scope"], "brand_new:read template:list template:read");
            assert_eq!(
                body["platform_api_url"],
                h.emulator.emulator().platform_api_url(),
                "the reply names the Platform API"
            );
        } else {
            let (_, d) = error(res, 403, "scope_not_allowed").await;
            assert!(
                d.contains("myproject:write") && d.contains("template:write"),
                "{d}"
            );
            assert!(!d.contains("template:read"), "{d}");
        }
    }
}

#[tokio::test]
async fn server_side_integrations_refuse_every_origin() {
    let h = harness(fast_settings(), false, |c| {
        c.integrations.get_mut("default").unwrap().allowed_origins =
            grafx_signer::OriginPolicy::ServerSideOnly;
    })
    .await;
    let (_, d) = error(
        h.post("/token").send().await.unwrap(),
        403,
        "origin_not_allowed",
    )
    .await;
    assert!(d.contains("server-side only"));
}

#[tokio::test]
async fn per_ip_rate_limit_with_retry_after_and_no_spoofing() {
    let h = harness(fast_settings(), false, |c| c.rate_limit_per_minute = 6).await;
    let mut limited = None;
    for i in 0..20 {
        // A spoofed X-Forwarded-For is ignored without --trust-proxy: still one client.
        let res = h
            .post("/token")
            .header("x-forwarded-for", format!("10.0.0.{i}"))
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
        assert_eq!(res.status(), 200);
    }
    let res = limited.expect("the limit applies to the socket peer");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(res.headers()["access-control-allow-origin"], ORIGIN);
    error(res, 429, "rate_limited").await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_ip_is_the_key() {
    let h = harness(fast_settings(), false, |c| {
        c.rate_limit_per_minute = 6;
        c.trust_proxy = true;
    })
    .await;
    // Each client (right-most X-Forwarded-For entry) has its own allowance.
    for i in 0..20 {
        let res = h
            .post("/token")
            .header("x-forwarded-for", format!("203.0.113.9, 10.0.0.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "request {i}");
    }
    // And one forwarded client is limited on its own: about its burst of 5 (10.0.0.7 has used
    // one), then 429, while its neighbours are still served.
    let from = |ip: &str| {
        h.post("/token")
            .header("x-forwarded-for", format!("203.0.113.9, {ip}"))
            .send()
    };
    let mut served = 0;
    while from("10.0.0.7").await.unwrap().status() == 200 {
        served += 1;
        assert!(served <= 8, "10.0.0.7 is never limited");
    }
    assert!((4..=6).contains(&served), "{served} served before the 429");
    assert_eq!(from("10.0.0.8").await.unwrap().status(), 200);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let h = harness(fast_settings(), false, |_| {}).await;
    let health: serde_json::Value = http()
        .get(format!("{}/healthz", h.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    // Nothing cached yet (no refresher in this harness): not ready, and readyz asks nobody.
    let res = http()
        .get(format!("{}/readyz", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["integrations"]["default"]["error"], "pending");
    assert_eq!(h.emulator.emulator().stats().token_requests, 0);
    h.token().await;
    let res = http()
        .get(format!("{}/readyz", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ready: serde_json::Value = res.json().await.unwrap();
    assert_eq!(ready["integrations"]["default"]["ready"], true);
    h.token().await;
    let m = http()
        .get(format!("{}/metrics", h.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        r#"grafx_signer_upstream_requests_total{integration="default",outcome="ok"} 1"#,
        r#"grafx_signer_token_cache_total{integration="default",result="miss"} 1"#,
        r#"grafx_signer_token_cache_total{integration="default",result="hit"} 1"#,
        r#"grafx_signer_http_requests_total{route="/token",status="200"} 2"#,
        "grafx_signer_upstream_request_duration_seconds_count",
        r#"grafx_signer_token_expires_in_seconds{integration="default"} 86"#,
    ] {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
    // Not ready when CHILI refuses the credentials, and anonymous callers cannot turn that into
    // a stream of upstream calls: 40 readyz and 40 /token calls in a burst.
    let h = harness(fast_settings(), true, |c| {
        c.integrations.get_mut("default").unwrap().client_secret =
            grafx_signer::ClientSecret::new("wrong".into());
    })
    .await;
    let mut body = serde_json::Value::Null;
    for _ in 0..40 {
        let res = http()
            .get(format!("{}/readyz", h.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
        body = res.json().await.unwrap();
    }
    for _ in 0..40 {
        let res = h.post("/token").send().await.unwrap();
        assert_eq!(res.status(), 502);
    }
    assert_eq!(
        body["integrations"]["default"]["error"],
        "upstream_rejected"
    );
    assert!(
        body.to_string().len() < 200 && !body.to_string().contains("client"),
        "no upstream error text in readyz: {body}"
    );
    let calls = h.emulator.emulator().stats().token_requests;
    assert!(
        calls <= 3,
        "80 anonymous calls made {calls} upstream requests (the refresher's and the backoff's only)"
    );
}

#[tokio::test]
async fn static_files_are_served_without_path_traversal_dotfiles_or_symlinks() {
    let root = std::env::temp_dir().join(format!("grafx-static-{}", std::process::id()));
    let site = root.join("site");
    std::fs::create_dir_all(site.join("sub/.git")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(site.join("sub/page.html"), "page").unwrap();
    std::fs::write(site.join(".env"), "GRAFX_CLIENT_SECRET=leak").unwrap();
    std::fs::write(site.join("sub/.git/config"), "leak").unwrap();
    std::fs::write(root.join("outside.txt"), "leak").unwrap();
    std::os::unix::fs::symlink(root.join("outside.txt"), site.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&root, site.join("up")).unwrap();
    // A directory whose index.html leads out of the root.
    std::fs::create_dir_all(site.join("docs")).unwrap();
    std::os::unix::fs::symlink(root.join("outside.txt"), site.join("docs/index.html")).unwrap();
    let dir = site.clone();
    let h = harness(fast_settings(), false, move |c| c.static_dir = Some(dir)).await;
    let get = |path: &str| http().get(format!("{}{path}", h.url)).send();
    for (path, status) in [
        ("/", 200),
        ("/sub/page.html", 200),
        ("/.env", 404),
        ("/%2eenv", 404),
        ("/sub/.git/config", 404),
        ("/sub/%2Egit/config", 404),
        ("/link.txt", 404),
        ("/up/outside.txt", 404),
        ("/docs/", 404),
        ("/../outside.txt", 404),
        ("/%2e%2e/outside.txt", 404),
        ("/sub/..%2f..%2foutside.txt", 404),
    ] {
        let res = get(path).await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{path}");
        assert!(!res.text().await.unwrap().contains("leak"), "{path}");
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[tokio::test]
async fn a_client_request_id_is_echoed_only_when_plain() {
    let h = harness(fast_settings(), false, |_| {}).await;
    let id = |v: &'static str| {
        let req = http()
            .get(format!("{}/healthz", h.url))
            .header("x-request-id", v);
        async move {
            let res = req.send().await.unwrap();
            res.headers()["x-request-id"].to_str().unwrap().to_owned()
        }
    };
    assert_eq!(id("abc-123_x.y").await, "abc-123_x.y");
    for odd in ["a b", "<script>", "x\"y", "ééé", &*"a".repeat(65).leak()] {
        let echoed = id(odd).await;
        assert_ne!(echoed, odd, "{odd} was replaced");
        assert!(
            echoed
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-'),
            "{echoed}"
        );
    }
}

#[tokio::test]
async fn forwarded_for_counts_only_from_trusted_proxies_and_garbage_is_the_peer() {
    // Counts the refusals among `n` requests with this X-Forwarded-For.
    async fn refused(h: &Harness, xff: &str, n: usize) -> usize {
        let mut refused = 0;
        for _ in 0..n {
            let res = h
                .post("/token")
                .header("x-forwarded-for", xff)
                .send()
                .await
                .unwrap();
            refused += usize::from(res.status() == 429);
        }
        refused
    }
    // The loopback peer is a trusted proxy: the client is the last entry outside the ranges.
    let h = harness(fast_settings(), false, |c| {
        c.rate_limit_per_minute = 10; // a burst of 5
        c.trust_proxy = true;
        c.trusted_proxies = vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
    })
    .await;
    assert_eq!(refused(&h, "6.6.6.6, 203.0.113.9, 10.0.0.1", 7).await, 2);
    assert_eq!(
        refused(&h, "6.6.6.7, 203.0.113.9:4000", 1).await,
        1,
        "same client, other form"
    );
    assert_eq!(refused(&h, "203.0.113.10", 5).await, 0, "another client");
    // IPv6 clients are one per /64, however they rotate.
    assert_eq!(refused(&h, "2001:db8:1:2::1", 5).await, 0);
    assert_eq!(refused(&h, "[2001:db8:1:2:ffff::9]:443", 1).await, 1);
    // A forged entry followed by garbage counts as the proxy itself, not as the forgery.
    for i in 0..5 {
        let _ = refused(&h, &format!("198.51.100.{i}, unknown"), 1).await;
    }
    assert_eq!(refused(&h, "198.51.100.99, _hidden", 1).await, 1);

    // A peer that is not a trusted proxy: its X-Forwarded-For is ignored entirely.
    let h = harness(fast_settings(), false, |c| {
        c.rate_limit_per_minute = 10;
        c.trust_proxy = true;
        c.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let mut total = 0;
    for i in 0..7 {
        total += refused(&h, &format!("203.0.113.{i}"), 1).await;
    }
    assert_eq!(total, 2, "every request counted against the untrusted peer");
}

/// The reply as compared between the two paths: status, headers (but the date and a generated
/// request id) and body.
async fn reply_shape(res: reqwest::Response) -> (u16, Vec<(String, String)>, String) {
    let status = res.status().as_u16();
    let mut headers: Vec<(String, String)> = res
        .headers()
        .iter()
        .filter(|(k, _)| *k != "date")
        .map(|(k, v)| {
            let v = v.to_str().unwrap().to_owned();
            // A generated id is `{8 hex}-{counter}`: the same shape from both paths, another value.
            let v = match (k.as_str(), v.split_once('-')) {
                ("x-request-id", Some((p, n)))
                    if p.len() == 8 && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    "{generated}".to_owned()
                }
                _ => v,
            };
            (k.as_str().to_owned(), v)
        })
        .collect();
    headers.sort();
    let text = res.text().await.unwrap();
    // Two replies a moment apart may straddle a second: `expires_in` and `expires_at` are checked
    // for that, then compared as placeholders.
    let body = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(mut v) if v.get("expires_in").is_some() => {
            let expires_in = v["expires_in"].as_u64().unwrap();
            let expires_at = v["expires_at"].as_u64().unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            assert!((86_390..=86_400).contains(&expires_in), "{text}");
            assert!(expires_at.abs_diff(now + expires_in) <= 2, "{text}");
            v["expires_in"] = 0.into();
            v["expires_at"] = 0.into();
            v.to_string()
        }
        _ => text,
    };
    (status, headers, body)
}

#[tokio::test]
async fn the_fast_path_answers_exactly_like_the_router() {
    // `h` serves through the fast path; `plain` serves the same state through the router alone.
    let h = harness(fast_settings(), false, |c| c.rate_limit_per_minute = 1000).await;
    let plain = router_alone(&h).await;
    h.token().await; // cached from here on

    type Tweak = fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder;
    // What, the path, the request's tweak, and whether the fast path answers it.
    let cases: Vec<(&str, &str, Tweak, bool)> = vec![
        ("default route", "/token", |r| r, true),
        ("named route", "/token/default", |r| r, true),
        ("a query string", "/token?v=1", |r| r, true),
        ("an empty body", "/token", |r| r.body(""), true),
        (
            "a plain request id",
            "/token",
            |r| r.header("x-request-id", "abc-1.x_y"),
            true,
        ),
        (
            "an odd request id",
            "/token",
            |r| r.header("x-request-id", "a b"),
            true,
        ),
        (
            "a non-canonical origin",
            "/token",
            |r| r.header("origin", "HTTP://APP.test:3000"),
            true,
        ),
        // Left to the router:
        ("a percent-encoded name", "/token/defaul%74", |r| r, false),
        ("a body", "/token", |r| r.body("{}"), false),
        (
            "another origin",
            "/token",
            |r| r.header("origin", "https://evil.example"),
            false,
        ),
        (
            "a wrong CSRF value",
            "/token",
            |r| r.header("x-csrf", "0"),
            false,
        ),
        ("an unknown integration", "/token/nope", |r| r, false),
        ("a trailing slash", "/token/", |r| r, false),
    ];
    let mut token_200s = 1.0;
    let service = grafx_signer::SignerService::new(h.state.clone());
    for (what, path, tweak, by_fast_path) in cases {
        let request = |base: &str| {
            // `header` appends: build the defaults only when the case does not set them.
            let mut r = http().post(format!("{base}{path}"));
            let probe = tweak(http().post(format!("{base}{path}"))).build().unwrap();
            if !probe.headers().contains_key("origin") {
                r = r.header("origin", ORIGIN);
            }
            if !probe.headers().contains_key("x-csrf") {
                r = r.header("x-csrf", "1");
            }
            tweak(r)
        };
        // Which path answers it: the comparison below means something only if the fast path
        // really answers the cases it is meant to.
        let built = request(&h.url).build().unwrap();
        let mut probe = axum::http::Request::builder()
            .method(built.method().as_str())
            .uri(&built.url()[url::Position::BeforePath..]);
        for (name, value) in built.headers() {
            probe = probe.header(name, value);
        }
        let body = built.body().and_then(|b| b.as_bytes()).unwrap_or_default();
        let probe = probe.body(axum::body::Body::from(body.to_vec())).unwrap();
        assert_eq!(
            service.fast_reply(&probe, PEER).is_some(),
            by_fast_path,
            "{what}: answered by the fast path?"
        );
        // The probe's answer is counted like any other.
        if by_fast_path && !path.starts_with("/token/") {
            token_200s += 1.0;
        }
        let fast = reply_shape(request(&h.url).send().await.unwrap()).await;
        let slow = reply_shape(request(&plain).send().await.unwrap()).await;
        assert_eq!(fast, slow, "{what}: the fast path and the router differ");
        if fast.0 == 200 && !path.starts_with("/token/") {
            token_200s += 2.0;
        }
    }
    // Both paths count into the same metrics, once per request.
    let metrics = h.metrics().await;
    let served = requests_total(&metrics, "/token", 200);
    assert_eq!(served, token_200s, "{metrics}");
    assert_eq!(h.token_requests(), 1);
}

#[tokio::test]
async fn a_request_the_fast_path_leaves_to_the_router_is_rate_limited_once() {
    // A burst of 5 per IP, refilled every 6 s.
    let h = harness(fast_settings(), false, |c| c.rate_limit_per_minute = 10).await;
    h.token().await;
    // After the first token, four refusals the fast path looks at and leaves to the router: each
    // must cost one request of the allowance, not two, or one of them would already be a 429.
    // Five requests fill the burst of five, so the next one is over it.
    let url = format!("{}/token", h.url);
    let refused = [
        http()
            .post(&url)
            .header("origin", "https://evil.example")
            .header("x-csrf", "1"),
        http()
            .post(&url)
            .header("origin", ORIGIN)
            .header("x-csrf", "0"),
        h.post("/token/nope"),
        h.post("/token").body(vec![b'x'; 5000]),
    ];
    for (i, r) in refused.into_iter().enumerate() {
        let status = r.send().await.unwrap().status();
        assert!(
            status == 403 || status == 400 || status == 404 || status == 413,
            "request {i}: {status}"
        );
    }
    assert_eq!(
        h.post("/token").send().await.unwrap().status(),
        429,
        "the sixth request is over the burst of 5"
    );
}

/// The peer the fast-path tests pretend to be.
const PEER: std::net::SocketAddr = std::net::SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    40000,
));

/// A harness with a cached token, and the fast path over the same state.
async fn fast_path(
    tweak: impl FnOnce(&mut grafx_signer::Integration),
) -> (Harness, grafx_signer::SignerService) {
    let h = harness(fast_settings(), false, |c| {
        tweak(c.integrations.get_mut("default").unwrap())
    })
    .await;
    h.state.cache("default").unwrap().get().await.unwrap();
    let fast = grafx_signer::SignerService::new(h.state.clone());
    (h, fast)
}

fn fast_post(path: &str) -> axum::http::request::Builder {
    axum::http::Request::post(path)
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
}

#[tokio::test]
async fn answers_cached_token_requests_and_leaves_the_rest_to_the_router() {
    let (_h, fast) = fast_path(|_| {}).await;
    for path in ["/token", "/token/default", "/token?x=1"] {
        let res = fast
            .fast_reply(
                &fast_post(path).body(axum::body::Body::empty()).unwrap(),
                PEER,
            )
            .unwrap_or_else(|| panic!("{path} is answered by the fast path"));
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["access-control-allow-origin"], ORIGIN);
    }
    let left: [(&str, axum::http::Request<axum::body::Body>); 9] = [
        (
            "GET",
            axum::http::Request::get("/token")
                .header("origin", ORIGIN)
                .header("x-csrf", "1")
                .body(axum::body::Body::empty())
                .unwrap(),
        ),
        (
            "a body",
            fast_post("/token")
                .body(axum::body::Body::from("{}"))
                .unwrap(),
        ),
        (
            "no origin",
            axum::http::Request::post("/token")
                .header("x-csrf", "1")
                .body(axum::body::Body::empty())
                .unwrap(),
        ),
        (
            "another origin",
            axum::http::Request::post("/token")
                .header("origin", "https://evil.example")
                .header("x-csrf", "1")
                .body(axum::body::Body::empty())
                .unwrap(),
        ),
        (
            "no CSRF header",
            axum::http::Request::post("/token")
                .header("origin", ORIGIN)
                .body(axum::body::Body::empty())
                .unwrap(),
        ),
        (
            "an unknown integration",
            fast_post("/token/nope")
                .body(axum::body::Body::empty())
                .unwrap(),
        ),
        (
            "a percent-encoded name",
            fast_post("/token/defaul%74")
                .body(axum::body::Body::empty())
                .unwrap(),
        ),
        (
            "another route",
            fast_post("/tokens")
                .body(axum::body::Body::empty())
                .unwrap(),
        ),
        (
            "a trailing slash",
            fast_post("/token/")
                .body(axum::body::Body::empty())
                .unwrap(),
        ),
    ];
    for (what, req) in left {
        assert!(
            fast.fast_reply(&req, PEER).is_none(),
            "{what} is left to the router"
        );
    }
}

#[tokio::test]
async fn a_scope_policy_refusal_is_left_to_the_router() {
    let (_h, fast) = fast_path(|i| {
        i.browser_scopes = Some("template:list".parse().unwrap());
    })
    .await;
    let req = fast_post("/token").body(axum::body::Body::empty()).unwrap();
    assert!(
        fast.fast_reply(&req, PEER).is_none(),
        "a refused scope is the router's to word"
    );
}

#[tokio::test]
async fn the_proxy_in_front_of_the_router_answers_exactly_like_the_router() {
    // `h` serves `/api/…` in front of the router; `plain` serves the same state through the
    // router alone.
    let h = harness(fast_settings(), false, proxy::with_writer(|_| {})).await;
    let plain = router_alone(&h).await;
    type Tweak = fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder;
    let plain_headers: Tweak = |r| r.header("origin", ORIGIN).header("x-csrf", "1");
    let body = format!(r#"{{"template":{{"id":"{}"}}}}"#, proxy::TEMPLATE);
    // What, the method, the path, the request's tweak, and whether the proxy answers it in front
    // of the router.
    let cases: Vec<(&str, &str, &str, Tweak, bool)> = vec![
        (
            "a read",
            "GET",
            "/api/writer/output/settings",
            plain_headers,
            true,
        ),
        (
            "a read with a query",
            "GET",
            "/api/writer/output/settings?x=1",
            plain_headers,
            true,
        ),
        (
            "a write",
            "POST",
            "/api/writer/projects",
            plain_headers,
            true,
        ),
        (
            "a HEAD",
            "HEAD",
            "/api/writer/output/settings",
            plain_headers,
            true,
        ),
        (
            "a plain request id",
            "GET",
            "/api/writer/output/settings",
            |r| {
                r.header("origin", ORIGIN)
                    .header("x-csrf", "1")
                    .header("x-request-id", "abc-1.x_y")
            },
            true,
        ),
        (
            "an odd request id",
            "GET",
            "/api/writer/output/settings",
            |r| {
                r.header("origin", ORIGIN)
                    .header("x-csrf", "1")
                    .header("x-request-id", "a b")
            },
            true,
        ),
        (
            "a preflight",
            "OPTIONS",
            "/api/writer/projects",
            |r| {
                r.header("origin", ORIGIN)
                    .header("access-control-request-method", "POST")
            },
            true,
        ),
        (
            "a path not allowed",
            "DELETE",
            "/api/writer/projects/p1",
            plain_headers,
            true,
        ),
        (
            "no X-CSRF",
            "GET",
            "/api/writer/output/settings",
            |r| r.header("origin", ORIGIN),
            true,
        ),
        (
            "no Origin",
            "GET",
            "/api/writer/output/settings",
            |r| r.header("x-csrf", "1"),
            true,
        ),
        (
            "another origin",
            "GET",
            "/api/writer/output/settings",
            |r| {
                r.header("origin", "https://evil.example")
                    .header("x-csrf", "1")
            },
            true,
        ),
        (
            "the integration alone",
            "GET",
            "/api/writer",
            plain_headers,
            true,
        ),
        (
            "the integration and a slash",
            "GET",
            "/api/writer/",
            plain_headers,
            true,
        ),
        (
            "an unknown integration",
            "GET",
            "/api/nope/output/settings",
            plain_headers,
            true,
        ),
        (
            "an integration without a proxy",
            "GET",
            "/api/default/output/settings",
            plain_headers,
            true,
        ),
        (
            "a percent-encoded name",
            "GET",
            "/api/writ%65r/output/settings",
            plain_headers,
            true,
        ),
        // Left to the router:
        (
            "no integration",
            "GET",
            "/api//output/settings",
            plain_headers,
            false,
        ),
        ("the prefix alone", "GET", "/api/", plain_headers, false),
    ];
    let service = grafx_signer::SignerService::new(h.state.clone());
    let mut answered_200 = 0.0;
    for (what, method, path, tweak, in_front) in cases {
        let probe = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap();
        assert_eq!(
            service.proxies_in_front(&probe),
            in_front,
            "{what}: in front?"
        );
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let request = |base: &str| {
            let r = tweak(http().request(method.clone(), format!("{base}{path}")));
            if method == reqwest::Method::POST {
                r.header("content-type", "application/json")
                    .body(body.clone())
            } else {
                r
            }
        };
        let before = h.api_requests();
        let fast = reply_shape(request(&h.url).send().await.unwrap()).await;
        let slow = reply_shape(request(&plain).send().await.unwrap()).await;
        if method == reqwest::Method::POST {
            // Each write creates its own project: the same reply but for the project's id.
            let created = |headers: &[(String, String)]| -> Vec<(String, String)> {
                headers
                    .iter()
                    .map(|(k, v)| match (k.as_str(), v.strip_prefix("projects/")) {
                        ("location", Some(id)) if id.len() == 36 => {
                            (k.clone(), "projects/{id}".into())
                        }
                        _ => (k.clone(), v.clone()),
                    })
                    .collect()
            };
            assert_eq!(
                (fast.0, created(&fast.1)),
                (slow.0, created(&slow.1)),
                "{what}: the two paths differ"
            );
            assert!(fast.2.contains("\"id\""), "{what}: {}", fast.2);
        } else {
            assert_eq!(fast, slow, "{what}: the two paths differ");
        }
        // Both forwarded what they answered 2xx, and nothing else.
        let forwarded = h.api_requests() - before;
        let ok = (200..300).contains(&fast.0) && method != reqwest::Method::OPTIONS;
        assert_eq!(
            forwarded,
            if ok { 2 } else { 0 },
            "{what}: forwarded {forwarded}"
        );
        if fast.0 == 200 {
            answered_200 += 2.0;
        }
        if what.contains("request id") && what.contains("plain") {
            let id = fast.1.iter().find(|(k, _)| k == "x-request-id").unwrap();
            assert_eq!(id.1, "abc-1.x_y", "{what}: a plain id is echoed");
        }
        if what.contains("odd request id") {
            let id = fast.1.iter().find(|(k, _)| k == "x-request-id").unwrap();
            assert_eq!(id.1, "{generated}", "{what}: an odd id is replaced");
        }
    }
    // Both paths count into the router's metrics, once per request.
    let metrics = h.metrics().await;
    let served = requests_total(&metrics, "/api/{integration}", 200);
    assert!(answered_200 >= 6.0, "the reads were answered");
    assert_eq!(served, answered_200, "{metrics}");
}

/// `grafx_signer_http_requests_total` for `route` and `status`, read from the metrics page.
fn requests_total(metrics: &str, route: &str, status: u16) -> f64 {
    metrics
        .lines()
        .find(|l| {
            l.starts_with("grafx_signer_http_requests_total{")
                && l.contains(&format!("route=\"{route}\""))
                && l.contains(&format!("status=\"{status}\""))
        })
        .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no {route} {status} count in {metrics}"))
}

/// The same state as `h` served through the router alone (no fast path, no proxy in front): its
/// base URL.
async fn router_alone(h: &Harness) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain = format!("http://{}", listener.local_addr().unwrap());
    let router = grafx_signer::SignerService::router_only(grafx_signer::app(h.state.clone()));
    let options = h.state.config().serve_options();
    tokio::spawn(grafx_signer::serve(
        listener,
        router,
        options,
        std::future::pending(),
    ));
    plain
}
