//! The `Authorization` value the API proxy sends CHILI, built once per token: a token is about
//! 1 KB, and copying it into a new header value and checking each of its bytes for every proxied
//! request cost 1.3% of a proxied `GET`'s instructions.
//!
//! ```ignore
//! let memo = BearerMemo::default();
//! // `Bearer …`, marked sensitive; the same value until the token changes.
//! let value = memo.get(&token)?;
//! ```

use std::sync::Arc;

use axum::http::header::InvalidHeaderValue;
use axum::http::HeaderValue;
use parking_lot::Mutex;

use crate::store::CachedToken;

/// The last `Authorization` value built, with the token it was built for. Holding the `Arc`
/// keeps the comparison by identity sound: a token replaced (a refresh, a 401's replacement) is
/// another `Arc`, and gets its own value.
#[derive(Default)]
pub(crate) struct BearerMemo {
    last: Mutex<Option<(Arc<CachedToken>, HeaderValue)>>,
}

impl BearerMemo {
    /// `Bearer {token}`, marked sensitive (never printed by `Debug`, never indexed by HPACK); an
    /// error when the token cannot be a header value.
    pub(crate) fn get(&self, token: &Arc<CachedToken>) -> Result<HeaderValue, InvalidHeaderValue> {
        let mut last = self.last.lock();
        if let Some((built_for, value)) = last.as_ref() {
            if Arc::ptr_eq(built_for, token) {
                return Ok(value.clone());
            }
        }
        let mut value = HeaderValue::try_from(["Bearer ", token.access_token.secret()].concat())?;
        value.set_sensitive(true);
        *last = Some((Arc::clone(token), value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grafx_core::{AccessToken, Expiry, Scopes, Timestamp};
    use std::time::Duration;

    fn token(secret: &str) -> Arc<CachedToken> {
        Arc::new(CachedToken {
            access_token: AccessToken::new(secret.to_owned()).unwrap(),
            scope: Scopes::default(),
            expiry: Expiry::stamp(Timestamp::from_millis(0), Duration::from_secs(3600)),
        })
    }

    /// `memo.get(token)`, checked to be marked sensitive.
    fn sensitive(memo: &BearerMemo, token: &Arc<CachedToken>) -> HeaderValue {
        let value = memo.get(token).unwrap();
        assert!(value.is_sensitive(), "never printed, never indexed");
        value
    }

    /// `memo.get(token)` is `expected`, and the very value `before` (kept, not built again).
    fn kept(memo: &BearerMemo, token: &Arc<CachedToken>, before: &HeaderValue, expected: &str) {
        let again = sensitive(memo, token);
        assert_eq!(again, expected);
        assert_eq!(
            again.as_bytes().as_ptr(),
            before.as_bytes().as_ptr(),
            "the value built before, not a copy"
        );
    }

    #[test]
    fn each_token_gets_its_own_sensitive_bearer_value_built_once() {
        let memo = BearerMemo::default();
        let first = token("tok-1");
        let value = sensitive(&memo, &first);
        assert_eq!(value, "Bearer tok-1");
        kept(&memo, &first, &value, "Bearer tok-1");
        // A replacement is another token: never the last one's value.
        let second = token("tok-2");
        assert_eq!(sensitive(&memo, &second), "Bearer tok-2");
        // The same text in another `Arc` (a token read back from the shared store) is built
        // anew, and the same.
        assert_eq!(sensitive(&memo, &token("tok-2")), "Bearer tok-2");
        assert_eq!(sensitive(&memo, &first), "Bearer tok-1", "and back");
    }

    #[test]
    fn a_token_that_cannot_be_a_header_value_is_an_error() {
        let memo = BearerMemo::default();
        let fine = token("ok");
        let before = sensitive(&memo, &fine);
        assert_eq!(before, "Bearer ok");
        assert!(memo.get(&token("tok\nx")).is_err());
        // The value before it is still there for its token.
        kept(&memo, &fine, &before, "Bearer ok");
    }
}
