//! Which browser origins may obtain tokens.
//!
//! Origins are compared exactly after normalisation (lower-case scheme and host, default port
//! removed). The wildcard exists only behind an explicit development flag.
//!
//! ```
//! use grafx_signer::OriginPolicy;
//!
//! let policy = OriginPolicy::parse_list("https://app.example.com, http://localhost:5173")?;
//! assert!(policy.allows("https://APP.example.com:443"));
//! assert!(!policy.allows("https://app.example.com.evil.net"));
//! assert!(!policy.allows("null"));
//! # Ok::<(), grafx_signer::InvalidValue>(())
//! ```

use std::collections::BTreeSet;
use std::fmt;

use crate::InvalidValue;

/// Which browser origins may obtain an integration's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPolicy {
    /// Only these normalised origins.
    List(BTreeSet<String>),
    /// Any origin. Only with `--dev-allow-any-origin`; never in production.
    AnyForDevelopment,
    /// None: the integration is server-side only (`allowed_origins = []`, or no origins
    /// configured for it), as CHILI advises for integrations that can write.
    ServerSideOnly,
}

impl OriginPolicy {
    /// Parses a comma-separated list of origins such as `https://app.example.com`.
    pub fn parse_list(list: &str) -> Result<Self, InvalidValue> {
        let mut set = BTreeSet::new();
        for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if raw == "*" {
                return Err(InvalidValue::WildcardOrigin);
            }
            let origin = normalize(raw).ok_or_else(|| InvalidValue::NotAnOrigin(raw.to_owned()))?;
            set.insert(origin);
        }
        if set.is_empty() {
            return Err(InvalidValue::NoOrigin);
        }
        Ok(Self::List(set))
    }

    /// Whether a request's `Origin` header value is allowed. `null` and malformed values never are.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            // Browsers send canonical origins, which the set holds verbatim: the common case needs
            // no parsing. Anything else is normalised first.
            Self::List(set) => {
                set.contains(origin) || normalize(origin).is_some_and(|o| set.contains(&o))
            }
            Self::AnyForDevelopment => normalize(origin).is_some(),
            Self::ServerSideOnly => false,
        }
    }
}

impl fmt::Display for OriginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AnyForDevelopment => f.write_str("* (development only)"),
            Self::ServerSideOnly => f.write_str("none (server-side only)"),
            Self::List(set) => f.write_str(&set.iter().cloned().collect::<Vec<_>>().join(", ")),
        }
    }
}

/// `scheme://host[:port]` in canonical form, or None if `s` is not an http(s) origin.
fn normalize(s: &str) -> Option<String> {
    let url = url::Url::parse(s.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    // An origin has no path, query, fragment or credentials.
    if !(url.path() == "/" || url.path().is_empty())
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return None;
    }
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_matches_exactly() {
        let p = OriginPolicy::parse_list("https://App.Example.com:443/, http://localhost:5173")
            .unwrap();
        assert_eq!(
            p.to_string(),
            "http://localhost:5173, https://app.example.com"
        );
        assert!(p.allows("https://app.example.com"));
        assert!(p.allows("http://localhost:5173"));
        for no in [
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://evil.example.com",
            "https://app.example.com.evil.net",
            "http://localhost:5174",
            "null",
            "",
            "file:///etc/passwd",
            "https://app.example.com/path",
        ] {
            assert!(!p.allows(no), "{no}");
        }
        // Each part an origin lacks, on its own.
        for no in [
            "https://app.example.com/x",
            "https://app.example.com/?q=1",
            "https://app.example.com?q=1",
            "https://app.example.com/#f",
            "https://user@app.example.com",
            "https://:pw@app.example.com",
            "https://user:pw@app.example.com",
        ] {
            assert_eq!(normalize(no), None, "{no}");
        }
    }

    #[test]
    fn refuses_bad_lists() {
        for bad in [
            "",
            " , ",
            "*",
            "https://a.example.com,*",
            "app.example.com",
            "https://a.example.com/x",
            "ftp://x.example.com",
        ] {
            assert!(OriginPolicy::parse_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn development_wildcard_still_refuses_null() {
        assert!(OriginPolicy::AnyForDevelopment.allows("http://anything.test:1"));
        assert!(!OriginPolicy::AnyForDevelopment.allows("null"));
    }
}
