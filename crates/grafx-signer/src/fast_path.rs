//! The cached-token fast path: a `POST /token[/{integration}]` that the cache can answer at once
//! is answered here, in front of the router, with the same reply the router would give.
//!
//! Nearly every request a signer sees is that one, and through the router it paid for routing,
//! an extensions map, a request-id layer, a trace layer, a timeout timer, a metrics middleware and
//! a boxed handler future: together more than the kernel's own work for the request (see
//! BENCHMARKS.md). Here it is a handful of header and map lookups.
//!
//! Anything else falls through to the router untouched: other routes and methods, a body, a
//! caller check, a token that needs upstream, a refusal of any kind (the router words and counts
//! refusals), and every request while any debug logging is on (the router's request span and
//! debug lines; `RUST_LOG=info,hyper=debug` counts too, since tracing only says how verbose the
//! most verbose target is). The per-IP limit is checked last, once every other condition holds, so a request that
//! falls through is never counted twice. `tests/http_api.rs` checks that both paths give the same
//! reply, header for header.
//!
//! ```no_run
//! # async fn run(state: grafx_signer::AppState) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8787").await?;
//! let service = grafx_signer::SignerService::new(state); // the router behind the fast path
//! grafx_signer::serve(listener, service, grafx_signer::ServeOptions::default(), std::future::pending()).await
//! # }
//! ```

use std::convert::Infallible;
use std::future::Ready;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use futures_util::future::Either;
use tower::util::Oneshot;
use tower::ServiceExt;

use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use grafx_core::{CSRF_HEADER, CSRF_HEADER_VALUE};
use prometheus_client::metrics::counter::Counter;
use tracing::level_filters::LevelFilter;

use crate::metrics::RequestLabels;
use crate::proxy_fast_path::{ProxyFastPath, ProxyFuture};
use crate::request_id::{self, SequentialRequestId, REQUEST_ID};
use crate::routes::{gates, token};
use crate::server;
use crate::AppState;

/// The signer's public service: the router, behind the cached-token fast path and the API proxy
/// (`/api/…` requests go straight to the proxy's handler). What `serve` runs, built only by
/// [`SignerService::new`] (what the binary serves), so neither can be dropped by accident;
/// [`SignerService::router_only`] says so when a comparison needs it.
#[derive(Clone)]
pub struct SignerService {
    pub(crate) router: Router,
    pub(crate) fast: Option<Arc<TokenFastPath>>,
    proxy: Option<Arc<ProxyFastPath>>,
    observer: Option<Observer>,
}

/// Called with every request's method and path before it is answered (fast path or router).
pub type Observer = Arc<dyn Fn(&Method, &axum::http::Uri) + Send + Sync>;

impl SignerService {
    /// `app(state)` behind the token fast path and the proxy, all numbering requests from one
    /// sequence.
    pub fn new(state: AppState) -> Self {
        let ids = SequentialRequestId::new();
        Self {
            router: server::app_with_request_ids(state.clone(), ids.clone()),
            fast: Some(Arc::new(TokenFastPath::new(state.clone(), ids.clone()))),
            proxy: Some(Arc::new(ProxyFastPath::new(state, ids))),
            observer: None,
        }
    }

    /// `router` alone, with neither the token fast path nor the proxy in front: for a listener without `/token` (the ops listener) and
    /// for tests that compare the two paths. Never the public listener of the binary.
    pub fn router_only(router: Router) -> Self {
        Self {
            router,
            fast: None,
            proxy: None,
            observer: None,
        }
    }

    /// The same service with `extra` routes beside the signer's (a test app's login, fixtures);
    /// the fast path still answers first, and `/api/{integration}…` stays the API proxy's: a
    /// route of `extra` under `/api/` is never reached.
    #[must_use]
    pub fn with_routes(mut self, extra: Router) -> Self {
        self.router = self.router.merge(extra);
        self
    }

    fn observe<B>(&self, req: &Request<B>) {
        if let Some(observe) = &self.observer {
            observe(req.method(), req.uri());
        }
    }

    /// The same service, telling `observer` of every request before it is answered, whichever
    /// path answers it: a layer around the whole service (test counters, diagnostics).
    #[must_use]
    pub fn observed(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }
}

/// The future of a [`SignerService`] call: the token fast path's reply, the proxy's (in front of
/// the router), or the router's.
pub type SignerFuture<B> =
    Either<Ready<Result<Response, Infallible>>, Either<ProxyFuture, Oneshot<Router, Request<B>>>>;

impl SignerService {
    /// The fast path's reply to `req` from `peer`, when it has one; `None` when the request is
    /// the router's (and then nothing was counted or changed). A test hook (feature `testing`):
    /// serving goes through [`serve`](crate::serve) or `tower::Service`.
    #[cfg(feature = "testing")]
    pub fn fast_reply<B: axum::body::HttpBody>(
        &self,
        req: &Request<B>,
        peer: SocketAddr,
    ) -> Option<Response> {
        self.fast.as_ref()?.answer(req, peer)
    }

    /// Whether `req` goes to the API proxy in front of the router (see `proxy_fast_path`). A test
    /// hook (feature `testing`).
    #[cfg(feature = "testing")]
    pub fn proxies_in_front<B>(&self, req: &Request<B>) -> bool {
        self.proxy.as_ref().is_some_and(|p| p.takes(req))
    }

    /// Answers `req` from `peer`: on the fast path when it can, otherwise through the router
    /// (which then sees `peer` as `ConnectInfo`).
    pub(crate) fn dispatch<B>(&self, mut req: Request<B>, peer: SocketAddr) -> SignerFuture<B>
    where
        B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        self.observe(&req);
        if let Some(fast) = &self.fast {
            if let Some(res) = fast.answer(&req, peer) {
                return Either::Left(std::future::ready(Ok(res)));
            }
        }
        if let Some(proxy) = self.proxy.as_ref().filter(|p| p.takes(&req)) {
            return Either::Right(Either::Left(proxy.answer(req, peer)));
        }
        req.extensions_mut().insert(ConnectInfo(peer));
        Either::Right(Either::Right(self.router.clone().oneshot(req)))
    }
}

/// For `tower::ServiceExt::oneshot` in tests and fuzzers: the peer comes from the request's
/// `ConnectInfo<SocketAddr>`; without one, the router answers alone (as `app` would).
impl<B> tower::Service<Request<B>> for SignerService
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = SignerFuture<B>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match req.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(&ConnectInfo(peer)) => self.dispatch(req, peer),
            None => {
                self.observe(&req);
                Either::Right(Either::Right(self.router.clone().oneshot(req)))
            }
        }
    }
}

/// Answers cached-token requests without the router (see the module docs).
pub(crate) struct TokenFastPath {
    state: AppState,
    ids: SequentialRequestId,
    /// `http_requests_total{status="200"}` for `/token` and `/token/{integration}`, looked up
    /// once, on first use (so `/metrics` shows a series only once it counts something, as the
    /// router's do).
    served: [OnceLock<Counter>; 2],
}

/// The routes the fast path serves, as the metrics label them.
const ROUTES: [&str; 2] = [crate::server::TOKEN_ROUTE, crate::server::NAMED_TOKEN_ROUTE];

impl TokenFastPath {
    fn new(state: AppState, ids: SequentialRequestId) -> Self {
        Self {
            state,
            ids,
            served: Default::default(),
        }
    }

    fn count_served(&self, route: usize) {
        self.served[route]
            .get_or_init(|| {
                self.state
                    .metrics()
                    .requests
                    .get_or_create(&RequestLabels {
                        route: ROUTES[route],
                        status: 200,
                    })
                    .clone()
            })
            .inc();
    }

    /// The reply, when this request is a cached-token request the cache can answer now; `None`
    /// (having changed nothing) for the router to handle.
    pub(crate) fn answer<B: axum::body::HttpBody>(
        &self,
        req: &Request<B>,
        peer: SocketAddr,
    ) -> Option<Response> {
        // With debug on, the router writes a span and debug lines per request: let it.
        if LevelFilter::current() >= LevelFilter::DEBUG
            || req.method() != Method::POST
            || !req.body().is_end_stream()
        {
            return None;
        }
        let state = &self.state;
        let path = req.uri().path();
        let (route, name) = match path.strip_prefix(crate::server::TOKEN_ROUTE) {
            Some("") => (0, None),
            // The router decodes a percent-encoded name (`/token/defaul%74` is `default`): leave
            // those to it rather than decode here.
            Some(rest) => match rest.strip_prefix('/') {
                Some(n) if !n.is_empty() && !n.contains(['/', '%']) => (1, Some(n)),
                _ => return None,
            },
            None => return None,
        };
        let config = state.config();
        let name = name.unwrap_or(&config.default_integration);
        let headers = req.headers();
        let cache = state.cache(name)?;
        let integration = cache.integration();
        let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
        if !integration.allowed_origins.allows(origin)
            || headers.get(CSRF_HEADER)?.as_bytes() != CSRF_HEADER_VALUE.as_bytes()
            || integration.caller.is_some()
        {
            return None;
        }
        let (token, lookup) = cache.cached_now()?;
        if let Some(policy) = &integration.browser_scopes {
            if !policy.refused(&token.scope).is_empty() {
                return None;
            }
        }
        let body = token::render(state, &cache, &integration, &token).ok()?;
        // Every condition holds: only now spend the client's allowance, so a request the router
        // ends up handling is never counted twice.
        let ip = gates::client_ip(state, headers, Some(peer));
        state.limits().check_ip(ip).ok()?;

        let request_id = match headers.get(REQUEST_ID) {
            Some(id) if request_id::is_plain_request_id(id) => id.clone(),
            _ => self.ids.next_value(),
        };
        let mut res = Response::new(axum::body::Body::from(body));
        *res.status_mut() = StatusCode::OK;
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let mut res = gates::decorate(res, gates::cors_for(&cache, headers));
        res.headers_mut().insert(REQUEST_ID, request_id);
        cache.count(lookup);
        self.count_served(route);
        Some(res)
    }
}
