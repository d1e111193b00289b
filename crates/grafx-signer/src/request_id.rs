//! Request ids: the signer numbers every request (`X-Request-Id`, echoed and logged), keeping a
//! client's own id only when it is a plain token.
//!
//! ```ignore
//! let ids = SequentialRequestId::new();
//! assert!(is_plain_request_id(&ids.next_value()));
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use tower_http::request_id::{MakeRequestId, RequestId};

/// The request id header: set by the signer (or a plain one kept from the client) and logged.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Removes an `X-Request-Id` that is not 1–64 letters, digits, `-`, `_` or `.` (log injection,
/// oversized ids).
pub(crate) fn drop_odd_request_id(mut req: Request) -> Request {
    if !req
        .headers()
        .get(&REQUEST_ID)
        .is_none_or(is_plain_request_id)
    {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}

/// A client's request id the signer keeps: 1–64 letters, digits, `-`, `_` or `.`.
pub(crate) fn is_plain_request_id(id: &HeaderValue) -> bool {
    let b = id.as_bytes();
    (1..=64).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// Request ids `{random process prefix}-{counter}`: unique across restarts and replicas in
/// practice, and far cheaper than a random UUID per request (no syscall on the hot path).
#[derive(Clone)]
pub(crate) struct SequentialRequestId {
    prefix: [u8; 8],
    next: Arc<AtomicU64>,
}

impl SequentialRequestId {
    pub(crate) fn new() -> Self {
        let mut prefix = [0u8; 8];
        let hex = format!("{:08x}", rand::random::<u32>());
        prefix.copy_from_slice(hex.as_bytes());
        Self {
            prefix,
            next: Arc::default(),
        }
    }

    /// The next id, written without a formatter or an intermediate string.
    pub(crate) fn next_value(&self) -> HeaderValue {
        let mut n = self.next.fetch_add(1, Ordering::Relaxed);
        // 8 hex digits, a dash, at most 20 decimal digits.
        let mut buf = [0u8; 29];
        buf[..8].copy_from_slice(&self.prefix);
        buf[8] = b'-';
        let mut digits = [0u8; 20];
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for (i, d) in digits[..len].iter().rev().enumerate() {
            buf[9 + i] = *d;
        }
        HeaderValue::from_bytes(&buf[..9 + len]).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        Some(RequestId::new(self.next_value()))
    }
}

/// The request id a request carries (set by [`SequentialRequestId`] or kept from the client).
pub(crate) fn of(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_a_prefix_and_a_counter() {
        let ids = SequentialRequestId::new();
        let prefix = std::str::from_utf8(&ids.prefix).unwrap().to_owned();
        for n in [0u64, 1, 9, 10, 12345] {
            ids.next.store(n, Ordering::Relaxed);
            assert_eq!(ids.next_value(), format!("{prefix}-{n}").as_str());
        }
        ids.next.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(ids.next_value(), format!("{prefix}-{}", u64::MAX).as_str());
        assert!(is_plain_request_id(&ids.next_value()));
    }

    #[test]
    fn plain_request_ids() {
        for ok in ["a", "abc-DEF_1.2", &"x".repeat(64)] {
            assert!(
                is_plain_request_id(&HeaderValue::from_str(ok).unwrap()),
                "{ok}"
            );
        }
        for bad in ["", "a b", "a\tb", "a\"b", &"x".repeat(65), "a/b"] {
            let v = HeaderValue::from_str(bad).unwrap();
            assert!(!is_plain_request_id(&v), "{bad:?}");
        }
    }
}
