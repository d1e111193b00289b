//! The API proxy's HTTP client: hyper's HTTP/1.1 connections in a pool of the signer's own
//! ([`UpstreamPool`]), opened by hyper-util's connectors, with what reqwest gave it and nothing
//! else, since reqwest's own layers (its URL type parsed three times per request, a redirect
//! policy and a retry layer around every call) took more CPU than the hyper client underneath
//! them, and hyper-util's pool took more than this one (BENCHMARKS.md, the proxy's profile):
//! - TLS by rustls, trusting Mozilla's roots and `SSL_CERT_FILE`'s, as the token client does,
//!   offering `http/1.1` by ALPN as reqwest did;
//! - the egress proxy from the environment for `https` targets (`HTTPS_PROXY`, `ALL_PROXY`,
//!   `NO_PROXY`, read as reqwest reads them), through a `CONNECT` tunnel, to an `http://` proxy
//!   in clear or an `https://` one over TLS; `http` targets, which configuration allows on
//!   loopback only, are always reached directly;
//! - gzip and deflate replies decoded (and asked for: `Accept-Encoding: gzip,deflate` when the
//!   request names no encoding), `Accept: */*` when the request names no type;
//! - no redirect followed;
//! - a connect timeout over the whole connection (TCP, the tunnel, TLS), TCP keep-alive probes
//!   after 15 s idle (as reqwest set them), and a reply whose body pauses longer than the read
//!   timeout fails.
//!
//! ```ignore
//! let client = ProxyClient::new(&ProxyClientSettings::of(&config))?;
//! let reply = client.send(request).await?; // http::Response<UpstreamBody>
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, uri::Scheme, HeaderValue, Request, Response, Uri};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use tower::ServiceExt;
use tower_http::decompression::{Decompression, DecompressionBody};
use tower_http::timeout::TimeoutBody;

pub(crate) use crate::upstream_pool::FreshConnection;
use crate::upstream_pool::{PoolError, PooledBody, UpstreamPool};

/// A reply's body: decoded, and failing when it pauses longer than the read timeout. Boxed:
/// inline it is 584 bytes (the decoder's state, the timer), copied at every step the reply is
/// handed through.
pub(crate) type UpstreamBody = Pin<Box<TimeoutBody<DecompressionBody<PooledBody>>>>;

/// How long an idle pooled connection is kept (reqwest's default).
const POOL_IDLE: Duration = Duration::from_secs(90);

/// How long a connection is idle before TCP keep-alive probes start (reqwest's default).
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);

/// A connection to the target: TLS (or not) over TCP to it, or over a tunnel through the egress
/// proxy, itself TCP or TLS to the proxy.
type TargetStream = MaybeHttpsStream<HopStream>;

/// The first hop: TCP to the target or the egress proxy, or TLS to an `https://` proxy.
type HopStream = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

/// What the client is built from.
pub(crate) struct ProxyClientSettings {
    /// Certificates trusted besides Mozilla's roots (`SSL_CERT_FILE`'s).
    pub(crate) extra_roots: Vec<CertificateDer<'static>>,
    /// The egress proxy for `https` targets, if any (the environment's, in the binary).
    pub(crate) egress: Option<Matcher>,
    /// Time allowed to open a connection.
    pub(crate) connect_timeout: Duration,
    /// The longest pause in a reply's body.
    pub(crate) read_timeout: Duration,
}

/// The API proxy's HTTP client (see the module docs). Cheap to clone: the pool is shared.
#[derive(Clone)]
pub(crate) struct ProxyClient {
    /// The connections, or why TLS could not be set up (then every request fails with it).
    /// Each request borrows the pool (decoding wrapped around the borrow).
    client: Result<Arc<UpstreamPool<TimedConnector>>, Arc<str>>,
    read_timeout: Duration,
}

/// Why the Environment API gave no reply, or stopped in the middle of one.
#[derive(Debug)]
pub(crate) struct UpstreamFailure {
    /// Whether a timer ran out (connect, read), rather than the connection failing.
    pub(crate) timed_out: bool,
    /// Whether it was the connect timeout: no connection to CHILI (or through the egress proxy).
    pub(crate) connecting: bool,
    /// Whether a connection that had served an earlier request was closed or reset before the
    /// reply's head (CHILI closing it, idle, as the request went out).
    pub(crate) reused_connection: bool,
    /// What went wrong, with its causes (never the token: it is in no error).
    pub(crate) message: String,
}

impl ProxyClient {
    /// A client with these settings. Should rustls refuse its configuration (it never has: ring
    /// supports its default protocol versions), the error is logged and every request fails
    /// with it.
    pub(crate) fn new(settings: ProxyClientSettings) -> Self {
        let client = tls_config(settings.extra_roots).map(|tls| {
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_nodelay(true);
            http.set_keepalive(Some(TCP_KEEPALIVE));
            http.set_connect_timeout(Some(settings.connect_timeout));
            let egress = EgressConnector {
                to_proxy: HttpsConnector::from((http.clone(), Arc::clone(&tls))),
                tcp: http,
                egress: settings.egress.map(Arc::new),
            };
            let connector = TimedConnector {
                inner: HttpsConnector::from((egress, tls)),
                timeout: settings.connect_timeout,
            };
            Arc::new(UpstreamPool::new(connector, POOL_IDLE))
        });
        let client = client.map_err(|e| {
            tracing::error!("the API proxy cannot set up TLS, and will answer 502: {e}");
            Arc::from(format!("the API proxy's TLS could not be set up: {e}"))
        });
        Self {
            client,
            read_timeout: settings.read_timeout,
        }
    }

    /// Sends `req`; the reply's head, or why there is none.
    pub(crate) async fn send(
        &self,
        mut req: Request<Body>,
    ) -> Result<Response<UpstreamBody>, UpstreamFailure> {
        // A part of a file is asked for as it is stored: a range of gzip-encoded bytes could not
        // be decoded (reqwest asked for no encoding either).
        let headers = req.headers_mut();
        if headers.contains_key(header::RANGE) {
            headers
                .entry(header::ACCEPT_ENCODING)
                .or_insert(HeaderValue::from_static("identity"));
        }
        headers
            .entry(header::ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        let client = self.client.as_ref().map_err(|e| UpstreamFailure {
            timed_out: false,
            connecting: false,
            reused_connection: false,
            message: e.to_string(),
        })?;
        // What reqwest decoded: gzip and deflate only, even if tower-http is built with more.
        let pool = tower::service_fn(|req| client.send(req));
        let res = Decompression::new(pool)
            .no_br()
            .no_zstd()
            .oneshot(req)
            .await
            .map_err(|e| UpstreamFailure::of(&e))?;
        let timeout = self.read_timeout;
        Ok(res.map(|body| Box::pin(TimeoutBody::new(timeout, body))))
    }
}

/// rustls with ring, trusting Mozilla's roots and `extra_roots`, offering HTTP/1.1 by ALPN.
fn tls_config(
    extra_roots: Vec<CertificateDer<'static>>,
) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // A certificate rustls cannot use is skipped, as reqwest skipped it.
    let _ = roots.add_parsable_certificates(extra_roots);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl UpstreamFailure {
    /// `e` and its causes, and whether any of them is a timeout.
    pub(crate) fn of(e: &(dyn std::error::Error + 'static)) -> Self {
        let chain = || std::iter::successors(Some(e), |c| c.source());
        let timed_out = chain().any(is_timeout);
        // The TCP connector's own timer has the same length as ours, and may fire first.
        let connecting = chain().any(|c| c.is::<ConnectTimedOut>())
            || (timed_out && chain().any(is_connect_error));
        let reused_connection = chain().any(|c| {
            c.downcast_ref::<PoolError>()
                .is_some_and(PoolError::is_reused_connection_closed)
        });
        Self {
            timed_out,
            connecting,
            reused_connection,
            message: crate::upstream::with_causes(e),
        }
    }
}

fn is_connect_error(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<PoolError>()
        .is_some_and(PoolError::is_connect)
}

fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    e.is::<tower_http::timeout::TimeoutError>()
        || e.is::<ConnectTimedOut>()
        || e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        || e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
}

impl std::fmt::Display for UpstreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// No connection within the connect timeout (TCP, the egress proxy's tunnel, TLS).
#[derive(Debug)]
struct ConnectTimedOut(Duration);

impl std::fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no connection within {} s", self.0.as_secs_f32())
    }
}

impl std::error::Error for ConnectTimedOut {}

/// The connector with the connect timeout over all of it: TCP, the tunnel's `CONNECT`, TLS (the
/// TCP connect alone has its own); a timeout is a [`ConnectTimedOut`], so it answers 504 like
/// every other wait on CHILI.
#[derive(Clone)]
struct TimedConnector {
    inner: HttpsConnector<EgressConnector>,
    timeout: Duration,
}

type Connected<S> = Pin<Box<dyn Future<Output = Result<S, axum::BoxError>> + Send>>;

impl tower::Service<Uri> for TimedConnector {
    type Response = TargetStream;
    type Error = axum::BoxError;
    type Future = Connected<TargetStream>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call clones its connector, which is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, target: Uri) -> Self::Future {
        let (inner, timeout) = (self.inner.clone(), self.timeout);
        Box::pin(async move {
            match tokio::time::timeout(timeout, inner.oneshot(target)).await {
                Ok(connected) => connected,
                Err(_) => Err(ConnectTimedOut(timeout).into()),
            }
        })
    }
}

/// TCP to the target, or, for an `https` target the egress proxy covers, a `CONNECT` tunnel
/// through the proxy, reached by TCP or by TLS (TLS to the target then runs inside the tunnel).
#[derive(Clone)]
struct EgressConnector {
    /// TCP to the target.
    tcp: HttpConnector,
    /// TCP to an `http://` egress proxy, TLS over TCP to an `https://` one.
    to_proxy: HttpsConnector<HttpConnector>,
    egress: Option<Arc<Matcher>>,
}

impl tower::Service<Uri> for EgressConnector {
    type Response = HopStream;
    type Error = axum::BoxError;
    type Future = Connected<HopStream>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call clones its connector, which is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, target: Uri) -> Self::Future {
        let via = self
            .egress
            .as_ref()
            .filter(|_| target.scheme() == Some(&Scheme::HTTPS))
            .and_then(|m| m.intercept(&target));
        let Some(proxy) = via else {
            // Straight to the target: plain TCP, whatever its scheme (TLS to it comes after).
            let tcp = self.tcp.clone();
            return Box::pin(async move { Ok(MaybeHttpsStream::Http(tcp.oneshot(target).await?)) });
        };
        let scheme = proxy.uri().scheme();
        if scheme != Some(&Scheme::HTTP) && scheme != Some(&Scheme::HTTPS) {
            // A SOCKS proxy, say: refused by name rather than sent an HTTP request.
            let shown = format!(
                "the egress proxy {}://{} is neither an http:// nor an https:// proxy (HTTPS_PROXY, ALL_PROXY); the API proxy tunnels through HTTP proxies only",
                proxy.uri().scheme_str().unwrap_or_default(),
                proxy.uri().authority().map_or("", |a| a.host()),
            );
            return Box::pin(async move { Err(shown.into()) });
        }
        let mut tunnel = Tunnel::new(proxy.uri().clone(), self.to_proxy.clone());
        if let Some(auth) = proxy.basic_auth() {
            tunnel = tunnel.with_auth(auth.clone());
        }
        Box::pin(async move { Ok(tunnel.oneshot(target).await?) })
    }
}
