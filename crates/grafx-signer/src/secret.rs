//! The signer's secrets, one type each (as oauth2-rs does): held in a `secrecy` box, printed as
//! `[redacted]`, exposed only where they are used. A client secret cannot be passed where the
//! session key goes, nor logged by accident.
//!
//! ```
//! use grafx_signer::{ClientSecret, SessionKey};
//!
//! let s = ClientSecret::new("s3cr3t".to_owned());
//! assert_eq!(format!("{s:?}"), "ClientSecret([redacted])");
//! let k = SessionKey::new("an-app-session-secret-of-at-least-32-bytes".to_owned());
//! assert_eq!(format!("{k:?}"), "SessionKey([redacted])");
//! ```

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A secret string type: `new`, a crate-only `expose`, and a redacted Debug.
macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a secret.
            pub fn new(secret: String) -> Self {
                Self(SecretString::from(secret))
            }

            /// The secret, where it is used.
            pub(crate) fn expose(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type!(
    /// An integration's client secret: sent in the token request body only.
    ClientSecret
);

secret_type!(
    /// The HS256 key the app signs its session JWTs with (`SIGNER_CALLER_JWT_SECRET_FILE`): used
    /// to verify them only.
    SessionKey
);

impl ClientSecret {
    /// Whether two secrets are equal (used to keep caches across a reload when nothing changed).
    pub(crate) fn same_as(&self, other: &ClientSecret) -> bool {
        self.expose() == other.expose()
    }
}
