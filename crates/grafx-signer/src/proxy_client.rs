//! The API proxy's HTTP client: hyper-util's pooled HTTP/1.1 client, with what reqwest gave it
//! and nothing else, since reqwest's own layers (its URL type parsed three times per request, a
//! redirect policy and a retry layer around every call) took more CPU than the hyper client
//! underneath them (BENCHMARKS.md, the proxy's profile):
//! - TLS by rustls, trusting Mozilla's roots and `SSL_CERT_FILE`'s, as the token client does;
//! - the egress proxy from the environment for `https` targets (`HTTPS_PROXY`, `ALL_PROXY`,
//!   `NO_PROXY`, read as reqwest reads them), through a `CONNECT` tunnel; `http` targets, which
//!   configuration allows on loopback only, are always reached directly;
//! - gzip and deflate replies decoded (and asked for: `Accept-Encoding: gzip,deflate` when the
//!   request names no encoding);
//! - no redirect followed;
//! - a connect timeout, and a reply whose body pauses longer than the read timeout fails.
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
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::CertificateDer;
use tower::ServiceExt;
use tower_http::decompression::{Decompression, DecompressionBody};
use tower_http::timeout::TimeoutBody;

/// A reply's body: decoded, and failing when it pauses longer than the read timeout.
pub(crate) type UpstreamBody = TimeoutBody<DecompressionBody<hyper::body::Incoming>>;

/// How long an idle pooled connection is kept (reqwest's default).
const POOL_IDLE: Duration = Duration::from_secs(90);

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
    /// The client, or why TLS could not be set up (then every request fails with it).
    client: Result<Decompression<Client<HttpsConnector<EgressConnector>, Body>>, Arc<str>>,
    read_timeout: Duration,
}

/// Why the Environment API gave no reply, or stopped in the middle of one.
#[derive(Debug)]
pub(crate) struct UpstreamFailure {
    /// Whether a timer ran out (connect, read), rather than the connection failing.
    pub(crate) timed_out: bool,
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
            http.set_connect_timeout(Some(settings.connect_timeout));
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .wrap_connector(EgressConnector {
                    http,
                    egress: settings.egress.map(Arc::new),
                });
            let client = Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(POOL_IDLE)
                .build(connector);
            Decompression::new(client)
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
        if req.headers().contains_key(header::RANGE) {
            req.headers_mut()
                .entry(header::ACCEPT_ENCODING)
                .or_insert(HeaderValue::from_static("identity"));
        }
        let client = self.client.clone().map_err(|e| UpstreamFailure {
            timed_out: false,
            message: e.to_string(),
        })?;
        let res = client
            .oneshot(req)
            .await
            .map_err(|e| UpstreamFailure::of(&e))?;
        let timeout = self.read_timeout;
        Ok(res.map(|body| TimeoutBody::new(timeout, body)))
    }
}

/// rustls with ring, trusting Mozilla's roots and `extra_roots`.
fn tls_config(
    extra_roots: Vec<CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // A certificate rustls cannot use is skipped, as reqwest skipped it.
    let _ = roots.add_parsable_certificates(extra_roots);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl UpstreamFailure {
    /// `e` and its causes, and whether any of them is a timeout.
    pub(crate) fn of(e: &(dyn std::error::Error + 'static)) -> Self {
        let mut message = e.to_string();
        let mut timed_out = is_timeout(e);
        let mut cause = e.source();
        while let Some(c) = cause {
            let text = c.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            timed_out |= is_timeout(c);
            cause = c.source();
        }
        Self { timed_out, message }
    }
}

fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    e.is::<tower_http::timeout::TimeoutError>()
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

/// TCP to the target, or, for an `https` target the egress proxy covers, a `CONNECT` tunnel
/// through the proxy (TLS to the target then runs inside it).
#[derive(Clone)]
struct EgressConnector {
    http: HttpConnector,
    egress: Option<Arc<Matcher>>,
}

type Connecting =
    Pin<Box<dyn Future<Output = Result<TokioIo<tokio::net::TcpStream>, axum::BoxError>> + Send>>;

impl tower::Service<Uri> for EgressConnector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = axum::BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call clones its connector, which is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, target: Uri) -> Self::Future {
        let http = self.http.clone();
        let via = self
            .egress
            .as_ref()
            .filter(|_| target.scheme() == Some(&Scheme::HTTPS))
            .and_then(|m| m.intercept(&target));
        match via {
            // The tunnel's own connection is plain TCP: a proxy spoken to over TLS is not
            // supported, and is refused rather than sent the tunnel request in clear text.
            Some(proxy) if proxy.uri().scheme() != Some(&Scheme::HTTP) => {
                let shown = format!(
                    "the egress proxy {}://{} is not an http:// proxy (HTTPS_PROXY, ALL_PROXY); the API proxy reaches CHILI through http:// proxies only",
                    proxy.uri().scheme_str().unwrap_or_default(),
                    proxy.uri().authority().map_or("", |a| a.host()),
                );
                Box::pin(async move { Err(shown.into()) })
            }
            Some(proxy) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), http);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                Box::pin(async move { Ok(tunnel.oneshot(target).await?) })
            }
            None => Box::pin(async move { Ok(http.oneshot(target).await?) }),
        }
    }
}
