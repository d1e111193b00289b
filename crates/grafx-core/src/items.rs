//! The items CHILI's Environment API returns, as its lists and gets return them: templates,
//! projects, media and output settings. Fields CHILI documents are typed; everything else an
//! environment sends is kept in `extra`, so a newer CHILI loses nothing.
//!
//! ```
//! use grafx_core::Project;
//!
//! let p: Project = serde_json::from_str(r#"{"id":"p1","name":"Mine","template":{"id":"t1"},"owner":"x"}"#)?;
//! assert_eq!(p.template.map(|t| t.id).as_deref(), Some("t1"));
//! assert_eq!(p.extra["owner"], "x");
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Fields an item carries beyond the documented ones.
pub type Extra = BTreeMap<String, serde_json::Value>;

/// A template (`GET templates`, `GET templates/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its description, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Everything else CHILI sent.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Template {
    /// When it was created: the field CHILI's release notes (2026-03-30) call `DateCreated`,
    /// read in that casing or in camelCase (`dateCreated`), as no source shows the wire's.
    pub fn date_created(&self) -> Option<&str> {
        self.either_case("dateCreated", "DateCreated")
    }

    /// When its content last changed: `LastModifiedContentUtc` (release notes 2026-03-30), read
    /// in that casing or in camelCase (`lastModifiedContentUtc`).
    pub fn last_modified_content(&self) -> Option<&str> {
        self.either_case("lastModifiedContentUtc", "LastModifiedContentUtc")
    }

    fn either_case(&self, camel: &str, pascal: &str) -> Option<&str> {
        [camel, pascal]
            .into_iter()
            .find_map(|k| self.extra.get(k).and_then(serde_json::Value::as_str))
    }
}

/// The template a project was made from: `{"id": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    /// The template's id.
    pub id: String,
}

/// A project (`POST projects`, `GET projects/{id}`): created from `{template: {id}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The template it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateRef>,
    /// Everything else CHILI sent.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A media item or folder (`GET media`, `GET media/{id}`): the Swagger's `Asset`, as CHILI's
/// media example connector (studio-connector-framework) types it. Every field but `id` may be
/// null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    /// Its id.
    pub id: String,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The folder it is in (a folder's is its parent's), e.g. `/photos`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_path: Option<String>,
    /// Its file extension, e.g. `png`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// `0`/`"Item"` for an item, `1`/`"Directory"` for a folder: CHILI's documentation numbers
    /// them; the Swagger's types also allow names. See [`Media::is_folder`].
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<serde_json::Value>,
    /// Its width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Its height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Everything else CHILI sent (`metaData`…).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Media {
    /// Whether this is a folder: `type` 1, or (any case) `Directory`, `Folder`, `Collection` or
    /// `"1"`, the rule of CHILI's media example connector.
    pub fn is_folder(&self) -> bool {
        match &self.kind {
            Some(serde_json::Value::Number(n)) => n.as_u64() == Some(1),
            Some(serde_json::Value::String(s)) => ["directory", "folder", "collection", "1"]
                .iter()
                .any(|f| s.eq_ignore_ascii_case(f)),
            _ => false,
        }
    }
}

/// An output setting (`GET output/settings`): how one format is rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputSetting {
    /// Its id, for `outputSettingsId`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The format it renders (`pdf`, `png`, `jpg`, `gif`, `mp4`, `html`); CHILI's casing varies.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it is the environment's default for its format.
    #[serde(default)]
    pub default: bool,
    /// Everything else CHILI sent.
    #[serde(flatten)]
    pub extra: Extra,
}

/// CHILI's output formats: `POST output/{pdf|png|jpg|gif|mp4|html}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// PDF (`output:static`).
    Pdf,
    /// PNG (`output:static`).
    Png,
    /// JPEG (`output:static`).
    Jpg,
    /// Animated GIF (`output:animated`).
    Gif,
    /// MP4 video (`output:animated`).
    Mp4,
    /// HTML5 banner (`output:animated`).
    Html,
}

impl OutputFormat {
    /// Every format, in CHILI's order.
    pub const ALL: [OutputFormat; 6] = [
        Self::Pdf,
        Self::Png,
        Self::Jpg,
        Self::Gif,
        Self::Mp4,
        Self::Html,
    ];

    /// The path segment, e.g. `pdf`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Png => "png",
            Self::Jpg => "jpg",
            Self::Gif => "gif",
            Self::Mp4 => "mp4",
            Self::Html => "html",
        }
    }

    /// The format named by a path segment.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The media type of the rendered file.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Png => "image/png",
            Self::Jpg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Mp4 => "video/mp4",
            Self::Html => "text/html; charset=utf-8",
        }
    }

    /// The token scope CHILI's output permissions split formats into.
    pub fn scope(self) -> &'static str {
        match self {
            Self::Pdf | Self::Png | Self::Jpg => "output:static",
            Self::Gif | Self::Mp4 | Self::Html => "output:animated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn unknown_fields_are_kept_and_documented_ones_typed() {
        let s: OutputSetting = serde_json::from_str(
            r#"{"id":"o1","name":"Print","type":"PDF","default":true,"watermark":false}"#,
        )
        .unwrap();
        assert_eq!((s.kind.as_str(), s.default), ("PDF", true));
        assert_eq!(s.extra["watermark"], false);
        let t: Template = serde_json::from_str(r#"{"id":"t","name":"Flyer"}"#).unwrap();
        assert!(t.tags.is_empty() && t.description.is_none());
    }

    #[test]
    fn template_dates_are_read_in_either_casing() {
        let camel: Template = serde_json::from_str(
            r#"{"id":"t","name":"F","dateCreated":"2026-01-02T03:04:05Z","lastModifiedContentUtc":"2026-02-03T04:05:06Z"}"#,
        )
        .unwrap();
        assert_eq!(camel.date_created(), Some("2026-01-02T03:04:05Z"));
        assert_eq!(camel.last_modified_content(), Some("2026-02-03T04:05:06Z"));
        let pascal: Template = serde_json::from_str(
            r#"{"id":"t","name":"F","DateCreated":"2025-01-02","LastModifiedContentUtc":"2025-02-03"}"#,
        )
        .unwrap();
        assert_eq!(pascal.date_created(), Some("2025-01-02"));
        assert_eq!(pascal.last_modified_content(), Some("2025-02-03"));
        let none: Template =
            serde_json::from_str(r#"{"id":"t","name":"F","createdDate":"x"}"#).unwrap();
        assert_eq!(
            (none.date_created(), none.last_modified_content()),
            (None, None)
        );
    }

    #[test]
    fn media_items_and_folders_in_every_spelling_chili_uses() {
        let item: Media = serde_json::from_str(
            r#"{"id":"m","name":"a.png","relativePath":"/photos","extension":"png","type":0,"width":10,"height":20,"metaData":{"k":"v"}}"#,
        )
        .unwrap();
        assert_eq!(item.name.as_deref(), Some("a.png"));
        assert_eq!(item.relative_path.as_deref(), Some("/photos"));
        assert_eq!(item.extension.as_deref(), Some("png"));
        assert_eq!((item.width, item.height), (Some(10), Some(20)));
        assert_eq!(item.extra["metaData"]["k"], "v");
        assert!(!item.is_folder());
        let nulls: Media = serde_json::from_str(
            r#"{"id":"d","name":null,"relativePath":null,"extension":null,"type":1,"width":null,"height":null,"metaData":null}"#,
        )
        .unwrap();
        assert!(nulls.is_folder() && nulls.name.is_none() && nulls.width.is_none());
        let kind = |t: &str| {
            serde_json::from_str::<Media>(&format!(r#"{{"id":"x","type":{t}}}"#))
                .unwrap()
                .is_folder()
        };
        for folder in [
            "1",
            r#""Directory""#,
            r#""folder""#,
            r#""COLLECTION""#,
            r#""1""#,
        ] {
            assert!(kind(folder), "{folder} is a folder");
        }
        for item in ["0", "2", r#""Item""#, r#""0""#, "null", "true"] {
            assert!(!kind(item), "{item} is not a folder");
        }
    }

    #[test]
    fn output_formats_round_trip_and_split_by_scope() {
        for f in OutputFormat::ALL {
            assert_eq!(OutputFormat::parse(f.as_str()), Some(f));
            assert_eq!(
                serde_json::to_string(&f).unwrap(),
                format!("\"{}\"", f.as_str())
            );
        }
        assert_eq!(OutputFormat::parse("bmp"), None);
        assert_eq!(OutputFormat::Png.scope(), "output:static");
        assert_eq!(OutputFormat::Mp4.scope(), "output:animated");
    }
}
