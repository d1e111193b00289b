//! Why a caller was refused: 401 (no valid session) or 503 (the check itself failed), with a
//! reason the metrics label without allocating.

/// Why a caller was refused, as `grafx_signer_caller_refusals_total{reason}` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalReason {
    /// No session in the request. (`missing`)
    Missing,
    /// The session's `exp` has passed. (`expired`)
    Expired,
    /// The session's `nbf` is still ahead. (`not_yet_valid`)
    NotYetValid,
    /// Another `iss` than the configured one. (`wrong_issuer`)
    WrongIssuer,
    /// Another `aud` than the configured one. (`wrong_audience`)
    WrongAudience,
    /// The signature does not verify. (`invalid_signature`)
    InvalidSignature,
    /// A required claim (`exp`, or a configured `iss` or `aud`) is absent. (`missing_claim`)
    MissingClaim,
    /// An algorithm that is not configured (`none` included), or not the key's. (`algorithm_not_allowed`)
    AlgorithmNotAllowed,
    /// Not a JWT, or a date claim that is not a date. (`malformed`)
    Malformed,
    /// Signed with a key the JWKS does not hold. (`unknown_key`)
    UnknownKey,
    /// The app's forward-auth endpoint refused (401 or 403). (`forward_auth_refused`)
    ForwardAuthRefused,
    /// The configured HS256 secret is not usable. (`jwt_secret_invalid`)
    JwtSecretInvalid,
    /// A JWKS key is not usable (or no JWKS is configured). (`jwks_invalid`)
    JwksInvalid,
    /// The JWKS could not be fetched. (`jwks_unavailable`)
    JwksUnavailable,
    /// Too many forward-auth checks in flight. (`forward_auth_busy`)
    ForwardAuthBusy,
    /// The forward-auth endpoint is unreachable or failed. (`forward_auth_unavailable`)
    ForwardAuthUnavailable,
}

impl RefusalReason {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::InvalidSignature => "invalid_signature",
            Self::MissingClaim => "missing_claim",
            Self::AlgorithmNotAllowed => "algorithm_not_allowed",
            Self::Malformed => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::ForwardAuthRefused => "forward_auth_refused",
            Self::JwtSecretInvalid => "jwt_secret_invalid",
            Self::JwksInvalid => "jwks_invalid",
            Self::JwksUnavailable => "jwks_unavailable",
            Self::ForwardAuthBusy => "forward_auth_busy",
            Self::ForwardAuthUnavailable => "forward_auth_unavailable",
        }
    }
}

impl std::fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a caller was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerRefusal {
    /// No valid session: 401 `caller_unauthenticated`. `reason` labels the metric.
    Unauthenticated {
        /// Why, as the metric labels it.
        reason: RefusalReason,
        /// What is wrong, for the reply.
        message: String,
    },
    /// The check itself failed (JWKS or forward-auth endpoint down): 503
    /// `caller_check_unavailable`. The caller is refused, never let in.
    Unavailable {
        /// What failed, as the metric labels it.
        reason: RefusalReason,
        /// What failed.
        message: String,
    },
}

impl CallerRefusal {
    pub(super) fn unauthenticated(reason: RefusalReason, message: impl Into<String>) -> Self {
        Self::Unauthenticated {
            reason,
            message: message.into(),
        }
    }

    pub(super) fn unavailable(reason: RefusalReason, message: impl Into<String>) -> Self {
        Self::Unavailable {
            reason,
            message: message.into(),
        }
    }

    /// The metric label.
    pub fn reason(&self) -> RefusalReason {
        match self {
            Self::Unauthenticated { reason, .. } | Self::Unavailable { reason, .. } => *reason,
        }
    }
}
