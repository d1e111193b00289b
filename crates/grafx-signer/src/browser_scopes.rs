//! `browser_scopes`: which scopes a token handed to a browser may carry. A signer-only policy
//! (the browser module never checks it), so it lives here rather than in grafx-core.
//!
//! ```
//! use grafx_core::Scopes;
//! use grafx_signer::BrowserScopes;
//!
//! // CHILI's vocabulary is `{font,media,myproject,template_collection,template}:{list,read,write}`
//! // and `output:{static,animated}`; "read-only" refuses every `:write`, whatever CHILI adds.
//! let policy: BrowserScopes = "read-only".parse()?;
//! assert!(policy.refused(&Scopes::parse("template:read template:list")).is_empty());
//! assert_eq!(policy.refused(&Scopes::parse("template:read myproject:write")), ["myproject:write"]);
//! # Ok::<(), grafx_signer::InvalidValue>(())
//! ```

use std::fmt;
use std::str::FromStr;

use grafx_core::Scopes;

use crate::InvalidValue;

/// Which scopes a token handed to a browser may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserScopes {
    /// No scope that can write (see [`Scopes::writes`]); every other `resource:action` scope,
    /// including ones CHILI adds later, passes.
    ReadOnly,
    /// Only the scopes listed.
    Only(Scopes),
}

impl BrowserScopes {
    /// The scopes of `token` that this policy refuses, sorted (empty: the token may be handed out).
    pub fn refused<'a>(&self, token: &'a Scopes) -> Vec<&'a str> {
        match self {
            BrowserScopes::ReadOnly => token.writes().collect(),
            BrowserScopes::Only(allowed) => token.difference(allowed),
        }
    }
}

impl BrowserScopes {
    /// A list of scopes; each must look like `resource:action`.
    pub fn only<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Result<Self, InvalidValue> {
        let scopes: Scopes = scopes.into_iter().map(str::trim).collect();
        if scopes.is_empty() {
            return Err(invalid(""));
        }
        if let Some(bad) = scopes.iter().find(|s| !looks_like_a_scope(s)) {
            return Err(invalid(bad));
        }
        Ok(BrowserScopes::Only(scopes))
    }
}

fn looks_like_a_scope(s: &str) -> bool {
    s.split_once(':').is_some_and(|(resource, action)| {
        !resource.is_empty()
            && !action.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-:.".contains(&b))
    })
}

impl FromStr for BrowserScopes {
    type Err = InvalidValue;

    /// `read-only`, or a list of scopes separated by spaces or commas.
    fn from_str(s: &str) -> Result<Self, InvalidValue> {
        if s.trim().eq_ignore_ascii_case("read-only") {
            Ok(BrowserScopes::ReadOnly)
        } else {
            Self::only(s.split([',', ' ']).filter(|x| !x.trim().is_empty()))
        }
    }
}

impl fmt::Display for BrowserScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrowserScopes::ReadOnly => f.write_str("read-only"),
            BrowserScopes::Only(s) => s.fmt(f),
        }
    }
}

fn invalid(scope: &str) -> InvalidValue {
    InvalidValue::BrowserScopes(scope.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_refuses_every_write_scope_and_nothing_else() {
        let policy: BrowserScopes = " Read-Only ".parse().unwrap();
        assert_eq!(policy, BrowserScopes::ReadOnly);
        let reader = Scopes::parse("template:list template:read output:static brand_new:read");
        assert!(policy.refused(&reader).is_empty());
        let writer = Scopes::parse("font:write template:read media:write");
        assert_eq!(policy.refused(&writer), ["font:write", "media:write"]);
        let sneaky = Scopes::parse("template:WRITE x:write:all * admin :read y: template:list");
        assert_eq!(
            policy.refused(&sneaky),
            ["*", ":read", "admin", "template:WRITE", "x:write:all", "y:"]
        );
        let list: BrowserScopes = "template:read, template:list".parse().unwrap();
        assert_eq!(list.to_string(), "template:list template:read");
        assert_eq!(list.refused(&reader), ["brand_new:read", "output:static"]);
        for typo in [
            "readonly",
            "template",
            "template:read, :x",
            "a:b c",
            "",
            " , ",
        ] {
            assert!(typo.parse::<BrowserScopes>().is_err(), "{typo}");
        }
    }
}
