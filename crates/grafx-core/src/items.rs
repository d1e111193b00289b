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
}
