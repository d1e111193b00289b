//! What caller authentication is configured with: the method, where the session is read, the
//! claims required; and who a checked caller is.

use std::time::Duration;

use crate::SessionKey;

/// How a caller's session is checked.
#[derive(Clone, Debug)]
pub enum CallerMethod {
    /// A JWT signed with HS256 and this shared secret.
    JwtSecret(SessionKey),
    /// A JWT signed with RS256 or ES256 by a key published at this JWKS URL.
    Jwks(url::Url),
    /// Ask the app: 2xx allows, 401/403 refuses.
    ForwardAuth {
        /// The app's check URL.
        url: url::Url,
        /// A reply header naming the user (for logs and per-user rate limits).
        user_header: Option<String>,
        /// How long a decision is reused for the same credentials.
        cache_for: Duration,
    },
}

/// Caller authentication for one integration (or all of them).
#[derive(Clone, Debug)]
pub struct CallerConfig {
    /// How the session is checked.
    pub method: CallerMethod,
    /// A cookie holding the session JWT (besides `Authorization: Bearer`).
    pub cookie: Option<String>,
    /// The required `iss`, when set.
    pub issuer: Option<String>,
    /// The required `aud`, when set.
    pub audience: Option<String>,
}

impl CallerConfig {
    /// A configuration with this method and nothing else.
    pub fn new(method: CallerMethod) -> Self {
        Self {
            method,
            cookie: None,
            issuer: None,
            audience: None,
        }
    }

    /// Also reads the session from this cookie.
    pub fn with_cookie(mut self, name: impl Into<String>) -> Self {
        self.cookie = Some(name.into());
        self
    }

    /// Requires this `iss`.
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Requires this `aud`.
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }
}

/// Who is asking, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user (`sub`, or the forward-auth user header), when known.
    pub subject: Option<String>,
}
