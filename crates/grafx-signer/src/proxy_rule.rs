//! The signer's API proxy allow-list: which Environment API requests a page may make through an
//! integration whose token stays on the server.
//!
//! A rule is a method and a path relative to the Environment API base, `*` standing for one path
//! segment and a final `**` for any number of them (at least one):
//!
//! ```
//! use grafx_signer::{ProxyAllowList, ProxyPath};
//!
//! let allow = ProxyAllowList::parse(["POST projects", "GET projects/*", "POST output/*"])?;
//! let path = ProxyPath::parse("output/pdf")?;
//! assert!(allow.allows("POST", &path));
//! assert!(!allow.allows("DELETE", &ProxyPath::parse("projects/1")?));
//! assert!(ProxyPath::parse("projects/../templates").is_err());
//! # Ok::<(), grafx_signer::ProxyRuleError>(())
//! ```
//!
//! Paths are matched as the signer will send them: a path with `.`/`..` segments, empty segments,
//! backslashes or percent-encoded `/`, `\` and `.` is refused before any rule is looked at, so no
//! spelling of a path reaches an endpoint the list does not name.
//!
//! Signer-only policy: the browser module never sees these rules, so they live here rather than in
//! grafx-core, and percent-decoding is the `percent-encoding` crate's.

use std::fmt;

/// Why a rule or a path is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyRuleError {
    /// A rule is not `METHOD path`.
    #[error("`{0}` is not a proxy rule: write a method and a path, e.g. `POST output/*`")]
    NotARule(String),
    /// The method is not one the proxy forwards.
    #[error("`{0}`: the method must be GET, HEAD, POST, PUT, PATCH or DELETE")]
    Method(String),
    /// The rule's path pattern is malformed.
    #[error("`{0}`: {1}")]
    Pattern(String, &'static str),
    /// A request path the proxy refuses whatever the rules say.
    #[error("the path `{0}` {1}")]
    Path(String, &'static str),
}

/// The methods the proxy forwards.
pub const PROXY_METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// One segment of a rule's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// This exact segment.
    Literal(String),
    /// Any one segment.
    One,
    /// One or more segments (last only).
    Rest,
}

/// `METHOD path-pattern`, e.g. `GET output/tasks/*/download`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRule {
    method: String,
    segments: Vec<Segment>,
    text: String,
}

impl ProxyRule {
    /// Parses `METHOD path`; the path is relative to the Environment API base (a leading `/` is
    /// accepted and ignored).
    pub fn parse(text: &str) -> Result<Self, ProxyRuleError> {
        let mut words = text.split_whitespace();
        let (Some(method), Some(path), None) = (words.next(), words.next(), words.next()) else {
            return Err(ProxyRuleError::NotARule(text.to_owned()));
        };
        let method = method.to_ascii_uppercase();
        if !PROXY_METHODS.contains(&method.as_str()) {
            return Err(ProxyRuleError::Method(text.to_owned()));
        }
        let bad = |why| ProxyRuleError::Pattern(text.to_owned(), why);
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "" => return Err(bad("the path has an empty segment")),
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err(bad("`**` may only end the path")),
                "*" => Segment::One,
                "." | ".." => return Err(bad("`.` and `..` segments are not allowed")),
                p if p.contains('*') => return Err(bad("`*` must be a whole segment")),
                p if p.contains(['?', '#', '%', '\\']) => {
                    return Err(bad("a pattern is a plain path: no query, `%` or `\\`"))
                }
                p => Segment::Literal(p.to_owned()),
            });
        }
        Ok(Self {
            method,
            segments,
            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
        })
    }

    /// The method, upper case.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Whether `method path` matches (the method and literal segments case-insensitively, as
    /// CHILI routes them).
    pub fn matches(&self, method: &str, path: &ProxyPath) -> bool {
        if !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let mut given = path.segments();
        for seg in &self.segments {
            match seg {
                // `**`: at least one more segment, any number.
                Segment::Rest => return given.next().is_some(),
                Segment::One => {
                    if given.next().is_none() {
                        return false;
                    }
                }
                // CHILI's routing ignores case (ASP.NET): so does the list, or `output/PDF` would
                // slip past a quota on `output/pdf`.
                Segment::Literal(l) => {
                    if !given.next().is_some_and(|g| g.eq_ignore_ascii_case(l)) {
                        return false;
                    }
                }
            }
        }
        given.next().is_none()
    }
}

impl fmt::Display for ProxyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The rules of one integration's proxy; a request must match one of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyAllowList {
    rules: Vec<ProxyRule>,
}

impl ProxyAllowList {
    /// Parses every rule; the first bad one is the error.
    pub fn parse<'a>(rules: impl IntoIterator<Item = &'a str>) -> Result<Self, ProxyRuleError> {
        Ok(Self {
            rules: rules
                .into_iter()
                .map(ProxyRule::parse)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether any rule allows `method path`.
    pub fn allows(&self, method: &str, path: &ProxyPath) -> bool {
        self.rules.iter().any(|r| r.matches(method, path))
    }

    /// Whether any rule forwards a write (a method other than GET and HEAD).
    pub fn forwards_writes(&self) -> bool {
        self.rules
            .iter()
            .any(|r| !matches!(r.method(), "GET" | "HEAD"))
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[ProxyRule] {
        &self.rules
    }

    /// Whether there are no rules (the proxy then refuses everything).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// A request path below the Environment API base, checked to be a plain path (see the module
/// docs): what is matched is what is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPath(String);

impl ProxyPath {
    /// Checks a path as it arrives (still percent-encoded, without the query) and makes it
    /// canonical: escapes of unreserved characters (`%70` → `p`) are decoded, so that one
    /// spelling is matched, charged and sent; any other escape, `;` and `\\` are refused.
    pub fn parse(raw: &str) -> Result<Self, ProxyRuleError> {
        let refuse = |why| ProxyRuleError::Path(raw.to_owned(), why);
        if raw.is_empty() {
            return Err(refuse(
                "is empty: name an Environment API path, e.g. `projects`",
            ));
        }
        if raw.contains('\\') || raw.contains(';') {
            return Err(refuse("contains `\\` or `;`"));
        }
        if raw
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || !b.is_ascii())
        {
            return Err(refuse(
                "contains a control character, a space or a raw non-ASCII byte",
            ));
        }
        let path = decode_unreserved(raw).ok_or_else(|| {
            refuse("contains a percent-escape of a reserved character (an encoded `/`, `\\`, `.`, `%`, NUL…), which could name another endpoint")
        })?;
        for seg in path.split('/') {
            match seg {
                "" => return Err(refuse("has an empty segment (`//` or a trailing `/`)")),
                "." | ".." => return Err(refuse("has a `.` or `..` segment")),
                _ => {}
            }
        }
        Ok(Self(path))
    }

    /// The path, as it will be appended to the Environment API base.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The number of segments.
    pub fn len(&self) -> usize {
        self.0.split('/').count()
    }

    /// Always false: a parsed path has at least one segment.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// `raw` with `%XX` escapes of unreserved characters (letters, digits, `-`, `_`, `~`) decoded;
/// `None` when it has any other escape (`.` included: `%2e%2e` must not become `..` after the check
/// that refuses `..`) or a malformed one. The escapes are checked here; `percent-encoding` decodes.
fn decode_unreserved(raw: &str) -> Option<String> {
    let mut escapes = raw.match_indices('%');
    let all_unreserved = escapes.all(|(at, _)| {
        raw.get(at + 1..at + 3)
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"-_~".contains(&b))
    });
    if !all_unreserved {
        return None;
    }
    // Every escape decodes to ASCII, and the rest was checked to be ASCII by the caller.
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

impl fmt::Display for ProxyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> ProxyPath {
        ProxyPath::parse(p).unwrap()
    }

    #[test]
    fn the_issue_example_matches_what_it_names_and_nothing_else() {
        let allow = ProxyAllowList::parse([
            "POST projects",
            "GET projects/*",
            "PUT projects/*/document",
            "POST output/*",
            "GET output/tasks/*",
            "GET output/tasks/*/download",
            "GET output/settings",
        ])
        .unwrap();
        for (m, p) in [
            ("POST", "projects"),
            ("get", "projects/abc"),
            ("PUT", "projects/abc/document"),
            ("POST", "output/pdf"),
            ("GET", "output/tasks/t1"),
            ("GET", "output/tasks/t1/download"),
            ("GET", "output/settings"),
        ] {
            assert!(allow.allows(m, &path(p)), "{m} {p}");
        }
        for (m, p) in [
            ("DELETE", "projects/abc"),
            ("GET", "projects"),
            ("GET", "projects/abc/document"),
            ("POST", "output/tasks/t1"),
            ("POST", "output"),
            ("POST", "output/pdf/extra"),
            ("GET", "templates"),
            ("PUT", "projects/abc/document/x"),
        ] {
            assert!(!allow.allows(m, &path(p)), "{m} {p}");
        }
    }

    #[test]
    fn a_trailing_double_star_matches_one_or_more_segments() {
        let allow = ProxyAllowList::parse(["GET media/**"]).unwrap();
        assert!(allow.allows("GET", &path("media/1")));
        assert!(allow.allows("GET", &path("media/1/preview/medium")));
        assert!(!allow.allows("GET", &path("media")));
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        for bad in [
            "projects",
            "FETCH projects",
            "GET",
            "GET a b",
            "GET a//b",
            "GET **/x",
            "GET a*",
            "GET ../templates",
            "GET a?b=1",
            "GET a%2fb",
        ] {
            let e = ProxyRule::parse(bad).unwrap_err();
            assert!(
                e.to_string()
                    .contains(bad.split_whitespace().next().unwrap()),
                "{e}"
            );
        }
        assert_eq!(
            ProxyRule::parse("  post   /output/* ").unwrap().to_string(),
            "post /output/*"
        );
    }

    #[test]
    fn paths_that_could_name_another_endpoint_are_refused() {
        for bad in [
            "",
            "projects/../templates",
            "projects/./x",
            "./projects",
            "projects//x",
            "projects/",
            "projects%2F..%2Ftemplates",
            "projects/%2e%2e/templates",
            "projects/%2E",
            "projects\\..\\templates",
            "projects/a%00",
            "projects/a b",
        ] {
            assert!(ProxyPath::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(path("output/tasks/x").len(), 3);
        for bad in [
            "projects/a%20b",
            "projects/a;b",
            "projects/%",
            "projects/%zz",
            "projects/a%25b",
            "projects/é",
        ] {
            assert!(ProxyPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn one_spelling_is_matched_charged_and_sent() {
        // `%70df` is `pdf`, and CHILI's routing ignores case: both are the rule's path.
        assert_eq!(path("output/%70df").as_str(), "output/pdf");
        assert_eq!(path("output/%7e%2D_x").as_str(), "output/~-_x");
        let allow = ProxyAllowList::parse(["POST output/pdf"]).unwrap();
        for p in ["output/pdf", "output/%70df", "Output/PDF"] {
            assert!(allow.allows("POST", &path(p)), "{p}");
        }
    }

    #[test]
    fn rules_and_lists_report_what_they_hold() {
        let rule = ProxyRule::parse("post output/*").unwrap();
        assert_eq!(rule.method(), "POST");
        let rest = ProxyRule::parse("GET projects/**").unwrap();
        assert!(
            !rest.matches("GET", &path("projects")),
            "`**` needs one more segment"
        );
        assert!(rest.matches("GET", &path("projects/a")));
        assert!(rest.matches("GET", &path("projects/a/b/c")));
        let reads = ProxyAllowList::parse(["GET templates", "HEAD templates/*"]).unwrap();
        assert!(!reads.forwards_writes());
        assert!(!reads.is_empty());
        assert_eq!(reads.rules().len(), 2);
        let writes = ProxyAllowList::parse(["GET templates", "PUT projects/*/document"]).unwrap();
        assert!(writes.forwards_writes());
        let none = ProxyAllowList::parse([]).unwrap();
        assert!(none.is_empty() && none.rules().is_empty() && !none.forwards_writes());
        assert!(!path("templates").is_empty());
        assert_eq!(
            path("projects/p1/document").to_string(),
            "projects/p1/document"
        );
    }
}
