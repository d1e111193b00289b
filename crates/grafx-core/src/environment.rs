//! Where a GraFx environment's API lives.
//!
//! The base URL is built from the environment name, or given whole, because the host and the
//! environment name can differ (sandbox domains exist). Either way it is validated and always ends
//! with `/`, so relative API paths join onto it predictably.
//!
//! ```
//! use grafx_core::{EnvironmentApiUrl, EnvironmentName};
//!
//! let env = EnvironmentName::new("acme")?;
//! let url = EnvironmentApiUrl::from_environment(&env);
//! assert_eq!(url.as_str(), "https://acme.chili-publish.online/grafx/api/v1/environment/acme/");
//! assert_eq!(url.join("templates?limit=5")?, format!("{url}templates?limit=5"));
//!
//! let sandbox = EnvironmentApiUrl::sandbox(&env);
//! assert_eq!(sandbox.as_str(), "https://acme.chili-publish-sandbox.online/grafx/api/v1/environment/acme/");
//! assert_eq!(sandbox.without_trailing_slash(), "https://acme.chili-publish-sandbox.online/grafx/api/v1/environment/acme");
//!
//! assert!(url.studio_ui_accepts() && sandbox.studio_ui_accepts());
//! let other = EnvironmentApiUrl::parse("https://sandbox1.chili-publish-sandbox.online/grafx/api/v1/environment/cp-exp-321")?;
//! assert!(!other.studio_ui_accepts(), "studio-ui wants the host named after the environment");
//! let longer = EnvironmentApiUrl::parse("https://acme.chili-publish.online/grafx/api/v1/environment/acmex/")?;
//! assert!(!longer.studio_ui_accepts());
//! if let Ok(unicode) = EnvironmentApiUrl::parse("https://acme.chili-publish.online/grafx/api/v1/environment/ac\u{e9}/") {
//!     assert!(!unicode.studio_ui_accepts(), "no panic on a multi-byte character");
//! }
//!
//! let local = EnvironmentApiUrl::parse("http://127.0.0.1:8080/grafx/api/v1/environment/demo")?;
//! assert_eq!(local.as_str(), "http://127.0.0.1:8080/grafx/api/v1/environment/demo/");
//! assert_eq!(local.origin(), "http://127.0.0.1:8080");
//! assert!(!local.studio_ui_accepts());
//! # Ok::<(), grafx_core::Error>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A GraFx environment name: one DNS label (letters, digits and inner hyphens, at most 63).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvironmentName(String);

impl EnvironmentName {
    /// Validates an environment name.
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        let reason = if name.is_empty() {
            Some("must not be empty")
        } else if name.len() > 63 {
            Some("must be at most 63 characters")
        } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            Some("may contain only letters, digits and hyphens")
        } else if name.starts_with('-') || name.ends_with('-') {
            Some("must not start or end with a hyphen")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidEnvironmentName { name, reason }),
            None => Ok(Self(name)),
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EnvironmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EnvironmentName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl From<EnvironmentName> for String {
    fn from(n: EnvironmentName) -> Self {
        n.0
    }
}

/// The Environment API base URL: absolute, `https` (or `http` on a loopback host, for local
/// emulators), no credentials, query or fragment, and always ending with `/`.
///
/// This is a deliberately narrow validator rather than a general URL parser: the browser module
/// links grafx-core into its wasm, and a full URL crate (with IDNA tables) would multiply its size.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvironmentApiUrl {
    url: String,
    origin_len: usize,
}

/// CHILI's Platform API (user management, environments), which the same integration token
/// calls. Its Swagger page is `https://api.chiligrafx.com/swagger/index.html`.
pub const PLATFORM_API_URL: &str = "https://api.chiligrafx.com/";

/// The Platform API base URL: validated like [`EnvironmentApiUrl`] (https, or http on loopback;
/// ends with `/`).
pub type PlatformApiUrl = EnvironmentApiUrl;

impl EnvironmentApiUrl {
    /// CHILI's production URL for an environment:
    /// `https://{env}.chili-publish.online/grafx/api/v1/environment/{env}/`.
    pub fn from_environment(env: &EnvironmentName) -> Self {
        Self::on_domain(env, "chili-publish.online")
    }

    /// A sandbox environment's URL:
    /// `https://{env}.chili-publish-sandbox.online/grafx/api/v1/environment/{env}/`.
    pub fn sandbox(env: &EnvironmentName) -> Self {
        Self::on_domain(env, "chili-publish-sandbox.online")
    }

    fn on_domain(env: &EnvironmentName, domain: &str) -> Self {
        let origin = format!("https://{}.{domain}", env.as_str().to_ascii_lowercase());
        let origin_len = origin.len();
        Self {
            url: format!("{origin}/grafx/api/v1/environment/{}/", env.as_str()),
            origin_len,
        }
    }

    /// Validates a whole base URL, appending the trailing `/` if it is missing.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let fail = |reason| Error::InvalidUrl {
            url: input.to_owned(),
            reason,
        };
        let trimmed = input.trim();
        if trimmed
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'\\')
        {
            return Err(fail(
                "must not contain whitespace, control characters or backslashes",
            ));
        }
        // The scheme ends at the first `:`, which `//` must follow: a valid scheme holds no `:`.
        // (Not `split_once("://")`: a `&str` pattern links a two-way searcher, about 1 KB of the
        // wasm package, issue #28.)
        let (scheme, rest) = trimmed
            .split_once(':')
            .and_then(|(scheme, rest)| Some((scheme, rest.strip_prefix("//")?)))
            .ok_or_else(|| fail("must be absolute (https://…)"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err(fail("scheme must be https (or http for a loopback host)"));
        }
        // (`split_at_checked` and `get`, never indexing: str's slice panic formats its message
        // with `char`'s Debug, about 2 KB of the wasm package; the indices here come from `find`.)
        let (authority, path) = rest
            .find('/')
            .and_then(|i| rest.split_at_checked(i))
            .unwrap_or((rest, "/"));
        if authority.contains('@') {
            return Err(fail("must not contain credentials"));
        }
        if path.contains('?')
            || path.contains('#')
            || authority.contains('?')
            || authority.contains('#')
        {
            return Err(fail("must not have a query or fragment"));
        }
        let (host, port) =
            split_host_port(authority).ok_or_else(|| fail("has an invalid host or port"))?;
        let host = host.to_ascii_lowercase();
        if scheme == "http" && !is_loopback(&host) {
            return Err(fail(
                "http is allowed only for localhost, 127.0.0.0/8 and [::1]; use https",
            ));
        }
        if path.split('/').any(is_dot_segment) {
            return Err(fail("must not contain `.` or `..` path segments"));
        }
        let origin = match port {
            Some(p) => format!("{scheme}://{host}:{p}"),
            None => format!("{scheme}://{host}"),
        };
        let origin_len = origin.len();
        let mut url = origin + path;
        if !url.ends_with('/') {
            url.push('/');
        }
        Ok(Self { url, origin_len })
    }

    /// The URL, ending with `/`.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL without its trailing `/`: what studio-ui's `graFxStudioEnvironmentApiBaseUrl`
    /// takes (it splits the URL on `/environment/` and takes the last part as the name).
    pub fn without_trailing_slash(&self) -> &str {
        self.url.strip_suffix('/').unwrap_or(&self.url)
    }

    /// Whether studio-ui accepts this URL: its `validateConfig` wants
    /// `https://{env}.{domain}/grafx/api/v1/environment/{env}` with the host's first label equal to
    /// the environment name (so not a loopback emulator, nor a sandbox host named otherwise).
    pub fn studio_ui_accepts(&self) -> bool {
        let Some(rest) = self.url.strip_prefix("https://") else {
            return false;
        };
        let (host, path) = rest
            .find('/')
            .and_then(|i| rest.split_at_checked(i))
            .unwrap_or((rest, ""));
        let Some((label, domain)) = host.split_once('.') else {
            return false;
        };
        let expected = format!("/grafx/api/v1/environment/{label}");
        let Some(prefix) = path.as_bytes().get(..expected.len()) else {
            return false;
        };
        // The environment segment ends there: `acme` does not vouch for `acmex`.
        let ends = matches!(path.as_bytes().get(expected.len()), None | Some(b'/'));
        !label.is_empty()
            && !domain.is_empty()
            && prefix.eq_ignore_ascii_case(expected.as_bytes())
            && ends
    }

    /// `scheme://host[:port]`: the only origin the bearer token may be sent to.
    pub fn origin(&self) -> &str {
        // `origin_len` ends the ASCII origin `parse` (or `on_domain`) wrote, so `get` always
        // finds it; `get` rather than indexing keeps str's slice panic out of the wasm package.
        self.url.get(..self.origin_len).unwrap_or(&self.url)
    }

    /// Joins a relative API path (e.g. `templates/abc?x=1`) onto the base. Absolute paths,
    /// scheme-relative URLs and `..` segments are refused so a path can never leave the base.
    pub fn join(&self, relative: &str) -> Result<String, Error> {
        let fail = |reason| Error::InvalidUrl {
            url: relative.to_owned(),
            reason,
        };
        // `://` anywhere: some `:` followed by `//` (a `&str` pattern would link a two-way
        // searcher into the wasm package, issue #28).
        let has_scheme_separator = relative
            .split(':')
            .skip(1)
            .any(|after| after.starts_with("//"));
        if relative.starts_with('/') || has_scheme_separator || relative.contains('\\') {
            return Err(fail("must be a path relative to the Environment API base"));
        }
        // Browsers drop tabs and newlines from URLs, so `.\t./` would become `..` after this check.
        if relative.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(fail(
                "must not contain spaces or control characters (encode them, e.g. %20)",
            ));
        }
        let path = relative.split(['?', '#']).next().unwrap_or("");
        if path.split('/').any(is_dot_segment) {
            return Err(fail("must not contain `.` or `..` path segments"));
        }
        // Two copies, without `core::fmt` (the API proxy joins a path per request).
        let mut joined = String::with_capacity(self.url.len() + relative.len());
        joined.push_str(&self.url);
        joined.push_str(relative);
        Ok(joined)
    }
}

/// Whether a path segment is `.` or `..`, each dot written `.` or percent-encoded (`%2e`, any
/// case): a URL parser resolves `%2e%2e` like `..`, so it climbs just the same.
fn is_dot_segment(segment: &str) -> bool {
    fn after_dot(s: &str) -> Option<&str> {
        s.strip_prefix('.').or_else(|| s.strip_prefix("%2e"))
    }
    let segment = segment.to_ascii_lowercase();
    after_dot(&segment).is_some_and(|rest| rest.is_empty() || after_dot(rest) == Some(""))
}

fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = authority.get(..end + 2)?;
        match rest.get(end + 1..)? {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let valid_host = if host.starts_with('[') {
        host.len() > 2
            && host.as_bytes()[1..host.len() - 1]
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    if !valid_host {
        return None;
    }
    match port {
        None => Some((host, None)),
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u16 = p.parse().ok().filter(|n| *n > 0)?;
            Some((host, Some(n)))
        }
        Some(_) => None,
    }
}

/// Decided on the parsed address: `127.evil.example` is a name, not a loopback address.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl fmt::Display for EnvironmentApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl TryFrom<String> for EnvironmentApiUrl {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::parse(&s)
    }
}

impl From<EnvironmentApiUrl> for String {
    fn from(u: EnvironmentApiUrl) -> Self {
        u.url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn environment_names() {
        for ok in ["acme", "cp-abc-123", "A1", &"a".repeat(63)] {
            assert!(EnvironmentName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-acme",
            "acme-",
            "ac me",
            "acme.evil",
            "a/b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(EnvironmentName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn built_from_a_name() {
        let u = EnvironmentApiUrl::from_environment(&EnvironmentName::new("cp-qa-1").unwrap());
        assert_eq!(
            u.as_str(),
            "https://cp-qa-1.chili-publish.online/grafx/api/v1/environment/cp-qa-1/"
        );
        assert_eq!(u.origin(), "https://cp-qa-1.chili-publish.online");
    }

    #[test]
    fn given_whole() {
        let cases = [
            (
                "https://acme.chili-publish-sandbox.online/grafx/api/v1/environment/acme",
                "https://acme.chili-publish-sandbox.online/grafx/api/v1/environment/acme/",
            ),
            (
                "HTTPS://ACME.Example.com/api/",
                "https://acme.example.com/api/",
            ),
            ("https://x.example.com", "https://x.example.com/"),
            (
                "https://x.example.com:8443/a",
                "https://x.example.com:8443/a/",
            ),
            (
                "http://localhost:3000/e/demo/",
                "http://localhost:3000/e/demo/",
            ),
            ("http://127.0.0.1:9/e", "http://127.0.0.1:9/e/"),
            ("http://[::1]:9/e", "http://[::1]:9/e/"),
            ("  https://x.example.com/a  ", "https://x.example.com/a/"),
            (
                "https://x.example.com/a%2eb/...",
                "https://x.example.com/a%2eb/.../",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                EnvironmentApiUrl::parse(input).unwrap().as_str(),
                want,
                "{input}"
            );
        }
        assert_eq!(
            EnvironmentApiUrl::parse("http://[::1]:9/e")
                .unwrap()
                .origin(),
            "http://[::1]:9"
        );
    }

    #[test]
    fn refused_urls() {
        for bad in [
            "acme.chili-publish.online/grafx",
            "https:/x.example.com/",
            "https:x.example.com/",
            "https:x://x.example.com/",
            "://x.example.com/",
            "https://x.example.com/a/%2e%2e/b",
            "https://x.example.com/a/%2E/b",
            "https://x.example.com/a/.%2e",
            "ftp://x.example.com/",
            "http://x.example.com/",
            "http://127.0.0.1.evil.com/",
            "https://user:pw@x.example.com/",
            "https://x.example.com/a?b=c",
            "https://x.example.com/a#f",
            "https://x.example.com/a/../b",
            "https://x.example.com:0/",
            "https://x.example.com:99999/",
            "https://x.example.com:/",
            "https:///path",
            "https://-x.example.com/",
            "https://x .example.com/",
            "https://x.example.com\\@evil.com/",
            "https://[zz]/",
            "",
        ] {
            assert!(EnvironmentApiUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn join_stays_under_the_base() {
        let u =
            EnvironmentApiUrl::parse("https://x.example.com/grafx/api/v1/environment/x").unwrap();
        assert_eq!(
            u.join("templates").unwrap(),
            "https://x.example.com/grafx/api/v1/environment/x/templates"
        );
        assert_eq!(u.join("").unwrap(), u.as_str());
        assert_eq!(
            u.join("templates?search=a/../b").unwrap(),
            format!("{u}templates?search=a/../b")
        );
        for bad in [
            "/templates",
            "//evil.com/x",
            "https://evil.com/",
            "../x",
            "a/./b",
            "a\\b",
            "%2e%2e/%2E%2e/oauth/token",
            "templates/%2e%2E/x",
            ".%2e/x",
            "%2e/x",
            ".\t./x",
            "%2\ne%2e/x",
            ".\r./x",
            "a b",
        ] {
            assert!(u.join(bad).is_err(), "{bad}");
        }
        assert!(
            u.join("templates/a%2eb").is_ok(),
            "a dot inside a name is fine"
        );
        for ok in [
            "a/...",
            "a/%2e%2e%2e",
            "a/.x",
            "a/%2Ex",
            "a/x.",
            "a/%2",
            "a:b//c",
            "a/b:/c",
        ] {
            assert!(u.join(ok).is_ok(), "{ok} is no dot segment and no scheme");
        }
        for bad in ["a/%2E", "a/.%2E/b", "templates?u=https://x", "a:/b://c"] {
            assert!(u.join(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_is_an_address_not_a_name_prefix() {
        for ok in [
            "http://127.0.0.1:9/",
            "http://127.1.2.3/",
            "http://localhost:8/",
            "http://[::1]:7/",
        ] {
            assert!(EnvironmentApiUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://127.evil.example/",
            "http://127.0.0.1.evil.example/",
            "http://127.0.0.999/",
        ] {
            assert!(EnvironmentApiUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<EnvironmentApiUrl>(r#""https://x.example.com""#).is_ok());
        assert!(serde_json::from_str::<EnvironmentApiUrl>(r#""http://x.example.com""#).is_err());
        assert!(serde_json::from_str::<EnvironmentName>(r#""a b""#).is_err());
    }
}
