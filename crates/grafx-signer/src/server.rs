//! The router.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use grafx_core::ErrorCode;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::metrics::RequestLabels;
use crate::request_id::{drop_odd_request_id, SequentialRequestId, REQUEST_ID};
use crate::routes::{ops, proxy, token};
use crate::{AppError, AppState};

/// The token route, as the router matches it and the metrics label it (the fast path too).
pub(crate) const TOKEN_ROUTE: &str = "/token";
/// The token route for a named integration.
pub(crate) const NAMED_TOKEN_ROUTE: &str = "/token/{integration}";
/// The API proxy's routes: `/api/{integration}`, with a slash, and with a path below it (its
/// metric label is the first).
pub(crate) const PROXY_ROUTES: [&str; 3] = [
    "/api/{integration}",
    "/api/{integration}/",
    "/api/{integration}/{*path}",
];
/// What every API proxy path starts with.
pub(crate) const PROXY_PREFIX: &str = "/api/";
/// The operational routes.
const HEALTHZ: &str = "/healthz";
const READYZ: &str = "/readyz";
const METRICS: &str = "/metrics";

/// The operational routes: `/healthz`, `/readyz`, `/metrics`.
fn ops_routes() -> Router<AppState> {
    Router::new()
        .route(HEALTHZ, get(ops::healthz))
        .route(READYZ, get(ops::readyz))
        .route(METRICS, get(ops::metrics))
}

/// The operational endpoints alone, for their own listener (`ops_listen`): monitoring need not
/// reach the public origin, and the public origin does not show them.
pub fn ops_app(state: AppState) -> Router {
    ops_routes()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The signer's routes: `/token`, `/token/{integration}`, the operational routes unless they have
/// their own listener, and the static front-end when `static_dir` is set.
pub fn app(state: AppState) -> Router {
    app_with_request_ids(state, SequentialRequestId::new())
}

/// `app`, numbering requests with `ids` (shared with the fast path).
pub(crate) fn app_with_request_ids(state: AppState, ids: SequentialRequestId) -> Router {
    let config = state.config();
    let token_route = || {
        post(token::issue)
            .options(token::preflight)
            .fallback(token::wrong_method)
    };
    let mut router = Router::new()
        .route(TOKEN_ROUTE, token_route())
        .route(NAMED_TOKEN_ROUTE, token_route());
    for route in PROXY_ROUTES {
        router = router.route(route, any(proxy::forward));
    }
    if config.ops_listen.is_none() {
        router = router.merge(ops_routes());
    }
    let router = router.method_not_allowed_fallback(method_not_allowed);
    let router = match &config.static_dir {
        // ServeDir refuses `..` and absolute-path tricks; the guard in front of it refuses
        // dotfiles and symlinks that lead out of the directory.
        Some(dir) => {
            let root = Arc::new(std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone()));
            let files = ServeDir::new(dir).append_index_html_on_directories(true);
            router.fallback_service(tower::Layer::layer(
                &middleware::from_fn(move |req: Request, next: Next| {
                    let root = Arc::clone(&root);
                    async move { static_guard(&root, req, next).await }
                }),
                files,
            ))
        }
        None => router.fallback(not_found),
    };
    router
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .layer(middleware::from_fn_with_state(
            (config.request_timeout, config.proxy_timeout),
            deadline,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        // A span per request at debug level: at the shipped info level none is built (building
        // and formatting one cost ~10% of a cached /token). The lines a request writes at info
        // and above carry its `request_id` themselves.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::debug_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        })
        // A refused request is counted in the metrics; an upstream outage must not turn traffic
        // into a line of ERROR per request (the cache logs the outage once).
        .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG)))
        .layer(SetRequestIdLayer::new(REQUEST_ID, ids))
        // Outermost: a client's own request id is logged and echoed only if it is a plain token;
        // anything else is dropped, and the signer numbers the request itself.
        .layer(tower::util::MapRequestLayer::new(drop_odd_request_id))
        .with_state(state)
}

/// 408 when a request takes longer than the request timeout. The API proxy's own steps answer
/// first (408 for a slow body, 504 when CHILI is slow): its backstop adds `proxy_timeout_secs`.
async fn deadline(
    State((limit, proxy)): State<(std::time::Duration, std::time::Duration)>,
    req: Request,
    next: Next,
) -> Response {
    let limit = if req.uri().path().starts_with(PROXY_PREFIX) {
        limit + proxy
    } else {
        limit
    };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

/// 404 for a dotfile or dot-directory (`.env`, `.git/…`, in any percent-encoding), and for a
/// path whose real location (after symlinks) is outside the static directory.
async fn static_guard(root: &Path, req: Request, next: Next) -> Response {
    let decoded = percent_decode(req.uri().path());
    let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    let hidden = segments.iter().any(|s| s.starts_with('.'));
    let escapes = !hidden && {
        let on_disk = segments.iter().fold(root.to_path_buf(), |p, s| p.join(s));
        let root = root.to_path_buf();
        // Only what exists can be served; its real path (and a directory's index.html, which
        // ServeDir adds) must stay under the root. Off the async threads: it touches the disk.
        tokio::task::spawn_blocking(move || {
            let outside =
                |p: &Path| std::fs::canonicalize(p).is_ok_and(|real| !real.starts_with(&root));
            outside(&on_disk) || (on_disk.is_dir() && outside(&on_disk.join("index.html")))
        })
        .await
        .unwrap_or(true)
    };
    if hidden || escapes {
        return not_found(req).await;
    }
    next.run(req).await
}

/// `%XX` decoded (invalid escapes kept as they are); enough to see dots and slashes.
fn percent_decode(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Static labels: no allocation per request on the hot path.
    let route = match req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
    {
        Some(r) if PROXY_ROUTES.contains(&r) => PROXY_ROUTES[0],
        Some(r) => [TOKEN_ROUTE, NAMED_TOKEN_ROUTE, HEALTHZ, READYZ, METRICS]
            .into_iter()
            .find(|known| *known == r)
            .unwrap_or("other"),
        None => "other",
    };
    let res = next.run(req).await;
    state
        .metrics()
        .requests
        .get_or_create(&RequestLabels {
            route,
            status: res.status().as_u16(),
        })
        .inc();
    res
}

async fn not_found(req: Request) -> Response {
    AppError::new(
        ErrorCode::NotFound,
        format!("no route for {}", req.uri().path()),
    )
    .into_response()
}

async fn method_not_allowed() -> Response {
    AppError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not support that method",
    )
    .into_response()
}
