//! `UpstreamPool` against an HTTP/1.1 upstream on loopback.

use super::*;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the test upstream saw: connections accepted, request heads read.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    /// Connections the client closed.
    closed: AtomicUsize,
    heads: Mutex<Vec<String>>,
}

/// The length of `/big`'s reply.
const BIG: usize = 1 << 20;

/// An HTTP/1.1 upstream on loopback, on a thread of its own (it runs while the test's
/// runtime does not), that keeps connections open: `/big` answers 1 MiB, `/close`
/// answers `Connection: close` and closes it, `/slow` answers after 300 ms, `/empty` an
/// empty body, `/early` 401 before reading the request's body (and then only reads),
/// `/hang-up` closes the connection unanswered, `/garbled` answers what is not HTTP and
/// closes it, others a short body.
async fn upstream() -> (String, Arc<Seen>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let counts = Arc::clone(&seen);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            while let Ok((stream, _)) = listener.accept().await {
                counts.connections.fetch_add(1, Ordering::SeqCst);
                let counts = Arc::clone(&counts);
                tokio::spawn(async move {
                    serve_connection(stream, Arc::clone(&counts)).await;
                    counts.closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
    });
    (url, seen)
}

async fn serve_connection(mut stream: TcpStream, seen: Arc<Seen>) {
    let mut buf = Vec::new();
    loop {
        let head = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                buf.drain(..end + 4);
                break head;
            }
            let mut chunk = [0; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
        seen.heads.lock().unwrap().push(head);
        if path == "/hang-up" {
            return;
        }
        if path == "/garbled" {
            let _ = stream.write_all(b"not HTTP at all\r\n\r\n").await;
            return;
        }
        if path == "/early" {
            let no = "HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\nno";
            if stream.write_all(no.as_bytes()).await.is_err() {
                return;
            }
            // Then the rest of the (chunked) upload, to its last chunk.
            loop {
                if let Some(end) = buf.windows(5).position(|w| w == b"0\r\n\r\n") {
                    buf.drain(..end + 5);
                    break;
                }
                let mut chunk = [0; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            continue;
        }
        let body = if path == "/big" {
            vec![b'x'; BIG]
        } else if path == "/empty" {
            Vec::new()
        } else {
            b"ok".to_vec()
        };
        if path == "/slow" {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let close = if path == "/close" {
            "connection: close\r\n"
        } else {
            ""
        };
        let reply = format!(
            "HTTP/1.1 200 OK\r\n{close}content-length: {}\r\n\r\n",
            body.len()
        );
        let sent = stream.write_all(reply.as_bytes()).await;
        if sent.is_err() || stream.write_all(&body).await.is_err() || path == "/close" {
            return;
        }
    }
}

type TestConnector = tower::util::ServiceFn<
    fn(Uri) -> Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, axum::BoxError>> + Send>>,
>;

fn pool(idle_time: Duration) -> UpstreamPool<TestConnector> {
    fn connect(
        uri: Uri,
    ) -> Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, axum::BoxError>> + Send>> {
        Box::pin(async move {
            let at = uri.authority().map(ToString::to_string).unwrap_or_default();
            Ok(TokioIo::new(TcpStream::connect(at).await?))
        })
    }
    UpstreamPool::new(tower::service_fn(connect as _), idle_time)
}

fn get(url: &str, path: &str) -> Request<Body> {
    Request::get(format!("{url}{path}"))
        .body(Body::empty())
        .unwrap()
}

/// A slow request and a quick one at once, both answered, with `connections` opened in all.
async fn two_at_once(
    pool: &UpstreamPool<TestConnector>,
    url: &str,
    seen: &Seen,
    connections: usize,
) {
    let (a, b) = tokio::join!(read_all(pool, url, "/slow"), read_all(pool, url, "/"));
    assert_eq!((a, b), (2, 2));
    assert_eq!(seen.connections.load(Ordering::SeqCst), connections);
}

async fn read_all(pool: &UpstreamPool<TestConnector>, url: &str, path: &str) -> usize {
    let res = pool.send(get(url, path)).await.unwrap();
    assert_eq!(res.status(), 200);
    res.into_body().collect().await.unwrap().to_bytes().len()
}

#[tokio::test]
async fn a_connection_is_reused_once_its_reply_is_read_and_the_request_is_in_origin_form() {
    let (url, seen) = upstream().await;
    let pool = pool(Duration::from_secs(90));
    assert_eq!(read_all(&pool, &url, "/a/b?c=d%20e").await, 2);
    assert_eq!(read_all(&pool, &url, "/big").await, BIG);
    assert_eq!(read_all(&pool, &url, "").await, 2);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1, "one connection");
    let heads = seen.heads.lock().unwrap().clone();
    let port = url.rsplit(':').next().unwrap();
    let lines: Vec<&str> = heads.iter().map(|h| h.lines().next().unwrap()).collect();
    assert_eq!(
        lines,
        [
            "GET /a/b?c=d%20e HTTP/1.1",
            "GET /big HTTP/1.1",
            "GET / HTTP/1.1"
        ]
    );
    for head in &heads {
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("\r\nhost: 127.0.0.1:{port}")),
            "{head}"
        );
    }
}

#[tokio::test]
async fn a_host_header_the_request_has_is_kept() {
    let (url, seen) = upstream().await;
    let pool = pool(Duration::from_secs(90));
    let mut req = get(&url, "/");
    req.headers_mut()
        .insert(header::HOST, HeaderValue::from_static("chili.example"));
    pool.send(req).await.unwrap();
    let heads = seen.heads.lock().unwrap().clone();
    assert!(heads[0].contains("host: chili.example"), "{heads:?}");
}

#[tokio::test]
async fn a_reply_dropped_before_its_end_closes_its_connection() {
    let (url, seen) = upstream().await;
    let pool = pool(Duration::from_secs(90));
    let mut body = pool.send(get(&url, "/big")).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.data_ref().is_some_and(|d| d.len() < BIG));
    drop(body);
    assert_eq!(read_all(&pool, &url, "/").await, 2);
    assert_eq!(
        seen.connections.load(Ordering::SeqCst),
        2,
        "a new connection"
    );
}

#[tokio::test]
async fn two_requests_at_once_never_share_a_connection() {
    let (url, seen) = upstream().await;
    let pool = pool(Duration::from_secs(90));
    two_at_once(&pool, &url, &seen, 2).await;
    // Both went back: two more at once need no new one.
    two_at_once(&pool, &url, &seen, 2).await;
}

#[tokio::test]
async fn a_connection_idle_too_long_is_not_reused() {
    let (url, seen) = upstream().await;
    let pool = pool(Duration::from_millis(100));
    read_all(&pool, &url, "/").await;
    read_all(&pool, &url, "/").await;
    assert_eq!(
        seen.connections.load(Ordering::SeqCst),
        1,
        "reused while fresh"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    read_all(&pool, &url, "/").await;
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2, "not once stale");
}

#[tokio::test]
async fn a_connection_chili_closes_is_not_reused_and_the_next_request_gets_a_new_one() {
    let (url, seen) = upstream().await;
    let pool = pool(Duration::from_secs(90));
    for n in 1..=5 {
        // Asked straight after the reply: the connection's task may not have closed it yet.
        assert_eq!(read_all(&pool, &url, "/close").await, 2);
        assert_eq!(seen.connections.load(Ordering::SeqCst), n);
    }
}

/// An upload that sends one byte, then ends when told.
struct Trickle {
    sent: bool,
    end: tokio::sync::oneshot::Receiver<()>,
}

impl hyper::body::Body for Trickle {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if !std::mem::replace(&mut self.sent, true) {
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"{")))));
        }
        let _ = ready!(Pin::new(&mut self.end).poll(cx));
        Poll::Ready(None)
    }
}

/// Polls `done` every 10 ms for at most 5 s.
async fn eventually(done: impl Fn() -> bool) -> bool {
    for _ in 0..500 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

#[tokio::test]
async fn a_connection_still_sending_its_request_waits_for_it_and_no_other_request_does() {
    let (url, seen) = upstream().await;
    let pool = pool(Duration::from_secs(90));
    let (end, ends) = tokio::sync::oneshot::channel();
    let trickle = Trickle {
        sent: false,
        end: ends,
    };
    let upload = Request::post(format!("{url}/early"))
        .body(Body::new(trickle))
        .unwrap();
    let early = pool.send(upload).await.unwrap();
    assert_eq!(early.status(), 401);
    assert_eq!(early.into_body().collect().await.unwrap().to_bytes(), "no");
    let next = tokio::time::timeout(Duration::from_secs(2), read_all(&pool, &url, "/"));
    assert_eq!(next.await.expect("waited for the upload"), 2);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    // The upload ends: its connection comes back, and two requests at once need no third.
    end.send(()).unwrap();
    assert!(eventually(|| pool.idle.lock().unwrap().len() == 2).await);
    two_at_once(&pool, &url, &seen, 2).await;
}

#[tokio::test]
async fn a_reply_read_to_its_end_of_stream_gives_its_connection_back() {
    let (url, seen) = upstream().await;
    let pool = pool(Duration::from_secs(90));
    for _ in 0..3 {
        let mut body = pool.send(get(&url, "/big")).await.unwrap().into_body();
        let mut read = 0;
        // As hyper's server reads a body: until it says it has ended, not to `None`.
        while !body.is_end_stream() {
            let frame = body.frame().await.unwrap().unwrap();
            read += frame.data_ref().map_or(0, Bytes::len);
        }
        assert_eq!(read, BIG);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An empty reply gives it back with its head.
    for _ in 0..3 {
        assert_eq!(read_all(&pool, &url, "/empty").await, 0);
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn idle_connections_are_closed_without_traffic() {
    let (url, seen) = upstream().await;
    let pool = pool(Duration::from_millis(200));
    let (a, b) = tokio::join!(
        read_all(&pool, &url, "/slow"),
        read_all(&pool, &url, "/slow")
    );
    assert_eq!((a, b), (2, 2));
    assert_eq!(seen.closed.load(Ordering::SeqCst), 0, "open while fresh");
    let closed = eventually(|| seen.closed.load(Ordering::SeqCst) == 2).await;
    assert!(closed, "both closed");
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    assert!(pool.idle.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_reused_connection_closed_under_a_request_says_so_and_a_fresh_one_is_new() {
    let (url, seen) = upstream().await;
    let pool = pool(Duration::from_secs(60));
    let failure = |path: &'static str| {
        let (pool, url) = (&pool, &url);
        async move {
            assert_eq!(read_all(pool, url, "/a").await, 2);
            pool.send(get(url, path)).await.unwrap_err()
        }
    };
    // Closed unanswered on a reused connection: the request may be sent again.
    let e = failure("/hang-up").await;
    assert!(e.is_reused_connection_closed(), "{e:?}");
    // A reply that is not HTTP is CHILI's answer, not a closed connection.
    let e = failure("/garbled").await;
    assert!(!e.is_reused_connection_closed(), "{e:?}");
    // Closed unanswered on a new connection: nothing was reused.
    let e = pool.send(get(&url, "/hang-up")).await.unwrap_err();
    assert!(!e.is_reused_connection_closed(), "{e:?}");
    // A request marked fresh opens a connection though one is pooled.
    assert_eq!(read_all(&pool, &url, "/a").await, 2);
    let before = seen.connections.load(Ordering::SeqCst);
    let mut fresh = get(&url, "/a");
    fresh.extensions_mut().insert(FreshConnection);
    let reply = pool.send(fresh).await.unwrap();
    assert_eq!(reply.into_body().collect().await.unwrap().to_bytes(), "ok");
    assert_eq!(seen.connections.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn no_connection_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let e = pool(Duration::from_secs(90))
        .send(get(&url, "/"))
        .await
        .unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    let relative = Request::get("/x").body(Body::empty()).unwrap();
    let e = pool(Duration::from_secs(90)).send(relative).await;
    assert!(matches!(e, Err(PoolError::NotAbsolute)), "{e:?}");
}

#[test]
fn host_is_the_authority_without_userinfo_or_default_port() {
    let host = |uri: &str| {
        let uri: Uri = uri.parse().unwrap();
        let target = Target {
            scheme: uri.scheme().unwrap().clone(),
            authority: uri.authority().unwrap().clone(),
        };
        host_header(&target)
    };
    assert_eq!(
        host("https://demo.chili-publish.online/x"),
        "demo.chili-publish.online"
    );
    assert_eq!(
        host("https://demo.chili-publish.online:443/x"),
        "demo.chili-publish.online"
    );
    assert_eq!(host("https://h.example:8443/"), "h.example:8443");
    assert_eq!(host("http://127.0.0.1:80/"), "127.0.0.1");
    assert_eq!(host("http://127.0.0.1:8080/"), "127.0.0.1:8080");
    assert_eq!(host("http://u:p@[::1]:9000/"), "[::1]:9000");
}
