//! CHILI's API links made relative, so that a page following `links.nextPage` or
//! `links.download` comes back through the proxy instead of calling CHILI without a token.
//!
//! Only the strings of the reply's top-level `links` object are rewritten (CHILI puts its links
//! there: lists, output and preview tasks), in one linear pass over the text, which is edited in
//! place and never re-serialized: numbers, key order and every other byte stay as CHILI sent them,
//! and a string elsewhere that merely equals a link (a document's note holding an API URL) is left
//! alone. Documents and downloads are the user's data, not API replies: they are never rewritten.
//!
//! ```ignore
//! let base = "https://acme.chili-publish.online/grafx/api/v1/environment/acme/";
//! let body = format!(r#"{{"links":{{"nextPage":"{base}templates?next=2"}}}}"#);
//! let out = rewrite_links(body.as_bytes(), base, &ProxyPath::parse("templates")?);
//! assert_eq!(out.unwrap(), br#"{"links":{"nextPage":"templates?next=2"}}"#);
//! ```

use std::borrow::Cow;

use super::redact::Finders;
use crate::ProxyPath;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Whether replies to `path` are API replies whose links are rewritten: not a project's or a
/// template's document, not a download.
pub(super) fn rewrites(path: &ProxyPath) -> bool {
    !matches!(
        path.as_str().rsplit('/').next(),
        Some("document" | "download")
    )
}

/// `link` relative to the request's own URL when it is on the Environment API (`base`), so it
/// resolves back through the proxy wherever the signer is mounted.
pub(super) fn relative_link(link: &str, base: &str, request_path: &ProxyPath) -> Option<String> {
    let target = link.strip_prefix(base)?;
    let up = request_path.len().saturating_sub(1);
    let mut joined = String::with_capacity(3 * up + target.len());
    for _ in 0..up {
        joined.push_str("../");
    }
    joined.push_str(target);
    Some(if joined.is_empty() {
        "./".into()
    } else {
        joined
    })
}

/// The body with the strings of its top-level `links` object made relative, or `None` when
/// there is nothing to change (not a JSON object, no `links`, no API link in it).
pub(super) fn rewrite_links(body: &[u8], base: &str, path: &ProxyPath) -> Option<Vec<u8>> {
    // Without a backslash, every string's text is its value: a reply that does not hold the base
    // URL has no link to rewrite, and is not parsed (most replies; the parse was 5% of a proxied
    // request). With one (`\/`, `\u…`), the parse below decides.
    static BASES: Finders = Finders::new();
    if memchr::memchr(b'\\', body).is_none() && BASES.get(base).find(body).is_none() {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let top: Members<'_> = serde_json::from_str(text).ok()?;
    let links = top.0.into_iter().rev().find(|(k, _)| k == "links")?.1;
    let mut edits = Vec::new();
    collect_strings(text, links, &mut edits);
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    for (start, end, value) in edits {
        let Some(relative) = relative_link(&value, base, path) else {
            continue;
        };
        out.extend_from_slice(&body[at..start]);
        out.extend_from_slice(serde_json::Value::from(relative).to_string().as_bytes());
        at = end;
    }
    if at == 0 {
        return None;
    }
    out.extend_from_slice(&body[at..]);
    Some(out)
}

/// Where `raw` lies in `text` (it is a slice of it).
fn span_of(text: &str, raw: &RawValue) -> (usize, usize) {
    let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
    (start, start + raw.get().len())
}

/// Every string at or under `raw` (strings, and strings inside its arrays and objects), with
/// its place in `text` and its decoded value, in order.
fn collect_strings(text: &str, raw: &RawValue, out: &mut Vec<(usize, usize, String)>) {
    let (start, end) = span_of(text, raw);
    match raw.get().as_bytes().first() {
        Some(b'"') => {
            if let Ok(s) = serde_json::from_str::<String>(raw.get()) {
                out.push((start, end, s));
            }
        }
        Some(b'{') => {
            if let Ok(members) = serde_json::from_str::<Members<'_>>(raw.get()) {
                members
                    .0
                    .into_iter()
                    .for_each(|(_, v)| collect_strings(text, v, out));
            }
        }
        Some(b'[') => {
            if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
                items
                    .into_iter()
                    .for_each(|v| collect_strings(text, v, out));
            }
        }
        _ => {}
    }
}

/// A JSON object's members in order, values left unparsed (borrowed from the text).
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://acme.chili-publish.online/grafx/api/v1/environment/acme/";

    fn path(p: &str) -> ProxyPath {
        ProxyPath::parse(p).unwrap()
    }

    #[test]
    fn an_escaped_link_is_still_found_and_a_reply_without_the_base_is_left_alone() {
        // `\/` is JSON's optional escape of `/`: the base is not in the text, the link still is.
        let escaped = BASE.replace('/', "\\/");
        let body = format!(r#"{{"links":{{"nextPage":"{escaped}templates?next=2"}}}}"#);
        assert_eq!(
            rewrite_links(body.as_bytes(), BASE, &path("templates")).unwrap(),
            br#"{"links":{"nextPage":"templates?next=2"}}"#
        );
        let elsewhere = r#"{"data":[],"links":{"nextPage":"https://other.example/x"}}"#;
        assert_eq!(
            rewrite_links(elsewhere.as_bytes(), BASE, &path("templates")),
            None
        );
    }

    #[test]
    fn api_links_become_relative_to_the_request() {
        let at = path("output/tasks/t1");
        let link = format!("{BASE}output/tasks/t1/download");
        // From /api/w/output/tasks/t1, `../../` is /api/w/.
        assert_eq!(
            relative_link(&link, BASE, &at).unwrap(),
            "../../output/tasks/t1/download"
        );
        assert_eq!(
            relative_link(&format!("{BASE}projects/p1"), BASE, &path("projects")).unwrap(),
            "projects/p1"
        );
        assert_eq!(relative_link(BASE, BASE, &path("x")).unwrap(), "./");
        assert_eq!(relative_link("https://cdn.example/x", BASE, &at), None);
    }

    #[test]
    fn only_the_top_level_links_change_and_every_other_byte_stays() {
        let link = format!("{BASE}output/tasks/t1/download");
        let body = format!(
            r#"{{ "data" : {{"taskId":"t1","note":"{link}","n":1.50,"links":{{"x":"{link}"}}}},"links":{{"download":"{link}","other":"https://cdn.example/x","list":["{link}"]}} }}"#
        );
        let out = rewrite_links(body.as_bytes(), BASE, &path("output/tasks/t1")).unwrap();
        let rel = "../../output/tasks/t1/download";
        let expected = format!(
            r#"{{ "data" : {{"taskId":"t1","note":"{link}","n":1.50,"links":{{"x":"{link}"}}}},"links":{{"download":"{rel}","other":"https://cdn.example/x","list":["{rel}"]}} }}"#
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        // Nothing to change: not JSON, no links, no API link.
        for unchanged in [
            "not json".to_owned(),
            "[1,2]".into(),
            r#"{"data":[]}"#.into(),
            r#"{"links":{"a":"https://cdn.example/x","n":null}}"#.into(),
        ] {
            assert_eq!(
                rewrite_links(unchanged.as_bytes(), BASE, &path("x")),
                None,
                "{unchanged}"
            );
        }
    }

    #[test]
    fn documents_and_downloads_are_not_api_replies() {
        assert!(rewrites(&path("output/tasks/t1")));
        assert!(rewrites(&path("projects")));
        assert!(!rewrites(&path("projects/p1/document")));
        assert!(!rewrites(&path("output/tasks/t1/download")));
        assert!(!rewrites(&path("templates/t1/download")));
    }

    #[test]
    fn thirty_two_thousand_links_are_rewritten_in_one_pass() {
        // The reviewer's 32k distinct links in a 2 MB body: one pass, not one scan per link.
        let links: Vec<String> = (0..32_000)
            .map(|i| format!(r#""l{i}":"{BASE}projects/{i}""#))
            .collect();
        let body = format!(r#"{{"links":{{{}}}}}"#, links.join(","));
        let out = rewrite_links(body.as_bytes(), BASE, &path("projects")).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""l31999":"projects/31999""#));
        assert!(!text.contains(BASE));
    }
}
