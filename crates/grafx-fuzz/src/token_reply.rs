//! CHILI's token reply, as grafx-core parses it for the signer.
//!
//! ```
//! grafx_fuzz::token_reply(br#"{"access_token":"x","token_type":"mac","expires_in":60}"#);
//! ```

use grafx_core::{TokenGrant, MAX_EXPIRES_IN};

/// Parses `data` as a token reply; an accepted reply must be one the signer can serve.
pub fn token_reply(data: &[u8]) {
    let Ok(grant) = TokenGrant::from_json(data) else {
        return;
    };
    let lifetime = grant.expires_in();
    assert!(
        !lifetime.is_zero() && lifetime <= MAX_EXPIRES_IN,
        "{lifetime:?}"
    );
    assert!(!grant.access_token().secret().is_empty());
    // What the signer stamps and serves must not overflow either.
    let now = grafx_core::Timestamp::from_millis(u64::MAX / 2);
    let expiry = grafx_core::Expiry::stamp(now, lifetime);
    assert!(expiry.expires_at() > now);
}
