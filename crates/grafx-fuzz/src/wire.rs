//! The signer's wire: its JSON reply types, and whole HTTP requests through the real router
//! (method, path, `Origin`, `X-CSRF`, `X-Forwarded-For`, `Content-Type`, body), with an upstream
//! stand-in so no network is involved.
//!
//! ```
//! grafx_fuzz::signer_wire(b"\x01\xffPOST\xfftoken\xffhttps://app.example\xff1");
//! ```

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Uri};
use grafx_core::{ErrorBody, SignerToken, TokenGrant};
use grafx_signer::{
    AppState, ClientSecret, Integration, MemoryStore, OriginPolicy, SignerConfig, SignerService,
    SystemClock, TokenSource, UpstreamError,
};
use tower::ServiceExt;

/// Appended to each integration's name to make its secret; a reply that contains it when the
/// request did not is a leak.
const SECRET_SUFFIX: &str = "-Zq8vK1xW-client-secret";

/// The only origin the fuzzed signer allows.
const ORIGIN: &str = "https://app.example";

struct FixedSource;

#[async_trait]
impl TokenSource for FixedSource {
    async fn fetch(&self, integration: &Integration) -> Result<TokenGrant, UpstreamError> {
        let scope = if integration.name == "writer" {
            "template:read template:write"
        } else {
            "template:read"
        };
        TokenGrant::from_parts("eyJ.fuzz.token", "Bearer", 3600.0, scope)
            .map_err(|e| UpstreamError::InvalidReply(e.to_string()))
    }
}

fn integration(name: &str, origins: Option<&str>) -> Integration {
    let environment = grafx_core::EnvironmentName::new("acme").unwrap_or_else(|_| unreachable!());
    Integration {
        name: name.into(),
        client_id: format!("{name}-id"),
        client_secret: ClientSecret::new(format!("{name}{SECRET_SUFFIX}")),
        environment_api_url: grafx_core::EnvironmentApiUrl::from_environment(&environment),
        platform_api_url: grafx_core::EnvironmentApiUrl::parse(grafx_core::PLATFORM_API_URL)
            .expect("a valid constant"),
        environment,
        auth_url: grafx_signer::DEFAULT_AUTH_URL
            .parse()
            .unwrap_or_else(|_| unreachable!()),
        audience: grafx_signer::DEFAULT_AUDIENCE.into(),
        allowed_origins: origins.map_or(OriginPolicy::ServerSideOnly, |o| {
            OriginPolicy::parse_list(o).unwrap_or_else(|_| unreachable!())
        }),
        browser_scopes: Some(grafx_signer::BrowserScopes::Only(
            grafx_core::Scopes::parse("template:read"),
        )),
        caller: None,
        proxy: None,
    }
}

/// `server` with an API proxy in front of a closed local port: the gates and the path checks
/// run, and anything they let through fails fast with `proxy_upstream_failed`, never the network.
fn proxied_server() -> Integration {
    Integration {
        environment_api_url: grafx_core::EnvironmentApiUrl::parse(
            "http://127.0.0.1:9/grafx/api/v1/environment/acme/",
        )
        .unwrap_or_else(|_| unreachable!()),
        proxy: Some(grafx_signer::ProxyPolicy {
            allow: grafx_signer::ProxyAllowList::parse(["GET projects/*", "POST output/*"])
                .unwrap_or_else(|_| unreachable!()),
            allowed_origins: OriginPolicy::parse_list(ORIGIN).unwrap_or_else(|_| unreachable!()),
            quotas: Vec::new(),
            max_request_bytes: 1024,
            require_caller: false,
            shared_identity: true,
        }),
        ..integration("server", None)
    }
}

struct World {
    runtime: tokio::runtime::Runtime,
    plain: AppState,
    proxied: AppState,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let state = |trust_proxy: bool| {
            let mut config = SignerConfig::single(integration("default", Some(ORIGIN)));
            config
                .integrations
                .insert("writer".into(), integration("writer", Some(ORIGIN)));
            config
                .integrations
                .insert("server".into(), proxied_server());
            config.trust_proxy = trust_proxy;
            config.rate_limit_per_minute = 0;
            AppState::with_parts(
                config,
                Arc::new(FixedSource),
                Arc::new(MemoryStore::default()),
                Arc::new(SystemClock),
            )
        };
        World {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("a runtime: {e}")),
            plain: state(false),
            proxied: state(true),
        }
    })
}

/// Splits the input at `0xFF` bytes into the request's parts.
pub fn signer_wire(data: &[u8]) {
    let selector = data
        .split(|b| *b == 0xFF)
        .next()
        .and_then(|p| p.first().copied())
        .unwrap_or(0);
    if selector & 1 == 0 {
        json_replies(data.get(1..).unwrap_or_default());
        return;
    }
    let Some(req) = request_from(data) else {
        return;
    };
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let origin = req.headers().get("origin").cloned();
    let csrf = req.headers().get("x-csrf").cloned();
    let w = world();
    let state = if selector & 2 == 0 {
        &w.plain
    } else {
        &w.proxied
    };
    let res = w
        .runtime
        .block_on(SignerService::new(state.clone()).oneshot(req))
        .unwrap_or_else(|e| match e {});
    let status = res.status();
    let bytes = w
        .runtime
        .block_on(axum::body::to_bytes(res.into_body(), 1 << 20))
        .unwrap_or_default();
    let what = format!("{status} for {method} {uri}");
    // The one 5xx allowed: the proxy let a request through to its (closed) upstream, which only
    // an allowed method and path, from the allowed origin with the CSRF header, may do.
    let proxied = status == 502 && uri.path().starts_with("/api/server/");
    assert!(
        !status.is_server_error() || proxied,
        "{what}: {}",
        String::from_utf8_lossy(&bytes)
    );
    if proxied {
        check_proxied(&method, &uri, origin.as_ref(), csrf.as_ref(), &bytes);
    }
    if status.is_client_error() {
        check_refusal(data, &what, &bytes);
    }
    if status.is_success() && method == Method::POST && !uri.path().starts_with("/api/") {
        check_token_reply(origin.as_ref(), csrf.as_ref(), &bytes);
    }
}

/// The request the input spells: method, path, four headers and a body, split at `0xFF`; with
/// a peer address, as `serve` gives one.
fn request_from(data: &[u8]) -> Option<Request<Body>> {
    let mut parts = data.split(|b| *b == 0xFF).skip(1);
    let method = parts
        .next()
        .and_then(|m| Method::from_bytes(m).ok())
        .unwrap_or(Method::POST);
    let path = parts.next()?;
    let uri = Uri::try_from([b"/".as_slice(), path].concat()).ok()?;
    let mut req = Request::builder().method(method).uri(uri);
    for name in ["origin", "x-csrf", "x-forwarded-for", "content-type"] {
        if let Some(value) = parts.next().and_then(|v| HeaderValue::from_bytes(v).ok()) {
            req = req.header(name, value);
        }
    }
    let body = parts.next().unwrap_or_default().to_vec();
    let mut req = req.body(Body::from(body)).ok()?;
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [203, 0, 113, 7],
            40_000,
        ))));
    Some(req)
}

/// A request the proxy forwarded: an allowed method and plain path, from the allowed origin with
/// `X-CSRF: 1`, answered with `proxy_upstream_failed`.
fn check_proxied(
    method: &Method,
    uri: &Uri,
    origin: Option<&HeaderValue>,
    csrf: Option<&HeaderValue>,
    bytes: &[u8],
) {
    let e: ErrorBody = serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(e.error.as_str(), "proxy_upstream_failed");
    let rest = uri.path().trim_start_matches("/api/server/");
    let path =
        grafx_signer::ProxyPath::parse(rest).unwrap_or_else(|e| panic!("forwarded {rest}: {e}"));
    let allow = grafx_signer::ProxyAllowList::parse(["GET projects/*", "POST output/*"])
        .unwrap_or_else(|_| unreachable!());
    assert!(
        allow.allows(method.as_str(), &path),
        "forwarded {method} {rest}"
    );
    assert_eq!(canonical(origin).as_deref(), Some(ORIGIN), "{origin:?}");
    assert_eq!(csrf.map(HeaderValue::as_bytes), Some(b"1".as_slice()));
}

/// An `Origin` as browsers send it: scheme and host are case-insensitive, and `:443` is https's
/// default port, so those spellings are the same origin.
fn canonical(origin: Option<&HeaderValue>) -> Option<String> {
    origin
        .and_then(|o| o.to_str().ok())
        .map(|o| o.to_ascii_lowercase().replacen(":443", "", 1))
        .map(|o| o.trim_end_matches('/').to_owned())
}

/// A 4xx is an error body that leaks no secret.
fn check_refusal(data: &[u8], what: &str, bytes: &[u8]) {
    let e: ErrorBody = serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "{what} is not an error body ({e}): {}",
            String::from_utf8_lossy(bytes)
        )
    });
    // A secret the request itself carries may be echoed (a path in `not_found`); the
    // fuzzer learns the suffix from this very comparison, so that case is not a leak.
    let in_request = data
        .windows(SECRET_SUFFIX.len())
        .any(|w| w == SECRET_SUFFIX.as_bytes());
    assert!(
        in_request || !e.error_description.contains(SECRET_SUFFIX),
        "{e:?}"
    );
}

/// A token is handed out only to the allowed origin, with the CSRF header, and only one the
/// integration's browser scopes allow.
fn check_token_reply(origin: Option<&HeaderValue>, csrf: Option<&HeaderValue>, bytes: &[u8]) {
    assert_eq!(canonical(origin).as_deref(), Some(ORIGIN), "{origin:?}");
    assert_eq!(
        csrf.map(HeaderValue::as_bytes),
        Some(b"1".as_slice()),
        "X-CSRF"
    );
    let t: SignerToken =
        serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("a 200 that is not a token ({e})"));
    assert_eq!(t.scope.to_string(), "template:read");
}

/// The reply types round-trip: whatever parses, serializes and parses back to the same value.
fn json_replies(data: &[u8]) {
    if let Ok(t) = serde_json::from_slice::<SignerToken>(data) {
        let again: SignerToken = serde_json::from_str(
            &serde_json::to_string(&t).unwrap_or_else(|e| panic!("serialize: {e}")),
        )
        .unwrap_or_else(|e| panic!("round trip: {e}"));
        assert_eq!(t, again);
    }
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(data) {
        let again: ErrorBody = serde_json::from_str(
            &serde_json::to_string(&e).unwrap_or_else(|e| panic!("serialize: {e}")),
        )
        .unwrap_or_else(|e| panic!("round trip: {e}"));
        assert_eq!(e, again);
    }
}
