//! OAuth2 scopes: the space-separated permission list that a GraFx token carries.
//!
//! ```
//! use grafx_core::Scopes;
//!
//! let token = Scopes::parse("template:read  media:read");
//! let allowed = Scopes::parse("template:read media:read output:create");
//! assert!(token.is_subset_of(&allowed));
//! assert_eq!(token.to_string(), "media:read template:read");
//! ```

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A set of scopes, kept sorted so that equal sets print identically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Parses a space-separated list; extra whitespace is ignored.
    pub fn parse(s: &str) -> Self {
        Self(s.split_whitespace().map(str::to_owned).collect())
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// Whether every scope here is also in `other`.
    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes here that are not in `other`, sorted.
    pub fn difference<'a>(&'a self, other: &'a Scopes) -> Vec<&'a str> {
        self.0.difference(&other.0).map(String::as_str).collect()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl<S: Into<String>> FromIterator<S> for Scopes {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(Into::into)
                .filter(|s: &String| !s.is_empty())
                .collect(),
        )
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

impl From<String> for Scopes {
    fn from(s: String) -> Self {
        Self::parse(&s)
    }
}

impl From<Scopes> for String {
    fn from(s: Scopes) -> Self {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn parse_is_whitespace_tolerant_and_sorted() {
        let s = Scopes::parse("  b:read\ta:read  b:read ");
        assert_eq!(s.iter().collect::<Vec<_>>(), ["a:read", "b:read"]);
        assert_eq!(s.to_string(), "a:read b:read");
        assert!(Scopes::parse("   ").is_empty());
    }

    #[test]
    fn subset_and_difference() {
        let read = Scopes::parse("template:read");
        let rw = Scopes::parse("template:read template:write");
        assert!(read.is_subset_of(&rw));
        assert!(!rw.is_subset_of(&read));
        assert_eq!(rw.difference(&read), ["template:write"]);
        assert!(Scopes::default().is_subset_of(&read));
    }

    #[test]
    fn serde_round_trip_as_a_string() {
        let s: Scopes = serde_json::from_str(r#""x y""#).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""x y""#);
        let from_iter: Scopes = ["b", "", "a"].into_iter().collect();
        assert_eq!(from_iter.to_string(), "a b");
    }
}
