//! `/api/{integration}/{path…}`: the API proxy (the Backend-for-Frontend pattern). A page calls
//! the Environment API through the signer, which adds the integration's token; the token never
//! reaches the browser, so a write integration can serve pages without handing them its token.
//!
//! A request's way, one file a step:
//! 1. [`admit`]: the integration and its proxy, the `Origin` (the proxy's `allowed_origins`, or a
//!    same-origin GET on an allowed host, told by `Sec-Fetch-Site`); then the gates `/token` has
//!    too ([`super::gates`]: the client IP's limit, `X-CSRF: 1`, the caller's session, the
//!    signed-in user's limit); then the path against the allow-list and the caller's quotas.
//! 2. [`body`]: the request body, bounded in size, in time, and in the memory all held bodies
//!    take together ([`budget`]; held replies have a budget of their own).
//! 3. [`send`]: CHILI is asked with the integration's token, within `proxy_timeout_secs`; a 401 is
//!    retried once with a replacement token when the body can be sent again.
//! 4. [`reply`]: CHILI's status, headers and body go back; API links made relative
//!    ([`links`]), the token redacted from every header and body ([`redact`]).
//! 5. [`owners`]: with caller authentication each user's projects and outputs are theirs: what
//!    names one is forwarded only for its owner, what CHILI creates is bound to the user.
//! 6. [`audit`]: every write on record, with the user and the client's address.
//!
//! Nothing is sent to CHILI before every gate has passed.

mod admit;
mod audit;
mod body;
mod budget;
mod links;
mod owners;
mod redact;
mod reply;
mod send;

use std::net::SocketAddr;
use std::sync::Arc;

use super::gates;
use crate::metrics::ProxyLabels;
use crate::{AppError, AppState, Integration, ProxyPolicy, TokenCache};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, request::Parts, HeaderValue, Method};
use axum::response::{IntoResponse, Response};

pub(crate) use body::BodyLimits;
pub(crate) use budget::HeldMemory;

/// An admitted request's integration, borrowed for the request's time (nothing of the
/// integration's settings is copied per request).
struct Admitted<'a> {
    name: &'a str,
    cache: &'a Arc<TokenCache>,
    integration: &'a Arc<Integration>,
    proxy: &'a ProxyPolicy,
    origin: String,
}

/// Who sent a request that passed every gate: for quotas and the audit.
struct Sender<'a> {
    ip: std::net::IpAddr,
    user: Option<&'a str>,
    request_id: &'a str,
}

/// `ANY /api/{integration}/{path…}`.
pub(crate) async fn forward(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let found = admit::integration(&state, &parts);
    let admitted = match &found {
        Ok((cache, integration)) => admit::admit(&parts, cache, integration),
        Err(e) => Err(e.clone()),
    };
    let cors = admitted
        .as_ref()
        .ok()
        .and_then(|a| Some((parts.headers.get(header::ORIGIN)?.clone(), a.credentials())));
    let res = match admitted {
        Ok(_) if parts.method == Method::OPTIONS => Ok(admit::preflight()),
        Ok(a) => forward_admitted(&state, &parts, body, a).await,
        Err(e) => Err(e),
    };
    let res = res.unwrap_or_else(|e| gates::refuse(&state, e).into_response());
    let mut res = gates::decorate(res, cors);
    res.headers_mut().insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "retry-after, www-authenticate, content-disposition, content-length, location, etag",
        ),
    );
    res
}

impl Admitted<'_> {
    /// Whether the page may send credentials: never with `--dev-allow-any-origin`.
    fn credentials(&self) -> bool {
        self.proxy.allowed_origins != crate::OriginPolicy::AnyForDevelopment
    }
}

/// The gates before anything is read: the per-IP limit, `X-CSRF`, the allow-list, the caller
/// (when the proxy requires one) and the per-user limit. The client's address, the checked path
/// and the caller.
async fn pass_gates(
    state: &AppState,
    parts: &Parts,
    a: &Admitted<'_>,
) -> Result<(std::net::IpAddr, crate::ProxyPath, Option<crate::Caller>), AppError> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = gates::client_ip(state, &parts.headers, peer);
    gates::check_ip_limit(state, ip)?;
    gates::require_csrf(&parts.headers)?;
    let path = admit::allowed_path(a, &parts.method, admit::split_path(parts.uri.path()).1)?;
    let caller = if a.proxy.require_caller {
        // Large (a key set may be fetched): boxed, so that a proxy without callers does not
        // carry it in every request's future.
        Box::pin(gates::authenticate(
            state,
            a.name,
            a.integration,
            &parts.headers,
        ))
        .await?
    } else {
        None
    };
    gates::check_user_limit(state, caller.as_ref())?;
    Ok((ip, path, caller))
}

/// The shared gates, the proxy's own, the body, then the request to CHILI and its reply.
async fn forward_admitted(
    state: &AppState,
    parts: &Parts,
    body: Body,
    a: Admitted<'_>,
) -> Result<Response, AppError> {
    let (ip, path, caller) = pass_gates(state, parts, &a).await?;
    let sender = Sender {
        ip,
        user: caller.as_ref().and_then(|c| c.subject.as_deref()),
        request_id: crate::request_id::of(&parts.headers),
    };
    admit::check_quotas(state, a.name, &parts.method, &path, &sender)?;
    let claim = owners::claim(&parts.method, &path);
    // A render's `projectId` is checked, so its body is held whole.
    let whole = claim.renders_project && !a.proxy.shared_identity;
    let limits = state.proxy_body_limits();
    let outgoing = body::read(body, &parts.headers, a.proxy, &limits, ip, whole).await?;
    let held = outgoing.held();
    if let Some(refused) =
        owners::check(state, &a, &claim, sender.user, held, parts.uri.query()).await?
    {
        audit::not_owner(&a, parts, &path, &sender);
        return Ok(refused);
    }
    let settles = sender.user.is_some() && owners::settles(&a, &claim);
    let (query, search) = if settles {
        owners::split_search(&claim, parts.uri.query())
    } else {
        (parts.uri.query().map(str::to_owned), None)
    };
    audit::forwarding(&a, parts, &path, &sender);
    let upstream_query = send::Upstream {
        query: query.as_deref(),
        json: settles && owners::wants_json(&claim),
    };
    // The two large steps are boxed: a future is copied whole each time it moves, and
    // inline they made every proxied request's future 9.7 KB, copied at each level.
    let (upstream, token) = Box::pin(send::send_in_time(
        state,
        parts,
        &a,
        &path,
        upstream_query,
        outgoing,
    ))
    .await?;
    let status = upstream.status();
    state
        .metrics()
        .proxy_requests
        .get_or_create(&ProxyLabels {
            integration: a.cache.shared_name(),
            method: audit::method_label(&parts.method),
            status: status.as_u16(),
        })
        .inc();
    audit::answered(&a, parts, &path, &sender, status);
    let settle = sender.user.filter(|_| settles).map(|user| reply::Settle {
        state,
        claim: &claim,
        user,
        search: search.as_deref(),
    });
    let room = budget::Room::new(&limits.replies, ip);
    Box::pin(reply::reply(
        upstream,
        &a,
        &path,
        &token,
        &parts.method,
        settle,
        room,
    ))
    .await
}
