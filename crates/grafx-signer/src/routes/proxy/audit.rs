//! The proxy's audit trail: a line for every write (who, from where, what, through which
//! integration) when it is forwarded (so a write that times out or loses its client is still on
//! record) and with CHILI's status; reads at debug level, once. Every line names the client's
//! address (after trusted-proxy handling) and, with caller authentication, the user.
//!
//! ```ignore
//! audit::forwarding(&admitted, &parts, &path, &sender);
//! audit::answered(&admitted, &parts, &path, &sender, status);
//! ```

use crate::ip_text::IpText;
use crate::ProxyPath;
use axum::http::{request::Parts, Method, StatusCode};

use super::{Admitted, Sender};

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

/// Before a write goes to CHILI.
pub(super) fn forwarding(a: &Admitted<'_>, parts: &Parts, path: &ProxyPath, s: &Sender<'_>) {
    if !is_read(&parts.method) {
        line(a, parts, path, s, "forwarding write");
    }
}

/// A request naming what is not the caller's: answered 404, nothing forwarded.
pub(super) fn not_owner(a: &Admitted<'_>, parts: &Parts, path: &ProxyPath, s: &Sender<'_>) {
    line(a, parts, path, s, "refused: not the owner");
}

/// One audit line at info level: who, from where, what, through which integration.
fn line(a: &Admitted<'_>, parts: &Parts, path: &ProxyPath, s: &Sender<'_>, what: &str) {
    // The message as a string field (the same line as `"{what}"`, in text and JSON), which
    // the signer's log format writes without `core::fmt` (`PlainFields`).
    tracing::info!(
        target: "grafx_signer::audit",
        message = what,
        request_id = s.request_id,
        user = s.user.unwrap_or("-"),
        client_ip = %IpText(s.ip),
        origin = a.origin,
        integration = a.name,
        method = parts.method.as_str(),
        path = %path,
    );
}

/// With CHILI's status.
pub(super) fn answered(
    a: &Admitted<'_>,
    parts: &Parts,
    path: &ProxyPath,
    s: &Sender<'_>,
    status: StatusCode,
) {
    let (user, method, status) = (
        s.user.unwrap_or("-"),
        parts.method.as_str(),
        status.as_u16(),
    );
    if is_read(&parts.method) {
        tracing::debug!(target: "grafx_signer::audit", message = "proxied read", request_id = s.request_id, user, client_ip = %IpText(s.ip), origin = a.origin, integration = a.name, method, path = %path, status);
    } else {
        tracing::info!(target: "grafx_signer::audit", message = "proxied write", request_id = s.request_id, user, client_ip = %IpText(s.ip), origin = a.origin, integration = a.name, method, path = %path, status);
    }
}

/// The method as a metrics label (a fixed set: no label per odd method).
pub(super) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "other",
    }
}
