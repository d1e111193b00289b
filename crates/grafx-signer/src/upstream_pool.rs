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
//!   one that was closed after it was sent is not, and the error says so
//!   ([`PoolError::is_reused_connection_closed`]: the proxy sends a `GET` once more, with
//!   [`FreshConnection`]);
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

/// In a request's extensions: the request goes out on a new connection, never a pooled one
/// (a request sent again because its pooled connection was closed under it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FreshConnection;

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
    Send {
        /// hyper's error.
        #[source]
        error: hyper::Error,
        /// Whether the connection had served an earlier request: CHILI may have closed it, idle,
        /// as this request went out.
        reused: bool,
    },
}

impl PoolError {
    /// Whether no connection could be opened.
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, PoolError::Connect(_))
    }

    /// Whether a reused connection was closed or reset before the reply's head was whole (CHILI
    /// closing it, idle, as the request went out): the request may or may not have reached
    /// CHILI, so only one that changes nothing may be sent again (on a [`FreshConnection`]). A
    /// reply CHILI sent that could not be read is not such a failure.
    pub(crate) fn is_reused_connection_closed(&self) -> bool {
        let PoolError::Send {
            error,
            reused: true,
        } = self
        else {
            return false;
        };
        let reset = std::iter::successors(std::error::Error::source(error), |e| e.source())
            .filter_map(|e| e.downcast_ref::<std::io::Error>())
            .any(|e| {
                matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                        // TLS closed without `close_notify` (rustls), as many servers close an
                        // idle connection.
                        | std::io::ErrorKind::UnexpectedEof
                )
            });
        error.is_incomplete_message() || reset
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
        let fresh = req.extensions().get::<FreshConnection>().is_some();
        loop {
            let reused = if fresh { None } else { self.checkout(&target) };
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
                    _ => {
                        return Err(PoolError::Send {
                            error: failed.into_error(),
                            reused: is_reused,
                        })
                    }
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
mod tests;
