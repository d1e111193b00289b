//! OAuth2 scopes: the space-separated permission list that a GraFx token carries.
//!
//! ```
//! use grafx_core::Scopes;
//!
//! let token = Scopes::parse("template:read  template:list");
//! let allowed = Scopes::parse("template:list template:read media:read");
//! assert!(token.is_subset_of(&allowed));
//! assert_eq!(token.to_string(), "template:list template:read");
//!
//! // CHILI's vocabulary is `{font,media,myproject,template_collection,template}:{list,read,write}`
//! // and `output:{static,animated}`; anything shaped otherwise counts as a write.
//! assert_eq!(Scopes::parse("template:read myproject:write").writes().collect::<Vec<_>>(), ["myproject:write"]);
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// A set of scopes, kept sorted so that equal sets print identically.
///
/// A sorted vector without duplicates rather than a `BTreeSet`: a token holds a dozen scopes, and
/// the browser package is smaller without the tree's code (issue #28).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses a space-separated list; extra whitespace is ignored.
    pub fn parse(s: &str) -> Self {
        s.split_whitespace().collect()
    }

    /// Adds `scope` where it sorts, unless it is empty or already here.
    fn insert(&mut self, scope: String) {
        if scope.is_empty() {
            return;
        }
        if let Err(at) = self.0.binary_search(&scope) {
            self.0.insert(at, scope);
        }
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.binary_search_by(|s| s.as_str().cmp(scope)).is_ok()
    }

    /// Whether every scope here is also in `other`.
    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.iter().all(|s| other.contains(s))
    }

    /// The scopes here that are not in `other`, sorted.
    pub fn difference<'a>(&'a self, other: &Scopes) -> Vec<&'a str> {
        self.iter().filter(|s| !other.contains(s)).collect()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The scopes that can start renders, sorted: CHILI's `output:static` and `output:animated`,
    /// and any other `output:` action (in any case). CHILI counts renders, and warns that a token
    /// beyond read-only "may cost you unwanted renders".
    pub fn renders(&self) -> impl Iterator<Item = &str> {
        self.iter().filter(|s| {
            s.split_once(':')
                .is_some_and(|(resource, _)| resource.eq_ignore_ascii_case("output"))
        })
    }

    /// The scopes that may grant writing, sorted: any `write` action (in any case, in any position
    /// after the resource), and anything not shaped `resource:action` (`*`, `admin`), which a
    /// read-only policy cannot vouch for.
    pub fn writes(&self) -> impl Iterator<Item = &str> {
        self.iter().filter(|s| match s.split_once(':') {
            Some((resource, actions)) => {
                resource.is_empty()
                    || actions
                        .split(':')
                        .any(|a| a.is_empty() || a.eq_ignore_ascii_case("write"))
            }
            None => true,
        })
    }
}

impl<S: Into<String>> FromIterator<S> for Scopes {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut scopes = Self::default();
        for scope in iter {
            scopes.insert(scope.into());
        }
        scopes
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
    fn sets_from_any_order_are_equal_and_lookups_find_each_member() {
        let a: Scopes = ["c:x", "a:x", "", "b:x", "a:x"].into_iter().collect();
        let b = Scopes::parse("b:x c:x a:x");
        assert_eq!(a, b);
        let hash = |s: &Scopes| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            s.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&a), hash(&b));
        assert_eq!(a.iter().collect::<Vec<_>>(), ["a:x", "b:x", "c:x"]);
        for member in ["a:x", "b:x", "c:x"] {
            assert!(a.contains(member), "{member}");
        }
        for stranger in ["", "a", "b:y", "d:x", "0", "c:xx"] {
            assert!(!a.contains(stranger), "{stranger}");
        }
        assert!(!b.is_subset_of(&Scopes::parse("a:x c:x")));
        assert!(b.is_subset_of(&Scopes::parse("a:x b:x c:x d:x")));
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
    fn render_scopes_are_the_output_ones() {
        let s = Scopes::parse("output:static OUTPUT:animated output template:read outputs:x");
        assert_eq!(
            s.renders().collect::<Vec<_>>(),
            ["OUTPUT:animated", "output:static"]
        );
        assert_eq!(Scopes::parse("template:read").renders().count(), 0);
    }

    #[test]
    fn serde_round_trip_as_a_string() {
        let s: Scopes = serde_json::from_str(r#""x y""#).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""x y""#);
        let from_iter: Scopes = ["b", "", "a"].into_iter().collect();
        assert_eq!(from_iter.to_string(), "a b");
    }
}
