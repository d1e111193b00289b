//! The API proxy's pool of HTTP/1.1 connections to the Environment API, on hyper's own
//! connection API (`hyper::client::conn::http1`), in place of hyper-util's general-purpose
//! pool, which hashed its key three times a request, spawned a task per request to put the
//! connection back, and went through a chain of boxed futures (about 8% of the signer's
//! instructions per proxied request, BENCHMARKS.md). What it keeps of that pool:
//! - a connection is reused once its reply has been read to the end and its request sent to the
//!   end (CHILI may answer an upload before it has all of it: that connection waits for the
//!   upload, and no other request waits with it), the newest first, and is never shared by two
//!   requests at once;
//! - a connection idle longer than [`UpstreamPool::new`]'s idle time is not reused, and is
//!   closed within a quarter of that time more, traffic or none;
//! - a request that a reused connection closed before it was sent (CHILI closing a keep-alive
//!   connection as it was picked) is sent once more on another connection: it never left;
//! - the request goes out in origin form (`/path?query`) with a `Host` header of the target's
//!   host and port (the port left out when it is the scheme's default).
//!
//! A reply's body dropped before its end closes its connection, as hyper does.
//!
//! ```ignore
//! let pool = UpstreamPool::new(connector, Duration::from_secs(90));
//! let reply = pool.send(request).await?; // http::Response<PooledBody>
//! ```

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::body::Bytes;
use axum::http::uri::{Authority, PathAndQuery, Scheme};
use axum::http::{header, HeaderValue, Request, Response, Uri};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use tower::ServiceExt;

/// What a connection is to: a scheme and an authority.
#[derive(Clone, PartialEq, Eq)]
struct Target {
    scheme: Scheme,
    authority: Authority,
}

/// A connection waiting for its next request.
struct Idle {
    target: Target,
    sender: SendRequest<Body>,
    since: Instant,
}

/// The idle connections, oldest first.
type IdleList = Arc<Mutex<Vec<Idle>>>;

/// Connections to the Environment API (see the module docs), opened by `C`.
pub(crate) struct UpstreamPool<C> {
    connector: C,
    idle: IdleList,
    idle_time: Duration,
    /// Starts the task that closes idle connections, with the first connection.
    sweeper: std::sync::Once,
}

/// Why a request got no reply head.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PoolError {
    /// The request's URL has no scheme or host (a bug: the proxy builds absolute URLs).
    #[error("the request's URL is not absolute")]
    NotAbsolute,
    /// No connection could be opened (TCP, the egress proxy's tunnel, TLS, the timeout).
    #[error("connecting failed")]
    Connect(#[source] axum::BoxError),
    /// The connection failed while the request was sent or its reply head read.
    #[error("the request failed")]
    Send(#[source] hyper::Error),
}

impl PoolError {
    /// Whether no connection could be opened.
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, PoolError::Connect(_))
    }
}

impl<C> UpstreamPool<C>
where
    C: tower::Service<Uri, Error = axum::BoxError> + Clone,
    C::Response: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    /// A pool opening connections with `connector`, closing those idle longer than `idle_time`.
    pub(crate) fn new(connector: C, idle_time: Duration) -> Self {
        Self {
            connector,
            idle: IdleList::default(),
            idle_time,
            sweeper: std::sync::Once::new(),
        }
    }

    /// Sends `req` (an absolute URL) on an idle connection to its target, or a new one; the
    /// reply's head, its body giving the connection back when read to the end.
    pub(crate) async fn send(
        &self,
        mut req: Request<Body>,
    ) -> Result<Response<PooledBody>, PoolError> {
        let uri = req.uri();
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(PoolError::NotAbsolute);
        };
        let target = Target {
            scheme: scheme.clone(),
            authority: authority.clone(),
        };
        if !req.headers().contains_key(header::HOST) {
            let host = host_header(&target);
            req.headers_mut().insert(header::HOST, host);
        }
        *req.uri_mut() = origin_form(req.uri());
        loop {
            let reused = self.checkout(&target);
            let is_reused = reused.is_some();
            let mut sender = match reused {
                Some(sender) => sender,
                // Rare, and large: boxed, so that every request's future stays small.
                None => Box::pin(self.connect(&target)).await?,
            };
            // A pooled connection was ready when given back; one that closed since is left for
            // another. (A new connection that closed before its first request is not: sending
            // it says why.)
            if sender.ready().await.is_err() && is_reused {
                continue;
            }
            match sender.try_send_request(req).await {
                Ok(res) => return Ok(self.lease(res, target, sender)),
                Err(mut failed) => match failed.take_message() {
                    // Not sent at all on a reused connection: once more, on another.
                    Some(unsent) if is_reused => req = unsent,
                    _ => return Err(PoolError::Send(failed.into_error())),
                },
            }
        }
    }

    /// The newest idle connection to `target` that is still open and not idle too long.
    fn checkout(&self, target: &Target) -> Option<SendRequest<Body>> {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(at) = idle.iter().rposition(|c| c.target == *target) {
            let conn = idle.remove(at);
            if !conn.sender.is_closed() && now.duration_since(conn.since) < self.idle_time {
                return Some(conn.sender);
            }
        }
        None
    }

    /// A new connection to `target` (the connector is given `scheme://authority/`), its task
    /// spawned.
    async fn connect(&self, target: &Target) -> Result<SendRequest<Body>, PoolError> {
        self.sweeper.call_once(|| {
            tokio::spawn(sweep(Arc::downgrade(&self.idle), self.idle_time));
        });
        let root = Uri::builder()
            .scheme(target.scheme.clone())
            .authority(target.authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| PoolError::Connect(e.into()))?;
        let io = self
            .connector
            .clone()
            .oneshot(root)
            .await
            .map_err(PoolError::Connect)?;
        let (sender, connection) = http1::handshake(io)
            .await
            .map_err(|e| PoolError::Connect(e.into()))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("a connection to the Environment API ended: {e}");
            }
        });
        Ok(sender)
    }

    /// `res` with a body that gives `sender` back to the pool at its end.
    fn lease(
        &self,
        res: Response<Incoming>,
        target: Target,
        sender: SendRequest<Body>,
    ) -> Response<PooledBody> {
        let lease = Lease {
            idle: Arc::clone(&self.idle),
            idle_time: self.idle_time,
            conn: Idle {
                target,
                sender,
                since: Instant::now(),
            },
        };
        res.map(|body| {
            let mut body = PooledBody {
                body,
                lease: Some(lease),
            };
            if body.body.is_end_stream() {
                body.give_back();
            }
            body
        })
    }
}

/// Every quarter of `idle_time`, closes the connections idle that long, until the pool is gone.
async fn sweep(idle: std::sync::Weak<Mutex<Vec<Idle>>>, idle_time: Duration) {
    loop {
        tokio::time::sleep(idle_time / 4).await;
        let Some(idle) = idle.upgrade() else {
            return;
        };
        let now = Instant::now();
        let mut idle = idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.retain(|c| !c.sender.is_closed() && now.duration_since(c.since) < idle_time);
    }
}

/// `Host` for `target`: its host, and its port unless the scheme's default.
fn host_header(target: &Target) -> HeaderValue {
    let default_port = match target.scheme.as_str() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    let host = target.authority.host();
    let value = match target.authority.port_u16() {
        Some(port) if Some(port) != default_port => {
            HeaderValue::from_maybe_shared(Bytes::from([host, ":", &port.to_string()].concat()))
        }
        _ => HeaderValue::from_str(host),
    };
    // An authority's host and port are valid header bytes.
    value.unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `uri`'s path and query alone (`/` when it has none), as an HTTP/1.1 request line carries it.
fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(path) if path.as_str() != "/" => Uri::from(path.clone()),
        _ => Uri::from(PathAndQuery::from_static("/")),
    }
}

/// A connection lent to one request until its reply's end.
struct Lease {
    idle: IdleList,
    idle_time: Duration,
    conn: Idle,
}

impl Lease {
    /// Puts the connection back once it is ready for another request (at once, usually: its
    /// task has read the reply's end; later if its request is still being sent, for at most the
    /// idle time), unless it closes first.
    fn give_back(mut self) {
        if self.conn.sender.is_ready() {
            self.push();
        } else if !self.conn.sender.is_closed() {
            tokio::spawn(async move {
                let ready = tokio::time::timeout(self.idle_time, self.conn.sender.ready()).await;
                if matches!(ready, Ok(Ok(()))) {
                    self.push();
                }
            });
        }
    }

    /// Puts the connection back, after dropping those idle too long.
    fn push(mut self) {
        let now = Instant::now();
        self.conn.since = now;
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let expired = idle
            .iter()
            .take_while(|c| now.duration_since(c.since) >= self.idle_time)
            .count();
        idle.drain(..expired);
        idle.push(self.conn);
    }
}

/// A reply's body from the pool: its connection goes back to the pool when it has been read to
/// the end, and is closed when the body is dropped before.
pub(crate) struct PooledBody {
    body: Incoming,
    lease: Option<Lease>,
}

impl std::fmt::Debug for PooledBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBody")
            .field("body", &self.body)
            .field("holds_its_connection", &self.lease.is_some())
            .finish()
    }
}

impl PooledBody {
    fn give_back(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.give_back();
        }
    }
}

impl hyper::body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        match &frame {
            None => this.give_back(),
            Some(Ok(_)) if this.body.is_end_stream() => this.give_back(),
            // A connection that failed mid-reply is not reused.
            Some(Err(_)) => this.lease = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
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
    /// others a short body.
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
        ) -> Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, axum::BoxError>> + Send>>
        {
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
        let (a, b) = tokio::join!(read_all(&pool, &url, "/slow"), read_all(&pool, &url, "/"));
        assert_eq!((a, b), (2, 2));
        assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
        // Both went back: two more at once need no new one.
        let (a, b) = tokio::join!(read_all(&pool, &url, "/slow"), read_all(&pool, &url, "/"));
        assert_eq!((a, b), (2, 2));
        assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
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
        let (a, b) = tokio::join!(read_all(&pool, &url, "/slow"), read_all(&pool, &url, "/"));
        assert_eq!((a, b), (2, 2));
        assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
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
}
