//! The one error type of grafx-core.

/// Everything that can be wrong with input that grafx-core validates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is not JSON, or not a JSON object of the expected shape.
    #[error("token reply is not valid JSON: {0}")]
    MalformedJson(String),
    /// A required field is absent (or `null`).
    #[error("token reply has no `{0}` field")]
    MissingField(&'static str),
    /// `access_token` is present but empty.
    #[error("token reply has an empty `access_token`")]
    EmptyAccessToken,
    /// `token_type` is something other than `Bearer`.
    #[error("token reply has token_type `{0}`; only `Bearer` is supported")]
    UnsupportedTokenType(String),
    /// `expires_in` is zero, negative, fractional, not finite, or beyond [`crate::MAX_EXPIRES_IN`].
    #[error("token reply has an invalid `expires_in`: {0}")]
    InvalidExpiresIn(String),
    /// An environment name that cannot be a DNS label.
    #[error("invalid environment name `{name}`: {reason}")]
    InvalidEnvironmentName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An Environment API URL that is not an absolute http(s) URL of the accepted shape.
    #[error("invalid Environment API URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A refresh policy parameter out of range.
    #[error("invalid refresh policy: {0}")]
    InvalidPolicy(&'static str),
}
