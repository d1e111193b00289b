//! The router, and starting the emulator on a socket (in-process for tests, or from the binary).

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::problem::{auth0_error, Problem};
use crate::{api, control, faults, journal, oauth, Emulator, EmulatorConfig, Error};

/// The emulator's routes: `/oauth/token`, the Environment API and `/_emulator/`.
pub fn app(em: Emulator) -> Router {
    let api_root = format!("/grafx/api/v1/environment/{}", em.environment());
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([
            header::WWW_AUTHENTICATE,
            header::RETRY_AFTER,
            header::LOCATION,
            header::CONTENT_DISPOSITION,
        ])
        .max_age(Duration::from_secs(600));
    let api = api::routes()
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(api::MAX_API_BODY))
        .layer(from_fn_with_state(em.clone(), faults::api_faults))
        .layer(from_fn_with_state(em.clone(), journal::record))
        // Outermost, so preflights are answered before they are counted or faulted, and every
        // reply (faults included) carries CORS headers a browser can read.
        .layer(cors.clone());
    let token = Router::new()
        .route(
            "/oauth/token",
            post(oauth::token).fallback(token_method_not_allowed),
        )
        .layer(DefaultBodyLimit::max(oauth::MAX_TOKEN_BODY))
        .layer(from_fn_with_state(em.clone(), faults::token_faults));
    let platform = api::platform_routes()
        .layer(from_fn_with_state(em.clone(), journal::record))
        .layer(cors.clone());
    Router::new()
        .merge(token)
        .merge(platform)
        .nest(&api_root, api)
        // Browser tests arm faults and read counters too; it is a test control plane, so any origin.
        .nest(
            "/_emulator",
            control::routes().layer(CorsLayer::permissive()),
        )
        .fallback(not_found)
        .layer(TraceLayer::new_for_http())
        .with_state(em)
}

async fn token_method_not_allowed() -> Response {
    let mut res = auth0_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "Use POST for /oauth/token",
    );
    res.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    res
}

async fn not_found(State(em): State<Emulator>, req: Request) -> Response {
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix("/grafx/api/v1/environment/") {
        let env = rest.split('/').next().unwrap_or("");
        return Problem::not_found(format!(
            "Environment '{env}' does not exist here; this emulator serves '{}'.",
            em.environment()
        ))
        .into_response();
    }
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": "not_found", "error_description": format!("No route for {path}") }).to_string(),
    )
        .into_response()
}

/// An emulator serving on a socket. Dropping it stops the server.
pub struct RunningEmulator {
    emulator: Emulator,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningEmulator {
    /// The state handle, to read counters and arm faults.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ip:port`.
    pub fn base_url(&self) -> &str {
        self.emulator.base_url()
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s), then returns.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `listen` (port 0 picks a free port) and serves the emulator in a background task.
pub async fn start(config: EmulatorConfig, listen: SocketAddr) -> Result<RunningEmulator, Error> {
    let listener = TcpListener::bind(listen).await?;
    let mut addr = listener.local_addr()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let emulator = Emulator::new(config, format!("http://{addr}"))?;
    let (tx, rx) = oneshot::channel::<()>();
    let router = app(emulator.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    Ok(RunningEmulator {
        emulator,
        addr,
        shutdown: Some(tx),
        task,
    })
}
