//! The client secret: held in a `secrecy` box, printed as `[redacted]`, exposed in one place (the
//! upstream request body).
//!
//! ```
//! use grafx_signer::ClientSecret;
//!
//! let s = ClientSecret::new("s3cr3t".to_owned());
//! assert_eq!(format!("{s:?}"), "ClientSecret([redacted])");
//! ```

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// An integration's client secret.
#[derive(Clone)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(SecretString::from(secret))
    }

    /// The secret, for the token request body only.
    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether two secrets are equal (used to keep caches across a reload when nothing changed).
    pub(crate) fn same_as(&self, other: &ClientSecret) -> bool {
        self.expose() == other.expose()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}
