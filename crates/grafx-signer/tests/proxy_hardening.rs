//! The API proxy under attack: slow bodies, a reader that stops, held bodies across connections,
//! user-written documents, a token echoed in every shape, and reloads. Each test is the attack an
//! independent review reproduced against a running signer, through real loopback sockets.
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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn settings() -> Settings {
    Settings {
        output_render_ms: 20,
        ..fast_settings()
    }
}

/// A raw request head to `/api/writer/{path}` from the allowed origin.
fn head(h: &Harness, method: &str, path: &str, content_length: usize) -> String {
    let host = &h.url["http://".len()..];
    format!(
        "{method} /api/writer/{path} HTTP/1.1\r\nHost: {host}\r\nOrigin: {ORIGIN}\r\nX-CSRF: 1\r\nContent-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
    )
}

async fn connect(h: &Harness) -> TcpStream {
    TcpStream::connect(&h.url["http://".len()..]).await.unwrap()
}

/// The status and body of the reply on `stream` (read to the end of the connection or the
/// announced length), within `secs`.
async fn reply_of(stream: &mut TcpStream, secs: u64) -> (u16, String) {
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 8192];
        loop {
            let n = stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|v| v.trim().parse::<usize>().ok());
                if len.is_some_and(|len| body.len() >= len) {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), read)
        .await
        .expect("no reply in time");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_get_408_and_never_reach_chili() {
    let h = harness(settings(), false, |c: &mut SignerConfig| {
        with_writer(|_| {})(c);
        c.request_timeout = Duration::from_secs(2);
        c.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let before = h.api_requests();
    // Twenty clients send their headers and one byte of a 100 kB body, then nothing.
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut s = connect(&h).await;
        s.write_all(head(&h, "POST", "projects", 100_000).as_bytes())
            .await
            .unwrap();
        s.write_all(b"{").await.unwrap();
        stalled.push(s);
    }
    // One trickles a byte every 400 ms: never idle for a second, but late for the deadline.
    let mut trickle = connect(&h).await;
    trickle
        .write_all(head(&h, "POST", "projects", 100_000).as_bytes())
        .await
        .unwrap();
    let trickling = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        for _ in 0..15 {
            if trickle.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        let reply = reply_of(&mut trickle, 10).await;
        (reply, started.elapsed())
    });
    // The signer answers others meanwhile.
    let health = http()
        .get(format!("{}/healthz", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    for mut s in stalled {
        let (status, body) = reply_of(&mut s, 10).await;
        assert_eq!(status, 408, "{body}");
        assert!(
            body.contains("request_timeout") && body.contains("paused"),
            "{body}"
        );
    }
    let ((status, body), took) = trickling.await.unwrap();
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("did not arrive within 2"), "{body}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(h.api_requests(), before, "no slow body reached CHILI");

    // A body larger than the held part stalls while it streams: 408 too.
    let mut s = connect(&h).await;
    s.write_all(head(&h, "POST", "projects", 1_000_000).as_bytes())
        .await
        .unwrap();
    s.write_all(&vec![b' '; 400 * 1024]).await.unwrap();
    let (status, body) = reply_of(&mut s, 10).await;
    assert_eq!(status, 408, "{body}");
}

/// `grafx_signer_proxy_held_body_bytes` now.
async fn held_bytes(h: &Harness) -> u64 {
    let metrics = h.metrics().await;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("grafx_signer_proxy_held_body_bytes "))
        .unwrap_or_else(|| panic!("no gauge in {metrics}"))
        .trim()
        .parse()
        .unwrap()
}

/// A connection to the signer from `ip` (any 127.0.0.0/8 address is this machine): the budget
/// counts each client address apart.
async fn connect_from(h: &Harness, ip: [u8; 4]) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((ip, 0))).unwrap();
    socket
        .connect(h.url["http://".len()..].parse().unwrap())
        .await
        .unwrap()
}

/// Sends `sent` bytes of a `length`-byte project body from `ip`, and leaves it unfinished.
async fn stalled_body(h: &Harness, ip: [u8; 4], length: usize, sent: usize) -> TcpStream {
    let mut s = connect_from(h, ip).await;
    s.write_all(head(h, "POST", "projects", length).as_bytes())
        .await
        .unwrap();
    // The signer may refuse (and close) before every byte is in.
    let _ = s.write_all(&vec![b' '; sent]).await;
    s
}

/// Waits (up to 10 s) until `done` holds for the held-bytes gauge; returns its last value.
async fn held_until(h: &Harness, done: impl Fn(u64) -> bool) -> u64 {
    let mut held = held_bytes(h).await;
    for _ in 0..200 {
        if done(held) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        held = held_bytes(h).await;
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_bodies_share_one_memory_budget_and_no_client_waits_for_room() {
    const BUDGET: u32 = grafx_signer::defaults::MIN_PROXY_HELD_BODY_BYTES; // 2 MiB
    const SHARE: u64 = BUDGET as u64 / 4;
    let h = harness(settings(), false, |c: &mut SignerConfig| {
        with_writer(|_| {})(c);
        c.proxy_held_body_bytes = BUDGET;
        c.header_read_timeout = Duration::from_secs(30);
    })
    .await;
    let busy = |why: &'static str| {
        move |(status, body): (u16, String)| {
            assert_eq!(status, 503, "{body}");
            assert!(body.contains("proxy_busy") && body.contains(why), "{body}");
        }
    };

    // One address holds at most a quarter: its third 200 kB body is refused at once.
    let mut one = Vec::new();
    for _ in 0..2 {
        one.push(stalled_body(&h, [127, 0, 0, 20], 250_000, 200_000).await);
    }
    assert_eq!(held_until(&h, |n| n >= 400_000).await, 400_000);
    let mut third = stalled_body(&h, [127, 0, 0, 20], 250_000, 200_000).await;
    busy("share")(reply_of(&mut third, 5).await);
    assert!(held_bytes(&h).await <= SHARE);
    drop(one);
    assert_eq!(held_until(&h, |n| n == 0).await, 0, "the room comes back");

    // Eight addresses fill the budget; a ninth is refused at once, not queued.
    let mut clients = Vec::new();
    for i in 2..10 {
        clients.push(stalled_body(&h, [127, 0, 0, i], 250_000, 240_000).await);
    }
    assert_eq!(held_until(&h, |n| n >= 8 * 240_000).await, 8 * 240_000);
    let before = h.api_requests();
    let mut ninth = stalled_body(&h, [127, 0, 0, 10], 250_000, 240_000).await;
    busy("proxy_held_body_bytes")(reply_of(&mut ninth, 5).await);
    assert_eq!(
        h.api_requests(),
        before,
        "nothing of a refused body reached CHILI"
    );

    // One finishes its body: it is forwarded, answered, and its room is given back.
    let mut first = clients.remove(0);
    first.write_all(&vec![b' '; 10_000]).await.unwrap();
    let (status, body) = reply_of(&mut first, 10).await;
    assert!(
        (400..500).contains(&status) && status != 408,
        "CHILI's answer to a blank body: {status} {body}"
    );
    assert_eq!(held_until(&h, |n| n <= 7 * 240_000).await, 7 * 240_000);
    let mut retry = stalled_body(&h, [127, 0, 0, 10], 250_000, 250_000).await;
    let (status, body) = reply_of(&mut retry, 10).await;
    assert!(status != 503 && status != 408, "{status} {body}");
    drop(clients);
    assert_eq!(held_until(&h, |n| n == 0).await, 0);

    // A body too large to hold gives its room back once its held part is on its way to CHILI,
    // while its upload is still open.
    // (A pause may last 30 s here: the upload stays open while the gauge is read.)
    // (The emulator records a request once its body is whole, so the gauge and the open
    // connection are what show the upload on its way.)
    let mut upload = stalled_body(&h, [127, 0, 0, 11], 1_000_000, 400 * 1024).await;
    assert_eq!(held_until(&h, |n| n == 0).await, 0, "held while streaming");
    let mut probe = [0u8; 1];
    let open = tokio::time::timeout(Duration::from_millis(100), upload.read(&mut probe)).await;
    assert!(open.is_err(), "the upload is still open, unanswered");
}

/// Established TCP connections with `port` at either end, on this machine (both ends of a
/// loopback connection count).
fn connections_on(port: u16) -> usize {
    let port = format!("{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| t.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3
                && f[3] == "01"
                && (f[1].ends_with(&format!(":{port}")) || f[2].ends_with(&format!(":{port}")))
        })
        .count()
}

/// Renders a PDF through the proxy and returns its download path under `/api/writer/`.
async fn rendered(h: &Harness) -> String {
    let task: Value = h
        .api(reqwest::Method::POST, "output/pdf")
        .json(&json!({ "templateId": TEMPLATE }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = task["data"]["taskId"].as_str().unwrap().to_owned();
    for _ in 0..200 {
        let res = h
            .api(reqwest::Method::GET, &format!("output/tasks/{id}"))
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            return format!("output/tasks/{id}/download");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the render did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_so_is_chilis_download() {
    const SIZE: u64 = 64 * 1024 * 1024;
    let h = harness(
        Settings {
            output_min_bytes: SIZE,
            ..settings()
        },
        false,
        |c: &mut SignerConfig| {
            with_writer(|_| {})(c);
            c.write_timeout = Duration::from_secs(1);
        },
    )
    .await;
    let download = rendered(&h).await;
    let emulator_port = h.emulator.addr().port();
    let mut s = connect(&h).await;
    let host = &h.url["http://".len()..];
    s.write_all(
        format!("GET /api/writer/{download} HTTP/1.1\r\nHost: {host}\r\nOrigin: {ORIGIN}\r\nX-CSRF: 1\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut first = vec![0u8; 64 * 1024];
    s.read_exact(&mut first).await.unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200"));
    // The client stops reading. The download from CHILI is open while the signer waits.
    let during = connections_on(emulator_port);
    let mut after = during;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = connections_on(emulator_port);
        if after + 2 <= during {
            break;
        }
    }
    assert!(
        after + 2 <= during,
        "the connection to CHILI stayed open: {during} then {after} established"
    );
    // The client's connection was closed too: what it reads now ends early.
    let mut rest = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => rest += n as u64,
            Err(_) => panic!("the signer kept the stalled connection open"),
        }
    }
    assert!(rest + 65536 < SIZE, "read {rest} more bytes of {SIZE}");
}

#[tokio::test]
async fn documents_pass_byte_for_byte_and_only_top_level_links_change() {
    let h = harness(
        settings(),
        false,
        // The default allow-list reads the document back.
        with_writer(|_| {}),
    )
    .await;
    let project: Value = h
        .api(reqwest::Method::POST, "projects")
        .json(&json!({ "template": { "id": TEMPLATE }, "name": "Mine" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = project["id"]
        .as_str()
        .or(project["data"]["id"].as_str())
        .unwrap()
        .to_owned();
    // A document a user wrote, holding API URLs, even under a `links` key of its own.
    let api = h.emulator.emulator().environment_api_url();
    let link = format!("{api}projects/{id}");
    let document =
        json!({ "links": { "self": link }, "note": link, "pages": [{ "links": [link] }] });
    let put = h
        .api(reqwest::Method::PUT, &format!("projects/{id}/document"))
        .json(&document)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let through_proxy = h
        .api(reqwest::Method::GET, &format!("projects/{id}/document"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let straight = http()
        .get(format!("{api}projects/{id}/document"))
        .bearer_auth(h.writer_token().await)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        through_proxy, straight,
        "the proxy changed the user's document"
    );
    assert!(String::from_utf8_lossy(&through_proxy).contains(&link));
}

#[tokio::test]
async fn a_token_chili_echoes_never_reaches_the_page_in_any_shape() {
    let h = harness(settings(), false, with_writer(|_| {})).await;
    let token = h.writer_token().await;
    let escaped: String = token.bytes().map(|b| format!("\\u{b:04x}")).collect();
    let partly = format!(
        "{}\\u{:04X}{}",
        &token[..5],
        token.as_bytes()[5],
        &token[6..]
    );
    let big = format!(
        r#"{{"pad":"{}","t":"{token}"}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let etag = format!("\"{token}\"");
    let disposition = format!("attachment; filename=\"{token}.pdf\"");
    // What, CHILI's headers, its body, whether gzip-compressed.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String, bool);
    let cases: Vec<Case<'_>> = vec![
        (
            "XML",
            vec![("content-type", "application/xml")],
            format!("<t>{token}</t>"),
            false,
        ),
        (
            "no content type",
            vec![],
            format!("plain {token} text"),
            false,
        ),
        (
            "gzip",
            vec![("content-type", "application/json")],
            format!(r#"{{"t":"{token}"}}"#),
            true,
        ),
        (
            "escaped",
            vec![("content-type", "application/json")],
            format!(r#"{{"t":"{escaped}"}}"#),
            false,
        ),
        (
            "partly escaped",
            vec![("content-type", "application/json")],
            format!(r#"{{"t":"{partly}"}}"#),
            false,
        ),
        (
            "over 2 MiB",
            vec![("content-type", "application/json")],
            big,
            false,
        ),
        (
            "headers",
            vec![
                ("content-type", "application/pdf"),
                ("etag", &etag),
                ("content-disposition", &disposition),
            ],
            "%PDF".into(),
            false,
        ),
        (
            "binary type",
            vec![("content-type", "image/png")],
            format!("\u{1}PNG{token}"),
            false,
        ),
    ];
    for (what, headers, body, gzip) in cases {
        let sent_len = body.len();
        arm_reply(&h, 200, &headers, body, gzip);
        let res = h
            .api(reqwest::Method::GET, "output/settings")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{what}");
        let received = res.headers().clone();
        assert!(
            !received.contains_key("content-encoding"),
            "{what}: the body goes back decoded"
        );
        let bytes = res.bytes().await.unwrap();
        assert_no_token(&received, &bytes, &token);
        // Decoded as JSON where it is JSON: no string holds the token in any spelling.
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            assert!(!v.to_string().contains(&token), "{what}");
        }
        assert!(
            String::from_utf8_lossy(&bytes).contains("[redact") || what == "headers",
            "{what}"
        );
        if !gzip {
            assert_eq!(bytes.len(), sent_len, "{what}: the length is kept");
        }
        if what == "headers" {
            assert!(received["etag"].to_str().unwrap().contains("[redact"));
        }
    }
    // An encoding the proxy cannot decode cannot be checked: refused, nothing passed on.
    arm_reply(
        &h,
        200,
        &[
            ("content-encoding", "br"),
            ("content-type", "application/json"),
        ],
        token.clone(),
        false,
    );
    let res = h
        .api(reqwest::Method::GET, "output/settings")
        .send()
        .await
        .unwrap();
    let (_, msg) = error(res, 502, "proxy_upstream_failed").await;
    assert!(msg.contains("cannot check"), "{msg}");
}

#[tokio::test]
async fn ranges_are_forwarded_for_downloads_only() {
    let h = harness(settings(), false, with_writer(|_| {})).await;
    let last_range = |h: &Harness| {
        h.emulator
            .emulator()
            .requests()
            .last()
            .unwrap()
            .range
            .clone()
    };
    let res = h
        .api(reqwest::Method::GET, "output/settings")
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(last_range(&h), None, "an API reply is never split");
    let download = rendered(&h).await;
    let res = h
        .api(reqwest::Method::GET, &download)
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert_eq!(last_range(&h).as_deref(), Some("bytes=0-9"));
}

#[tokio::test]
async fn a_reload_does_not_reset_quotas() {
    let h = harness(
        settings(),
        false,
        with_writer(|p| {
            p.quotas = vec![ProxyQuota {
                rule: ProxyRule::parse("POST output/*").unwrap(),
                per_hour: NonZeroU32::new(3).unwrap(),
            }];
        }),
    )
    .await;
    let render = || {
        h.api(reqwest::Method::POST, "output/pdf")
            .json(&json!({ "templateId": TEMPLATE }))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(render().await.unwrap().status(), 200);
    }
    // What SIGHUP does: the same configuration, read again.
    let config = h.state.config().as_ref().clone();
    h.state.reload(config.clone()).await;
    error(render().await.unwrap(), 429, "quota_exceeded").await;
    // A changed rate starts anew.
    let mut changed = config;
    changed
        .integrations
        .get_mut("writer")
        .unwrap()
        .proxy
        .as_mut()
        .unwrap()
        .quotas[0]
        .per_hour = NonZeroU32::new(4).unwrap();
    h.state.reload(changed).await;
    assert_eq!(render().await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_per_user_rate_limit_applies_to_the_proxy() {
    let caller = CallerConfig::new(CallerMethod::JwtSecret(SessionKey::new(HS_SECRET.into())))
        .with_audience("grafx-signer");
    let h = harness(settings(), false, move |c: &mut SignerConfig| {
        with_writer(|p| p.require_caller = true)(c);
        c.integrations.get_mut("writer").unwrap().caller = Some(caller);
        c.user_rate_limit_per_minute = 10; // a burst of 5
    })
    .await;
    let read = |who: &str| {
        h.api(reqwest::Method::GET, "output/settings")
            .bearer_auth(session(who))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(read("alice").await.unwrap().status(), 200);
    }
    let before = h.api_requests();
    let (headers, _) = error(read("alice").await.unwrap(), 429, "rate_limited").await;
    assert!(headers.contains_key("retry-after"));
    assert_eq!(h.api_requests(), before, "refused before CHILI");
    assert_eq!(read("bob").await.unwrap().status(), 200, "bob has his own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_replies_count_against_their_own_budget_and_a_write_is_never_lost() {
    const BUDGET: u32 = grafx_signer::defaults::MIN_PROXY_HELD_BODY_BYTES; // share: 512 KiB
    let h = harness(settings(), false, |c: &mut SignerConfig| {
        with_writer(|_| {})(c);
        c.proxy_held_body_bytes = BUDGET;
    })
    .await;
    // A JSON reply the proxy holds (to make its links relative), larger than one address's share.
    let big = format!(r#"{{"data":[],"pad":"{}"}}"#, "x".repeat(700_000));
    let json = [("content-type", "application/json")];
    arm_reply(&h, 200, &json, big.clone(), false);
    let res = h
        .api(reqwest::Method::GET, "output/settings")
        .send()
        .await
        .unwrap();
    let (headers, why) = error(res, 503, "proxy_busy").await;
    assert!(headers.contains_key("retry-after"));
    assert!(why.contains("share"), "{why}");
    // The reply to a write CHILI has done is held regardless: the page learns what it created.
    arm_reply(&h, 201, &json, big.clone(), false);
    let res = h.post_project().await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.text().await.unwrap(), big);
    assert_eq!(held_bytes(&h).await, 0, "every room given back");
}
