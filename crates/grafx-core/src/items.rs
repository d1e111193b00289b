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

/// A media item (`GET media`, `GET media/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Everything else CHILI sent.
    #[serde(flatten)]
    pub extra: Extra,
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
