//! The API proxy in front of the router: a request under `/api/{integration}` goes straight to
//! the proxy's handler, with what the router's layers would have done done here, and nothing
//! more.
//!
//! Through the router a proxied request paid for routing, an extensions map, the request-id
//! layers, a trace layer, a metrics middleware and a boxed handler future before the proxy even
//! looked at it (see BENCHMARKS.md). The proxy's own steps (every gate, the body limits, the
//! audit) are the same code either way: only the router's bookkeeping is done here instead:
//! - an `X-Request-Id` that is not a plain token is dropped, a missing one numbered, and the
//!   request's id echoed on the reply;
//! - the request deadline (`request_timeout_secs` plus `proxy_timeout_secs`: 408 after it);
//! - `grafx_signer_http_requests_total{route="/api/{integration}"}`;
//! - the peer address, as `ConnectInfo`.
//!
//! With any debug logging on, every request goes through the router (its request span and debug
//! lines). `tests/http_api.rs` checks that both paths give the same reply, header for header.
//!
//! ```ignore
//! if let Some(reply) = proxy.answer(req, peer) { return reply; } // a boxed future
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::level_filters::LevelFilter;

use crate::metrics::RequestLabels;
use crate::request_id::{self, SequentialRequestId, REQUEST_ID};
use crate::routes::proxy;
use crate::server::{PROXY_PREFIX, PROXY_ROUTES};
use crate::AppState;

/// The future of a proxied request answered in front of the router.
pub type ProxyFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// Hands `/api/{integration}…` requests to the proxy (see the module docs).
pub(crate) struct ProxyFastPath {
    state: AppState,
    ids: SequentialRequestId,
    /// The router's deadline for a proxied request.
    deadline: Duration,
}

impl ProxyFastPath {
    pub(crate) fn new(state: AppState, ids: SequentialRequestId) -> Self {
        let config = state.config();
        let deadline = config.request_timeout + config.proxy_timeout;
        Self {
            state,
            ids,
            deadline,
        }
    }

    /// Whether `req` is answered here: the router routes it to the proxy, and no debug logging
    /// is on.
    pub(crate) fn takes<B>(&self, req: &Request<B>) -> bool {
        LevelFilter::current() < LevelFilter::DEBUG && is_proxy_route(req.uri().path())
    }

    /// The proxy's answer to `req` (one it [`takes`](Self::takes)).
    pub(crate) fn answer<B>(&self, req: Request<B>, peer: SocketAddr) -> ProxyFuture
    where
        B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let mut req = request_id::drop_odd_request_id(req.map(Body::new));
        let id = match req.headers().get(REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = self.ids.next_value();
                req.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        req.extensions_mut().insert(ConnectInfo(peer));
        let state = self.state.clone();
        let deadline = self.deadline;
        Box::pin(async move {
            let forwarded = proxy::forward(State(state.clone()), req);
            let mut res = match tokio::time::timeout(deadline, forwarded).await {
                Ok(res) => {
                    count(&state, &res);
                    res
                }
                // As the router: its metrics middleware sits inside the deadline, so a request
                // that ran out of time is not counted there either.
                Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
            };
            if !res.headers().contains_key(REQUEST_ID) {
                res.headers_mut().insert(REQUEST_ID, id);
            }
            Ok(res)
        })
    }
}

/// `grafx_signer_http_requests_total`, labelled as the router's metrics middleware labels it.
fn count(state: &AppState, res: &Response) {
    state
        .metrics()
        .requests
        .get_or_create(&RequestLabels {
            route: PROXY_ROUTES[0],
            status: res.status().as_u16(),
        })
        .inc();
}

/// Whether the router routes `path` to the proxy: `/api/{integration}` with a non-empty name,
/// alone, with a slash, or with a path below it.
fn is_proxy_route(path: &str) -> bool {
    path.strip_prefix(PROXY_PREFIX)
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_s_proxy_routes_and_no_other() {
        for routed in [
            "/api/writer",
            "/api/writer/",
            "/api/writer/output/settings",
            "/api/w%20x/a",
        ] {
            assert!(is_proxy_route(routed), "{routed}");
        }
        for other in [
            "/api/",
            "/api",
            "/api//output",
            "/apix/writer",
            "/token",
            "/",
            "/ap/api/x",
        ] {
            assert!(!is_proxy_route(other), "{other}");
        }
    }
}
