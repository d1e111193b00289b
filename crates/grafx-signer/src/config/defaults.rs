//! Every default setting, once. The flags' help, the configuration builder,
//! [`SignerConfig::single`](super::SignerConfig::single) and [`ServeOptions`](crate::ServeOptions)
//! all read these. A help text's `[default: …]` is made from the value's own literal by
//! `default_setting!`, so the two cannot disagree; the one default that is not a literal here
//! (the leeway, grafx-core's) is checked by a test.

use std::time::Duration;

/// Defines a default and the flag help that names it, from one literal: a number, a string, or
/// `secs(N)` for a duration in seconds.
macro_rules! default_setting {
    ($(#[$doc:meta])* $name:ident: Duration = secs($secs:literal), $help:ident = $text:literal) => {
        $(#[$doc])*
        pub const $name: Duration = Duration::from_secs($secs);
        pub(crate) const $help: &str = concat!($text, " [default: ", $secs, "]");
    };
    ($(#[$doc:meta])* $name:ident: $ty:ty = $value:literal, $help:ident = $text:literal) => {
        $(#[$doc])*
        pub const $name: $ty = $value;
        pub(crate) const $help: &str = concat!($text, " [default: ", $value, "]");
    };
}

default_setting!(
    /// CHILI's token endpoint.
    DEFAULT_AUTH_URL: &str = "https://integration-login.chiligrafx.com/oauth/token",
    AUTH_URL_HELP = "CHILI's token endpoint"
);
default_setting!(
    /// CHILI's audience.
    DEFAULT_AUDIENCE: &str = "https://chiligrafx.com",
    AUDIENCE_HELP = "The audience"
);
default_setting!(
    /// Where the signer listens by default.
    DEFAULT_LISTEN: &str = "127.0.0.1:8787",
    LISTEN_HELP = "Listen address"
);

/// [`DEFAULT_LISTEN`] as an address.
pub fn listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8787))
}

default_setting!(
    /// Requests per minute per client IP on `/token` by default: an office or school behind one
    /// NAT has a few hundred people, each of whom asks about once per page load (tabs share a
    /// token).
    DEFAULT_IP_RATE_LIMIT: u32 = 600,
    IP_RATE_LIMIT_HELP = "Requests per minute per client IP (IPv6: per /64) on /token, checked first, 0 for unlimited; enough for a few hundred people behind one NAT"
);
default_setting!(
    /// Requests per minute per signed-in user by default: far above one person's page loads.
    DEFAULT_USER_RATE_LIMIT: u32 = 60,
    USER_RATE_LIMIT_HELP = "Requests per minute per signed-in user on /token (with caller authentication), 0 for unlimited"
);
default_setting!(
    /// Never ask upstream more often than this while a valid token is cached.
    DEFAULT_MIN_REFRESH_INTERVAL: Duration = secs(30),
    MIN_REFRESH_INTERVAL_HELP = "Minimum seconds between upstream calls while a valid token is cached"
);
default_setting!(
    /// Timeout of one upstream token request.
    DEFAULT_UPSTREAM_TIMEOUT: Duration = secs(10),
    UPSTREAM_TIMEOUT_HELP = "Upstream request timeout in seconds"
);
default_setting!(
    /// Upstream retries after network errors, 5xx and 429.
    DEFAULT_UPSTREAM_RETRIES: u32 = 2,
    UPSTREAM_RETRIES_HELP = "Upstream retries after network errors, 5xx and 429"
);
default_setting!(
    /// Upstream attempts per integration and minute while CHILI fails or refuses (a healthy
    /// integration's due refreshes are never held back by it).
    DEFAULT_UPSTREAM_ATTEMPTS_PER_MINUTE: u32 = 20,
    UPSTREAM_ATTEMPTS_HELP = "Upstream attempts per integration and minute while CHILI fails or refuses (each may retry); due refreshes of a healthy integration are never held back"
);
default_setting!(
    /// Time to send a request's headers, and to idle between keep-alive requests.
    DEFAULT_HEADER_READ_TIMEOUT: Duration = secs(10),
    HEADER_READ_TIMEOUT_HELP = "Seconds a client has to send a request's headers, and a keep-alive connection may idle (slowloris protection)"
);
default_setting!(
    /// Open client connections at most.
    DEFAULT_MAX_CONNECTIONS: usize = 4096,
    MAX_CONNECTIONS_HELP = "Open client connections at most; more wait to be accepted"
);
default_setting!(
    /// How long a forward-auth decision is reused for the same credentials.
    DEFAULT_CALLER_CACHE: Duration = secs(30),
    CALLER_CACHE_HELP = "Forward auth: seconds a decision is reused for the same credentials"
);
default_setting!(
    /// The forward-auth reply header naming the user.
    DEFAULT_FORWARD_AUTH_USER_HEADER: &str = "x-auth-request-user",
    FORWARD_AUTH_USER_HEADER_HELP = "Forward auth: a reply header naming the user"
);
/// How long a reply may make no progress (the client stopped reading) before its connection is
/// closed.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long CHILI may be silent on a proxied request: before its reply starts, or between two
/// bytes of it (a render is polled, not held).
pub const DEFAULT_PROXY_TIMEOUT: Duration = Duration::from_secs(60);
/// The memory all API proxy request bodies held for a retry may take together: 256 of them at
/// the largest held size.
pub const DEFAULT_PROXY_HELD_BODY_BYTES: u32 = 64 * 1024 * 1024;
/// The smallest such budget: eight bodies of the largest held size (one client address may hold
/// a quarter of the budget: two of them).
pub const MIN_PROXY_HELD_BODY_BYTES: u32 = 8 * 256 * 1024;
/// The whole time a request may take.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for in-flight requests.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// The refresh leeway: grafx-core's, shared with the browser package.
pub const DEFAULT_LEEWAY: Duration = grafx_core::SIGNER_DEFAULT_LEEWAY;
pub(crate) const LEEWAY_HELP: &str = "Refresh leeway in seconds [default: 300]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_texts_not_made_from_their_value_name_it() {
        // The leeway is grafx-core's constant, and the listen address is parsed by hand.
        assert!(LEEWAY_HELP.ends_with(&format!("[default: {}]", DEFAULT_LEEWAY.as_secs())));
        assert_eq!(listen().to_string(), DEFAULT_LISTEN);
        // The macro writes the literal itself.
        assert_eq!(
            IP_RATE_LIMIT_HELP
                .rsplit_once(" [default: ")
                .map(|(_, v)| v),
            Some("600]")
        );
        assert!(MIN_REFRESH_INTERVAL_HELP.ends_with("[default: 30]"));
        assert_eq!(DEFAULT_MIN_REFRESH_INTERVAL, Duration::from_secs(30));
    }
}
