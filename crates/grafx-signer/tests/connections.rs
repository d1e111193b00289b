//! Connection-level protections: slowloris clients are cut off, and the connection cap cannot be
//! held by them.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Trickles a header line every 200 ms and returns how long the server kept the connection.
async fn slowloris(url: &str) -> Duration {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    s.write_all(b"POST /token HTTP/1.1\r\nHost: signer\r\n")
        .await
        .unwrap();
    for i in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if s.write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
            .await
            .is_err()
        {
            break;
        }
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            break;
        }
    }
    started.elapsed()
}

/// Sends complete headers for a 100-byte body, then trickles it a byte every 200 ms. Returns how
/// long the server kept the connection and the status line it answered with, if any.
async fn slow_body(url: &str) -> (Duration, String) {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: signer\r\nOrigin: {ORIGIN}\r\nX-CSRF: 1\r\nContent-Length: 100\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Read what arrived before writing again: a byte written after the server closed would
        // be answered with a reset, which can discard the reply unread.
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                reply.extend_from_slice(&buf[..n]);
                // The rest of the reply, to the server's close.
                while let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await
                {
                    if n == 0 {
                        break;
                    }
                    reply.extend_from_slice(&buf[..n]);
                }
                break;
            }
            Err(_) => {}
        }
        if s.write_all(b"x").await.is_err() {
            break;
        }
    }
    let status = String::from_utf8_lossy(&reply)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    (started.elapsed(), status)
}

/// Connects and sends nothing; returns how long until the server closes.
async fn silent(url: &str) -> Duration {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf)).await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_clients_are_cut_off_while_others_are_served() {
    let h = harness(fast_settings(), false, |c| {
        c.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let slow: Vec<_> = (0..30)
        .map(|_| {
            tokio::spawn({
                let url = h.url.clone();
                async move { slowloris(&url).await }
            })
        })
        .collect();
    let quiet: Vec<_> = (0..30)
        .map(|_| {
            tokio::spawn({
                let url = h.url.clone();
                async move { silent(&url).await }
            })
        })
        .collect();
    // Meanwhile real requests are answered.
    for _ in 0..20 {
        h.token().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for task in slow.into_iter().chain(quiet) {
        let held = task.await.unwrap();
        // 1 s timeout; the trickle alone would last 20 s.
        assert!(
            held < Duration::from_secs(5),
            "a slow connection was held {held:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_cannot_be_held_by_idle_clients() {
    let h = harness(fast_settings(), false, |c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.max_connections = 4;
    })
    .await;
    let addr = h.url.trim_start_matches("http://").to_owned();
    // Four idle connections take every slot.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A real client waits in the accept queue until the idle ones are cut off, then is served.
    let started = Instant::now();
    let res = h.post("/token").send().await.unwrap();
    assert_eq!(res.status(), 200);
    // It waited for a slot: without the cap it would have been served at once.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(700),
        "served after {waited:?}, before the idle connections were cut off"
    );
    for mut s in idle {
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("the server closed the idle connection")
            .unwrap_or(0);
        assert_eq!(n, 0, "closed without a reply");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_get_408_and_cannot_fill_the_connection_cap() {
    let h = harness(fast_settings(), false, |c| {
        c.header_read_timeout = Duration::from_secs(1);
        c.max_connections = 8;
    })
    .await;
    let slow: Vec<_> = (0..20)
        .map(|_| {
            tokio::spawn({
                let url = h.url.clone();
                async move { slow_body(&url).await }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Real requests are served while the slow bodies come and go.
    for _ in 0..10 {
        h.token().await;
    }
    for task in slow {
        let (held, status) = task.await.unwrap();
        // The trickle alone would last 20 s; the body deadline is 1 s.
        assert!(
            held < Duration::from_secs(8),
            "a slow body was held {held:?}"
        );
        assert!(status.contains("408"), "{status:?}");
    }
}
