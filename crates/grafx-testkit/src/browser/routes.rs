//! The test app's routes beside the signer (`/_test/*`), as the browser suites call them:
//!
//! - `GET /_test/login?sub=alice`: what an app's login does (a session cookie and a session JWT);
//!   without `sub`, signs out;
//! - `GET /_test/stats`: signer POSTs counted per path (by [`counting_observer`]), with CORS;
//! - `POST /_test/malformed/token`, `/_test/invalid/token`, `/_test/cut/token`: token endpoints
//!   that answer 200 with a body the browser must refuse (and whose token it must not echo).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use grafx_signer::Observer;

/// The test app's session secret (HS256), cookie and issuer (see `/_test/login`).
pub(super) const SESSION_SECRET: &str = "the-browser-suite-session-secret-0123456789";
pub(super) const SESSION_COOKIE: &str = "grafx_test_session";
pub(super) const SESSION_ISSUER: &str = "https://login.test/";

/// Signer POSTs per path, as `/_test/stats` reports them.
pub(super) type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

/// An observer around the whole signer (fast path included) that counts its POSTs in `counts`.
pub(super) fn counting_observer(counts: Counts) -> Observer {
    Arc::new(move |method: &Method, uri: &Uri| {
        if method == Method::POST {
            if let Ok(mut c) = counts.lock() {
                *c.entry(uri.path().to_owned()).or_default() += 1;
            }
        }
    })
}

/// The `/_test/*` routes for a page on `page_origin`, reporting `counts`.
pub(super) fn test_routes(page_origin: &str, counts: Counts) -> Router {
    let origin = page_origin.to_owned();
    Router::new()
        .route(
            "/_test/stats",
            get(move || {
                let snapshot = counts.lock().map(|c| c.clone()).unwrap_or_default();
                async move { cors(axum::Json(snapshot).into_response()) }
            }),
        )
        .route(
            "/_test/login",
            get(move |q: axum::extract::Query<BTreeMap<String, String>>| {
                let origin = origin.clone();
                async move { login(&origin, q.get("sub").map(String::as_str)) }
            }),
        )
        .route("/_test/malformed/token", token_reply("{\"access_token\": 12"))
        // A 200 that holds a token but is not a valid reply (token_type "mac"), and one cut off
        // inside the token: the browser's error must carry neither token.
        .route(
            "/_test/invalid/token",
            token_reply(
                r#"{"access_token": "eyJ.leaked-token-value.sig", "token_type": "mac", "expires_in": 60}"#,
            ),
        )
        .route(
            "/_test/cut/token",
            token_reply(r#"{"token_type":"Bearer","access_token":"eyJ.cut-token-val"#),
        )
}

/// A token endpoint that answers every POST with 200 and `body` as JSON (and its preflight).
fn token_reply(body: &'static str) -> MethodRouter {
    post(move || async move {
        cors(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
        )
    })
    .options(|| async { cors(StatusCode::NO_CONTENT.into_response()) })
}

/// `GET /_test/login?sub=alice`: what an app's login does. Sets the session cookie (for
/// `credentials: "include"`) and returns the session JWT (for `getSessionToken`); without `sub`,
/// signs out.
fn login(page_origin: &str, sub: Option<&str>) -> Response {
    let (cookie, body) = match sub {
        None => (
            format!("{SESSION_COOKIE}=; Path=/; Max-Age=0"),
            String::new(),
        ),
        Some(sub) => {
            let jwt = session_jwt(sub);
            (
                format!("{SESSION_COOKIE}={jwt}; Path=/; HttpOnly; SameSite=Lax"),
                jwt,
            )
        }
    };
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    if let (Ok(c), Ok(o)) = (
        HeaderValue::from_str(&cookie),
        HeaderValue::from_str(page_origin),
    ) {
        h.insert(header::SET_COOKIE, c);
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    res
}

/// A session JWT for `sub`, valid for an hour (empty if it cannot be signed, which the signer
/// then refuses).
fn session_jwt(sub: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = serde_json::json!({
        "sub": sub, "iss": SESSION_ISSUER, "iat": now, "exp": now + 3600,
    });
    jsonwebtoken::EncodingKey::from_secret(SESSION_SECRET.as_bytes())
        .and_then(|k| jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &k))
        .unwrap_or_default()
}

fn cors(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    res
}
