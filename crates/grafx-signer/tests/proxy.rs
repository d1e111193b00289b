//! The API proxy (`/api/{integration}/…`) through real parts: the signer on a loopback socket,
//! the emulator behind it, every gate, what reaches the emulator (its journal) and what comes back.
#![allow(clippy::unwrap_used)]

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use common::proxy::*;
use common::*;
use grafx_emulator::Settings;
use grafx_signer::ProxyRule;
use grafx_signer::{CallerConfig, CallerMethod, ProxyQuota, SessionKey, SignerConfig};
use serde_json::{json, Value};

fn settings() -> Settings {
    Settings {
        output_render_ms: 50,
        ..fast_settings()
    }
}

#[tokio::test]
async fn a_project_is_created_and_a_pdf_rendered_with_the_server_side_token() {
    let h = harness(settings(), false, with_writer(|_| {})).await;
    // The writer's token is not handed out, even to the allowed origin.
    let (_, msg) = error(
        h.post("/token/writer").send().await.unwrap(),
        403,
        "origin_not_allowed",
    )
    .await;
    assert!(msg.contains("server-side"), "{msg}");
    h.emulator.emulator().clear_requests();

    let res = h
        .api(reqwest::Method::POST, "projects")
        .json(&json!({ "template": { "id": TEMPLATE }, "name": "Through the proxy" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        ORIGIN,
        "the page may read the reply"
    );
    // CHILI's content is served from the signer's origin: never as a page that runs.
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("sandbox"));
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let (headers, body) = (res.headers().clone(), res.bytes().await.unwrap());
    let token = h.writer_token().await;
    assert_no_token(&headers, &body, &token);
    let project: Value = serde_json::from_slice(&body).unwrap();
    let id = project["id"].as_str().unwrap();
    // `Location` leads back through the proxy, relative to the request.
    assert_eq!(location, format!("projects/{id}"));
    let wire = h.emulator.emulator().requests();
    assert_eq!(wire.len(), 1);
    assert_eq!(
        (wire[0].method.as_str(), wire[0].path.as_str()),
        ("POST", "projects")
    );
    assert!(wire[0].bearer);
    assert_eq!(
        wire[0].body,
        json!({ "template": { "id": TEMPLATE }, "name": "Through the proxy" })
    );

    // A PDF: the task, its poll, the download, all through the proxy.
    let settings: Value = h
        .api(reqwest::Method::GET, "output/settings")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pdf_setting = settings["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("pdf"))
        })
        .unwrap()["id"]
        .clone();
    let res = h
        .api(reqwest::Method::POST, "output/pdf")
        .json(&json!({ "projectId": id, "outputSettingsId": pdf_setting }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let task: Value = res.json().await.unwrap();
    let task_id = task["data"]["taskId"].as_str().unwrap().to_owned();
    // Polled for at most 10 s: a render that never finishes fails the test, not hangs it.
    let mut done = None;
    for _ in 0..300 {
        let res = h
            .api(reqwest::Method::GET, &format!("output/tasks/{task_id}"))
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            done = Some(res);
            break;
        }
        assert!(
            matches!(res.status().as_u16(), 202 | 204),
            "{}",
            res.status()
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let done = done.expect("the render finished within 10 s");
    let poll_url = done.url().clone();
    let (headers, body) = (done.headers().clone(), done.bytes().await.unwrap());
    assert_no_token(&headers, &body, &token);
    let done: Value = serde_json::from_slice(&body).unwrap();
    let link = done["links"]["download"].as_str().unwrap();
    assert!(
        !link.contains("://"),
        "CHILI's URL is made relative: {link}"
    );
    let download = poll_url.join(link).unwrap();
    assert_eq!(
        download.path(),
        format!("/api/writer/output/tasks/{task_id}/download")
    );
    let res = http()
        .get(download)
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let (headers, pdf) = (res.headers().clone(), res.bytes().await.unwrap());
    assert!(pdf.starts_with(b"%PDF"));
    assert_no_token(&headers, &pdf, &token);
    // The metrics count what went through (the audit lines themselves are read from the
    // binary's log in binary.rs: `a_large_download_streams_through_the_proxy_without_being_held`).
    let metrics = h.metrics().await;
    assert!(
        metrics.contains(r#"grafx_signer_proxy_requests_total{integration="writer",method="POST",status="201"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn requests_outside_the_allow_list_never_reach_chili() {
    let h = harness(settings(), false, with_writer(|_| {})).await;
    let before = h.api_requests();
    for (method, path) in [
        (reqwest::Method::DELETE, "projects/p1"),
        (reqwest::Method::GET, "templates"),
        (reqwest::Method::GET, "projects"),
        (reqwest::Method::PUT, "projects/p1"),
        (reqwest::Method::POST, "output/tasks/t1"),
        (reqwest::Method::GET, "projects/..%2Ftemplates"),
        (reqwest::Method::GET, "projects/%2e%2e/templates"),
        (reqwest::Method::GET, "projects/%2E%2E%2Ftemplates"),
        (reqwest::Method::GET, "projects//x"),
        (reqwest::Method::GET, ""),
    ] {
        let res = h.api(method.clone(), path).send().await.unwrap();
        let (_, msg) = error(res, 403, "proxy_path_not_allowed").await;
        assert!(!msg.is_empty(), "{method} {path}");
    }
    // A raw `..` (which clients normally resolve away) is refused too.
    let mut raw = tokio::net::TcpStream::connect(h.url.trim_start_matches("http://"))
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    raw.write_all(
        format!("GET /api/writer/projects/../templates HTTP/1.1\r\nhost: x\r\norigin: {ORIGIN}\r\nx-csrf: 1\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut reply = String::new();
    raw.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
    assert!(reply.contains("proxy_path_not_allowed"), "{reply}");
    assert_eq!(h.api_requests(), before, "the emulator saw none of them");
}

#[tokio::test]
async fn the_origin_csrf_and_integration_gates() {
    let h = harness(settings(), false, with_writer(|_| {})).await;
    let url = |p: &str| format!("{}{p}", h.url);
    // `GET output/settings` (allowed) with exactly these headers.
    let settings_with = |headers: &[(&str, &str)]| {
        let mut req = http().get(url("/api/writer/output/settings"));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send()
    };
    let no_origin = settings_with(&[("x-csrf", "1")]).await.unwrap();
    error(no_origin, 403, "origin_not_allowed").await;
    let other = settings_with(&[("origin", "https://evil.test"), ("x-csrf", "1")])
        .await
        .unwrap();
    let (headers, _) = error(other, 403, "origin_not_allowed").await;
    assert!(!headers.contains_key("access-control-allow-origin"));
    // A same-origin GET carries no Origin; the browser's `Sec-Fetch-Site` says where it is from,
    // and the `Host` must be an allowed origin's (the page is on the signer's own origin).
    let app_host = ORIGIN.strip_prefix("http://").unwrap();
    let same_origin = settings_with(&[
        ("host", app_host),
        ("sec-fetch-site", "same-origin"),
        ("x-csrf", "1"),
    ])
    .await
    .unwrap();
    assert_eq!(same_origin.status(), 200);
    // DNS rebinding: a page on the attacker's name, now resolving to the signer, is
    // "same-origin" to the browser too; its Host gives it away. So does the signer's bare
    // address, which no allowed origin names.
    let api_calls = h.api_requests();
    for host in ["rebind.attacker.example:3000", &h.url["http://".len()..]] {
        let rebound = settings_with(&[
            ("host", host),
            ("sec-fetch-site", "same-origin"),
            ("x-csrf", "1"),
        ])
        .await
        .unwrap();
        let (_, msg) = error(rebound, 403, "origin_not_allowed").await;
        assert!(
            msg.contains("not one of the proxy's allowed origins"),
            "{host}: {msg}"
        );
    }
    assert_eq!(
        h.api_requests(),
        api_calls,
        "nothing forwarded for a rebound host"
    );
    assert!(!same_origin
        .headers()
        .contains_key("access-control-allow-origin"));
    // Only for reads: a write always carries its Origin, and a spelled-out one is checked.
    let same_origin_write = http()
        .post(url("/api/writer/projects"))
        .header("sec-fetch-site", "same-origin")
        .header("x-csrf", "1")
        .json(&json!({ "template": { "id": TEMPLATE } }))
        .send()
        .await
        .unwrap();
    error(same_origin_write, 403, "origin_not_allowed").await;
    for spelled in ["same-origin", "(same origin)"] {
        let res = settings_with(&[
            ("origin", spelled),
            ("sec-fetch-site", "same-origin"),
            ("x-csrf", "1"),
        ])
        .await
        .unwrap();
        error(res, 403, "origin_not_allowed").await;
    }
    let cross_site = settings_with(&[("sec-fetch-site", "cross-site"), ("x-csrf", "1")])
        .await
        .unwrap();
    error(cross_site, 403, "origin_not_allowed").await;
    let before = h.api_requests();
    let no_csrf = http()
        .get(url("/api/writer/output/settings"))
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    error(no_csrf, 403, "csrf_header_missing").await;
    let unknown = http()
        .get(url("/api/nobody/output/settings"))
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .send()
        .await
        .unwrap();
    error(unknown, 404, "unknown_integration").await;
    // The browser-facing reader has no proxy.
    let reader = http()
        .get(url("/api/default/templates"))
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .send()
        .await
        .unwrap();
    let (_, msg) = error(reader, 403, "proxy_path_not_allowed").await;
    assert!(msg.contains("no API proxy"), "{msg}");
    assert_eq!(h.api_requests(), before);
    // The preflight: allowed origin only.
    let pre = http()
        .request(reqwest::Method::OPTIONS, url("/api/writer/projects"))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-csrf, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], ORIGIN);
    assert_eq!(pre.headers()["access-control-allow-credentials"], "true");
    assert!(pre.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("PUT"));
    let pre = http()
        .request(reqwest::Method::OPTIONS, url("/api/writer/projects"))
        .header("origin", "https://evil.test")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 403);
}

#[tokio::test]
async fn with_caller_auth_a_session_is_required_and_quotas_are_per_user() {
    let caller = CallerConfig::new(CallerMethod::JwtSecret(SessionKey::new(HS_SECRET.into())))
        .with_audience("grafx-signer");
    let h = harness(settings(), false, move |config: &mut SignerConfig| {
        with_writer(|p| {
            p.require_caller = true;
            p.quotas = vec![ProxyQuota {
                rule: ProxyRule::parse("POST output/*").unwrap(),
                per_hour: NonZeroU32::new(2).unwrap(),
            }];
        })(config);
        config.integrations.get_mut("writer").unwrap().caller = Some(caller);
    })
    .await;
    let before = h.api_requests();
    let res = h
        .api(reqwest::Method::GET, "output/settings")
        .send()
        .await
        .unwrap();
    let (headers, _) = error(res, 401, "caller_unauthenticated").await;
    assert!(headers.contains_key("www-authenticate"));
    assert_eq!(h.api_requests(), before, "refused before CHILI");

    let render = |who: &str| {
        h.api(reqwest::Method::POST, "output/pdf")
            .bearer_auth(session(who))
            .json(&json!({ "templateId": TEMPLATE }))
            .send()
    };
    assert_eq!(render("alice").await.unwrap().status(), 200);
    assert_eq!(render("alice").await.unwrap().status(), 200);
    let calls = h.api_requests();
    let (headers, msg) = error(render("alice").await.unwrap(), 429, "quota_exceeded").await;
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (1700..=1800).contains(&wait),
        "half an hour for one of 2 per hour: {wait}"
    );
    assert!(
        msg.contains("POST output/*") && msg.contains("2 per hour"),
        "{msg}"
    );
    assert_eq!(
        h.api_requests(),
        calls,
        "the refused render never reached CHILI"
    );
    // Other spellings of the same path are the same path: charged, so refused.
    for spelled in ["output/%70df", "Output/PDF"] {
        let res = h
            .api(reqwest::Method::POST, spelled)
            .bearer_auth(session("alice"))
            .json(&json!({ "templateId": TEMPLATE }))
            .send()
            .await
            .unwrap();
        error(res, 429, "quota_exceeded").await;
    }
    // Another user has their own allowance; reads are not counted.
    assert_eq!(render("bob").await.unwrap().status(), 200);
    let read = h
        .api(reqwest::Method::GET, "output/settings")
        .bearer_auth(session("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
}

#[tokio::test]
async fn anonymous_callers_are_counted_per_ip() {
    let h = harness(
        settings(),
        false,
        with_writer(|p| {
            p.quotas = vec![ProxyQuota {
                rule: ProxyRule::parse("POST projects").unwrap(),
                per_hour: NonZeroU32::new(1).unwrap(),
            }];
        }),
    )
    .await;
    let create = || {
        h.api(reqwest::Method::POST, "projects")
            .json(&json!({ "template": { "id": TEMPLATE } }))
            .send()
    };
    assert_eq!(create().await.unwrap().status(), 201);
    let (headers, _) = error(create().await.unwrap(), 429, "quota_exceeded").await;
    assert!(headers.contains_key("retry-after"));
}

#[tokio::test]
async fn a_401_from_chili_is_retried_once_with_a_new_token() {
    // An emulator that mints a new token on every request (CHILI re-issues only in the last
    // hour; this makes a new one available at once).
    let s = Settings {
        reissue_window_secs: 86_400,
        ..settings()
    };
    let h = harness(s, false, with_writer(|_| {})).await;
    let first = h.writer_token().await;
    let tokens = h.token_requests();
    h.arm_chili_401();
    let res = h.post_project().await;
    assert_eq!(res.status(), 201, "retried with a new token");
    assert_eq!(h.token_requests(), tokens + 1, "one refresh");
    assert_ne!(h.writer_token().await, first);
    let created: Vec<_> = h
        .emulator
        .emulator()
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "projects")
        .collect();
    assert_eq!(created.len(), 2, "the request, then its one retry");
    assert_eq!(
        created[0].body, created[1].body,
        "the same body, sent again"
    );
    // The retry carried the replacement, not the refused token once more.
    let sent: Vec<_> = created.iter().map(|r| r.token_id.clone()).collect();
    assert!(sent.iter().all(Option::is_some), "{sent:?}");
    assert_ne!(sent[0], sent[1], "a new token on the retry");
}

#[tokio::test]
async fn a_401_with_no_other_token_to_be_had_goes_back_as_chili_sent_it() {
    // CHILI hands back the same token until its last hour: no retry, no loop.
    let h = harness(settings(), false, with_writer(|_| {})).await;
    let _ = h.writer_token().await;
    let tokens = h.token_requests();
    for _ in 0..3 {
        h.arm_chili_401();
        let res = h
            .api(reqwest::Method::GET, "output/settings")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        assert!(!res.headers().contains_key("www-authenticate"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["title"], "Unauthorized",
            "CHILI's problem, passed through"
        );
    }
    // At most one refresh (the minimum interval holds the others back); each gave the same token.
    assert!(h.token_requests() <= tokens + 1, "{}", h.token_requests());
}

#[tokio::test]
async fn what_reaches_chili_is_percent_encoded_as_the_url_crate_would() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = harness(settings(), false, with_writer(|_| {})).await;
    h.emulator.emulator().clear_requests();
    // `"`, `{`, `}` in a path and `'` in a query pass the signer's HTTP server raw; a browser
    // (and the `url` crate) would have percent-encoded them, and so does the proxy.
    let addr = h.url.strip_prefix("http://").unwrap();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET /api/writer/output/tasks/a{{b}}\"c%41?q='x'&r=`y`%27 HTTP/1.1\r\nHost: {addr}\r\nOrigin: {ORIGIN}\r\nX-CSRF: 1\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut reply = String::new();
    tcp.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 404"), "no such task: {reply}");
    let wire = h.emulator.emulator().requests();
    assert_eq!(wire.len(), 1, "{wire:?}");
    // The path is canonical (`%41` is `A`) and encoded; the query's escapes are kept, and what
    // the url crate would encode is.
    assert_eq!(wire[0].path, "output/tasks/a%7Bb%7D%22cA");
    assert_eq!(wire[0].query.as_deref(), Some("q=%27x%27&r=`y`%27"));
    // No `Accept` from the page: anything, as reqwest asked before.
    assert_eq!(wire[0].accept.as_deref(), Some("*/*"));
}

#[tokio::test]
async fn a_silent_chili_gets_504_after_the_proxy_timeout() {
    // One rule for every wait on CHILI: silent for `proxy_timeout_secs` before its reply, or in
    // the middle of a reply the proxy must read, gives 504 `proxy_upstream_timeout`.
    let h = harness(settings(), false, |c: &mut SignerConfig| {
        with_writer(|_| {})(c);
        c.proxy_timeout = Duration::from_secs(1);
    })
    .await;
    let _ = h.writer_token().await;
    for fault in [
        grafx_emulator::Fault::Delay { ms: 3_000 },
        grafx_emulator::Fault::SlowBody { ms: 3_000 },
    ] {
        let what = format!("{fault:?}");
        h.emulator
            .emulator()
            .arm_fault(grafx_emulator::FaultSpec {
                target: grafx_emulator::FaultTarget::Api,
                times: 1,
                fault,
            })
            .unwrap();
        let started = std::time::Instant::now();
        let res = h
            .api(reqwest::Method::GET, "output/settings")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 504, "{what}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "proxy_upstream_timeout", "{what}: {body}");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(1) && waited < Duration::from_millis(2_900),
            "{what}: answered after {waited:?}, not at the 1 s timeout"
        );
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_and_large_ones_stream() {
    let h = harness(
        settings(),
        false,
        with_writer(|p| p.max_request_bytes = 1024 * 1024),
    )
    .await;
    let created: Value = h.post_project().await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let before = h.api_requests();
    let huge = vec![b' '; 2 * 1024 * 1024];
    let res = h
        .api(reqwest::Method::PUT, &format!("projects/{id}/document"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    error(res, 413, "payload_too_large").await;
    // Without a Content-Length (a stream), refused on the way.
    let chunks = (0..40).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024]));
    let res = h
        .api(reqwest::Method::PUT, &format!("projects/{id}/document"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    if let Ok(res) = res {
        // The signer may answer before the client finished sending, or cut the upload.
        assert_eq!(res.status(), 413);
    }
    assert_eq!(
        h.api_requests(),
        before,
        "nothing over the limit reached CHILI"
    );
    // A document larger than the replay buffer (256 KiB) but within the limit streams through.
    let doc = json!({ "pages": [{ "frames": (0..6000).map(|i| json!({"id": i, "text": "x".repeat(64)})).collect::<Vec<_>>() }] });
    let text = doc.to_string();
    assert!(text.len() > 256 * 1024 && text.len() < 1024 * 1024);
    let res = h
        .api(reqwest::Method::PUT, &format!("projects/{id}/document"))
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let stored: Value = h
        .api(reqwest::Method::GET, &format!("projects/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["id"], id.as_str());
    let last = h.emulator.emulator().requests();
    let put = last.iter().rev().find(|r| r.method == "PUT").unwrap();
    assert_eq!(put.body, doc, "the streamed document arrived whole");
}

/// An Environment API on loopback that answers requests on each connection (200, `{}`,
/// keep-alive; the first answer once two connections have asked) until request number
/// `closes_at` (from 0) arrives, which it reads and answers by closing the connection: with 1,
/// CHILI closing an idle connection just as the proxy sends on it. The request lines it read,
/// each with its connection's number.
async fn closes_connections(
    closes_at: usize,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!(
        "http://{}/grafx/api/v1/environment/demo/",
        listener.local_addr().unwrap()
    );
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let firsts = std::sync::Arc::new(tokio::sync::watch::Sender::new(0usize));
    tokio::spawn(async move {
        let mut number = 0;
        while let Ok((mut conn, _)) = listener.accept().await {
            number += 1;
            let (log, firsts) = (log.clone(), firsts.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                for served in 0.. {
                    // The head, then as much body as it announces.
                    let end = loop {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break end + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    while buf.len() < end + length {
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let line = head.lines().next().unwrap_or_default().to_owned();
                    log.lock().unwrap().push(format!("{number} {line}"));
                    buf.drain(..end + length);
                    if served == closes_at {
                        return; // closed, unanswered
                    }
                    // The first two connections' first answers wait for both requests, so two
                    // GETs at once always take two connections.
                    if served == 0 {
                        firsts.send_modify(|n| *n += 1);
                        let _ = firsts.subscribe().wait_for(|n| *n >= 2).await;
                    }
                    let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    if conn.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (api, seen)
}

#[tokio::test]
async fn a_get_goes_once_more_when_chili_closed_its_reused_connection_and_a_post_does_not() {
    let on = |api: String| {
        move |config: &mut SignerConfig| {
            with_writer(|_| {})(config);
            let writer = config.integrations.get_mut("writer").unwrap();
            writer.environment_api_url = grafx_core::EnvironmentApiUrl::parse(&api).unwrap();
        }
    };
    let (api, seen) = closes_connections(1).await;
    let h = harness(settings(), false, on(api)).await;
    let get = || async {
        let res = h
            .api(reqwest::Method::GET, "output/settings")
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    };
    let get_line = "get /grafx/api/v1/environment/demo/output/settings http/1.1";
    // Two at once: two pooled connections, each served once.
    let (a, b) = tokio::join!(get(), get());
    assert_eq!([a, b], [(200, "{}".to_owned()), (200, "{}".to_owned())]);
    let mut first = seen.lock().unwrap().clone();
    first.sort();
    assert_eq!(first, [format!("1 {get_line}"), format!("2 {get_line}")]);
    // The newest pooled connection is closed as the request arrives: the GET goes once more,
    // on a new connection (not the other pooled one, which CHILI would close too), and the page
    // never sees the failure.
    assert_eq!(get().await, (200, "{}".to_owned()));
    let again = seen.lock().unwrap()[2..].to_vec();
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(
        again[0].ends_with(get_line) && !again[0].starts_with('3'),
        "{again:?}"
    );
    assert_eq!(again[1], format!("3 {get_line}"));
    // A POST on the reused connection is not sent again: CHILI may have acted on it.
    let res = h.post_project().await;
    error(res, 502, "proxy_upstream_failed").await;
    let post_line = "post /grafx/api/v1/environment/demo/projects http/1.1";
    assert_eq!(
        seen.lock().unwrap()[4..],
        [format!("3 {post_line}")],
        "the POST was sent once"
    );
    // A GET that fails on a new connection is not sent again: no reused connection failed.
    let (api, seen) = closes_connections(0).await;
    let h = harness(settings(), false, on(api)).await;
    let res = h
        .api(reqwest::Method::GET, "output/settings")
        .send()
        .await
        .unwrap();
    error(res, 502, "proxy_upstream_failed").await;
    assert_eq!(*seen.lock().unwrap(), [format!("1 {get_line}")]);
}
