//! The seeded demo content: templates, media, output settings, and what clients create at run time
//! (projects, output tasks).

use std::collections::{BTreeMap, HashMap};

use grafx_core::Timestamp;
use serde_json::{json, Value};

use crate::images;

/// A Smart Template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) tags: Vec<&'static str>,
    pub(crate) created: &'static str,
    pub(crate) modified: &'static str,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) rgb: [u8; 3],
    /// Output generation for this template always fails (to demo and test error paths).
    pub(crate) broken: bool,
    /// The document's `engineVersion`: CHILI refuses a layout or page preview of a template whose
    /// engine is older than [`LAYOUT_PREVIEW_ENGINE`] (release notes 2026-05-21).
    pub(crate) engine_version: String,
}

/// The engine a template needs for a preview of one layout or page (release notes 2026-05-21:
/// "below `2.24.0`, the endpoint returns `400 Bad Request`").
pub(crate) const LAYOUT_PREVIEW_ENGINE: (u32, u32, u32) = (2, 24, 0);

/// The engine version of the seeded templates; one of them keeps an older one.
const CURRENT_ENGINE: &str = "2.25.0";
/// The seeded template with an engine too old for layout and page previews.
pub(crate) const OLD_ENGINE_TEMPLATE: u8 = 2;

impl Template {
    /// The template as listed and read. Its folder is its first tag's (`/` without tags). The
    /// dates are the fields CHILI's release notes (2026-03-30) name `DateCreated` and
    /// `LastModifiedContentUtc`; no source shows their casing on the wire, so `pascal_case`
    /// chooses between that spelling and camelCase (see [`crate::Settings`]).
    pub(crate) fn json(&self, pascal_case: bool) -> Value {
        let (created, modified) = if pascal_case {
            ("DateCreated", "LastModifiedContentUtc")
        } else {
            ("dateCreated", "lastModifiedContentUtc")
        };
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "relativePath": self.relative_path(),
            "description": self.description,
            "tags": self.tags,
            "width": self.width,
            "height": self.height,
        });
        v[created] = json!(self.created);
        v[modified] = json!(self.modified);
        v
    }

    /// The folder the template is in.
    pub(crate) fn relative_path(&self) -> String {
        format!("/{}", self.tags.first().copied().unwrap_or(""))
    }

    /// A stand-in for a document sent inline (`documentContent`): its name and first layout's size.
    pub(crate) fn from_document(doc: &Value) -> Self {
        let layout = &doc["layouts"][0];
        let px = |v: &Value, default| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (16..=20_000).contains(n))
                .unwrap_or(default)
        };
        Self {
            id: "documentContent".into(),
            name: doc["properties"]["name"]
                .as_str()
                .unwrap_or("Document")
                .to_owned(),
            description: String::new(),
            tags: Vec::new(),
            created: "",
            modified: "",
            width: px(&layout["width"], 1000),
            height: px(&layout["height"], 1000),
            rgb: [90, 120, 200],
            broken: false,
            engine_version: doc["engineVersion"]
                .as_str()
                .unwrap_or(CURRENT_ENGINE)
                .to_owned(),
        }
    }

    /// Whether the template's engine can preview one layout or page. A version that does not
    /// read as `major.minor.patch` is taken as able: CHILI's own reading of it is unknown.
    pub(crate) fn previews_layouts(&self) -> bool {
        let mut parts = self.engine_version.split('.').map(str::parse::<u32>);
        match (parts.next(), parts.next(), parts.next()) {
            (Some(Ok(a)), Some(Ok(b)), patch) => {
                let patch = patch.and_then(Result::ok).unwrap_or(0);
                (a, b, patch) >= LAYOUT_PREVIEW_ENGINE
            }
            _ => true,
        }
    }

    /// A new project's document: the template's, marked as CHILI marks a project's
    /// (templates-vs-projects: `properties.type` "project" and `properties.templateId`; the
    /// template-store workshop's save check needs `selectedLayoutId`, kept from the template).
    pub(crate) fn project_document(&self) -> Value {
        let mut doc = self.document();
        doc["properties"]["type"] = json!("project");
        doc["properties"]["templateId"] = json!(self.id);
        doc
    }

    /// The Studio document JSON (what `download` returns and projects start from).
    pub(crate) fn document(&self) -> Value {
        json!({
            "engineVersion": self.engine_version,
            "selectedLayoutId": "0",
            "properties": { "name": self.name, "type": "template" },
            "layouts": [{ "id": "0", "name": "Main", "width": self.width, "height": self.height, "unit": "px" }],
            "pages": [{ "id": "0", "number": 0, "frames": [
                { "id": "f1", "type": "text", "name": "Headline", "x": 40, "y": 40 },
                { "id": "f2", "type": "image", "name": "Hero image", "x": 40, "y": 160 }
            ]}],
            "variables": [
                { "id": "v1", "name": "Headline", "type": "shortText", "value": self.name },
                { "id": "v2", "name": "Hero image", "type": "image", "value": null }
            ],
        })
    }
}

/// A media asset.
#[derive(Debug, Clone)]
pub(crate) struct Media {
    pub(crate) id: String,
    pub(crate) name: String,
    /// The folder it is in: `/`, or `/a/b` (no trailing slash), as CHILI's media example
    /// connector writes a `folder`.
    pub(crate) folder: &'static str,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) rgb: [u8; 3],
}

/// A media item's `type`: CHILI's documentation numbers them (0 an item, 1 a folder); the media
/// example connector's Swagger types also take the names.
fn media_type(directory: bool, names: bool) -> Value {
    match (directory, names) {
        (false, false) => json!(0),
        (true, false) => json!(1),
        (false, true) => json!("Item"),
        (true, true) => json!("Directory"),
    }
}

impl Media {
    /// The item as listed and read: the shape of the Swagger's `Asset` (studio-connector-framework,
    /// `grafx-media-example/lib/types.ts`). `names` spells `type` as a name.
    pub(crate) fn json(&self, names: bool) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "relativePath": self.folder,
            "extension": "png",
            "type": media_type(false, names),
            "width": self.width,
            "height": self.height,
            "metaData": {},
        })
    }
}

/// The folders that hold `media`, each as a list entry of `type` 1 (`Directory`): its
/// `relativePath` is its parent's, as the media example connector reads it. Sorted by path.
pub(crate) fn media_folders(media: &[Media], names: bool) -> Vec<(String, Value)> {
    let mut paths: Vec<String> = Vec::new();
    for m in media {
        let mut path = String::new();
        for part in m.folder.split('/').filter(|p| !p.is_empty()) {
            path = format!("{path}/{part}");
            if !paths.contains(&path) {
                paths.push(path.clone());
            }
        }
    }
    paths.sort();
    paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| {
            let (parent, name) = path.rsplit_once('/').unwrap_or(("", &path));
            let parent = if parent.is_empty() { "/" } else { parent };
            let entry = json!({
                "id": format!("3e5b9f20-0000-4000-8000-0000000009{:02}", i + 1),
                "name": name,
                "relativePath": parent,
                "extension": null,
                "type": media_type(true, names),
                "width": null,
                "height": null,
                "metaData": null,
            });
            (path, entry)
        })
        .collect()
}

/// A project created from a template.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub(crate) id: String,
    /// The client that created it, the only one that can see it.
    pub(crate) owner: String,
    pub(crate) name: String,
    pub(crate) template_id: String,
    pub(crate) created: u64,
    /// The document saved to it; `None` until then, when it is its template's project document
    /// (built on read: a benchmark creates projects by the hundred thousand).
    pub(crate) document: Option<Value>,
}

impl Project {
    pub(crate) fn json(&self) -> Value {
        // CHILI's shape (studio-ui `Project`): the template it came from is `template.id`.
        json!({ "id": self.id, "name": self.name, "template": { "id": self.template_id }, "createdAt": self.created })
    }
}

/// An output format: CHILI's `POST output/{pdf|png|jpg|gif|mp4|html}` (grafx-core's, shared with
/// the browser helpers).
pub(crate) use grafx_core::OutputFormat as Format;

/// An output setting (`GET output/settings`); one per format in the seeded environment.
#[derive(Debug, Clone)]
pub(crate) struct OutputSetting {
    pub(crate) id: String,
    pub(crate) name: &'static str,
    pub(crate) format: Format,
    pub(crate) description: &'static str,
    /// The environment's default setting for its format.
    pub(crate) default: bool,
}

impl OutputSetting {
    pub(crate) fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "type": self.format.as_str(),
            "description": self.description,
            "default": self.default,
            "watermark": false,
            "watermarkText": "",
            "dataSourceEnabled": self.format == Format::Pdf,
        })
    }
}

/// A running or finished output task.
#[derive(Debug, Clone)]
pub(crate) struct OutputTask {
    /// The client that started it, the only one that can see it and its download.
    pub(crate) owner: String,
    pub(crate) format: Format,
    pub(crate) template: Template,
    pub(crate) started: Timestamp,
    pub(crate) fails: bool,
    /// Layouts asked for (`layoutsToExport`), for the rendered file's text.
    pub(crate) layouts: Vec<String>,
    /// Data rows for batch (variable data) output; 0 for a single document.
    pub(crate) rows: usize,
}

impl OutputTask {
    pub(crate) fn render(&self) -> Vec<u8> {
        let t = &self.template;
        let (w, h) = (t.width / 4, t.height / 4);
        match self.format {
            Format::Pdf => {
                let mut lines = vec![
                    format!("Rendered by grafx-emulator from template {}", t.id),
                    format!("Size: {} x {} px", t.width, t.height),
                    format!("Layouts: {}", self.layouts.join(", ")),
                ];
                if self.rows > 0 {
                    lines.push(format!("Batch of {} data rows", self.rows));
                }
                images::pdf(&t.name, &lines)
            }
            Format::Png => images::png(w, h, t.rgb),
            Format::Jpg => images::jpeg(w, h, t.rgb),
            Format::Gif => images::gif(w.min(320), h.min(320), t.rgb),
            Format::Mp4 => images::MP4.to_vec(),
            Format::Html => images::html(&t.name, t.width, t.height, t.rgb),
        }
    }
}

/// Which kind of resource a preview task renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PreviewOf {
    Template,
    Project,
}

/// A preview being "rendered": CHILI answers 202 with a task id, then serves the image.
#[derive(Debug, Clone)]
pub(crate) struct PreviewTask {
    /// A project preview's owner (the project's); template previews are anyone's.
    pub(crate) owner: Option<String>,
    pub(crate) of: PreviewOf,
    /// The template the preview shows (a project's own template).
    pub(crate) template: Template,
    pub(crate) size: u32,
    pub(crate) started: Timestamp,
}

/// Preview sizes (templates: `thumbnail|medium|highest`; media the same).
/// A media preview's largest side, for each of CHILI's media sizes (its media connector, written
/// from CHILI's Swagger: `thumbnail`, `medium`, `highest`, `fullOrVector`, `x4096`,
/// `highestOrVector`). The original-size ones are drawn at most 2048 px here: the emulator's
/// images are generated, and their pixels are not the point.
pub(crate) fn media_preview_size(kind: &str) -> Option<u32> {
    match kind {
        "fullOrVector" | "x4096" => Some(2048),
        "highestOrVector" => Some(800),
        other => preview_size(other),
    }
}

pub(crate) fn preview_size(kind: &str) -> Option<u32> {
    match kind {
        "thumbnail" => Some(160),
        "medium" => Some(400),
        "highest" => Some(800),
        _ => None,
    }
}

/// All content.
#[derive(Debug)]
pub(crate) struct Content {
    pub(crate) templates: Vec<Template>,
    pub(crate) media: Vec<Media>,
    /// When each media preview (id, size) was first asked for (`media_preview_render_ms`).
    pub(crate) media_previews_asked:
        std::collections::HashMap<(String, String), grafx_core::Timestamp>,
    /// By id, in a B-tree: a benchmark creates projects by the hundred thousand, and a hash map
    /// doubling its table under the world's lock stalled every request for milliseconds.
    pub(crate) projects: BTreeMap<String, Project>,
    pub(crate) tasks: HashMap<String, OutputTask>,
    /// The output settings, one per format.
    pub(crate) output_settings: Vec<OutputSetting>,
    /// The preview task of each (resource id, preview type) first asked for: it "renders" for a
    /// while, then the preview is served directly.
    pub(crate) preview_requested: HashMap<(String, String), String>,
    /// Preview tasks by id.
    pub(crate) preview_tasks: HashMap<String, PreviewTask>,
    /// Generated images, so each is encoded once.
    pub(crate) image_cache: HashMap<(String, u32), Vec<u8>>,
}

impl Content {
    /// The seeded environment: nine templates, their media, the default output settings.
    pub(crate) fn seeded() -> Self {
        Self {
            templates: Self::seeded_templates(),
            media: Self::seeded_media(),
            media_previews_asked: std::collections::HashMap::new(),
            projects: BTreeMap::new(),
            tasks: HashMap::new(),
            output_settings: seeded_output_settings(),
            preview_requested: HashMap::new(),
            preview_tasks: HashMap::new(),
            image_cache: HashMap::new(),
        }
    }

    /// The seeded templates, one row each (a data table: it reads best as one piece).
    fn seeded_templates() -> Vec<Template> {
        let t =
            |n: u8, name: &str, desc: &str, tags, created, modified, w, h, rgb, broken| Template {
                id: format!("7a1c0e4d-0000-4000-8000-0000000000{n:02}"),
                name: name.into(),
                description: desc.into(),
                tags,
                created,
                modified,
                width: w,
                height: h,
                rgb,
                broken,
                engine_version: if n == OLD_ENGINE_TEMPLATE {
                    "1.20.0".into()
                } else {
                    CURRENT_ENGINE.into()
                },
            };
        vec![
            t(
                1,
                "Summer Sale Flyer",
                "A5 flyer with a headline, hero image and price tag.",
                vec!["print", "retail"],
                "2026-05-02T08:15:00Z",
                "2026-06-20T14:02:00Z",
                1748,
                2480,
                [232, 110, 60],
                false,
            ),
            t(
                2,
                "Business Card",
                "Two-sided business card with QR code.",
                vec!["print", "brand"],
                "2026-01-11T10:00:00Z",
                "2026-02-03T09:41:00Z",
                1050,
                600,
                [40, 90, 160],
                false,
            ),
            t(
                3,
                "Instagram Post",
                "Square social post with a bold headline.",
                vec!["social"],
                "2026-03-14T09:30:00Z",
                "2026-09-01T16:20:00Z",
                1080,
                1080,
                [200, 60, 140],
                false,
            ),
            t(
                4,
                "Event Poster",
                "A3 poster for events with date and venue.",
                vec!["print", "events"],
                "2026-02-21T13:45:00Z",
                "2026-04-18T11:11:00Z",
                2480,
                3508,
                [80, 160, 90],
                false,
            ),
            t(
                5,
                "Restaurant Menu",
                "Tri-fold menu with three sections.",
                vec!["print", "hospitality"],
                "2025-11-30T18:00:00Z",
                "2026-07-07T07:07:00Z",
                3508,
                2480,
                [150, 110, 70],
                false,
            ),
            t(
                6,
                "Real Estate Brochure",
                "Four-page brochure with floor plan.",
                vec!["print", "real-estate"],
                "2026-06-01T12:00:00Z",
                "2026-06-02T12:00:00Z",
                2480,
                3508,
                [60, 140, 170],
                false,
            ),
            t(
                7,
                "Newsletter Header",
                "Email header banner, 600 px wide.",
                vec!["email"],
                "2026-08-08T08:08:00Z",
                "2026-10-10T10:10:00Z",
                1200,
                400,
                [120, 80, 180],
                false,
            ),
            t(
                8,
                "LinkedIn Banner",
                "Company page banner.",
                vec!["social", "brand"],
                "2026-04-04T04:04:00Z",
                "2026-04-05T05:05:00Z",
                1584,
                396,
                [30, 110, 190],
                false,
            ),
            t(
                9,
                "Unrenderable Flyer (error demo)",
                "A template whose output always fails: use it to see error handling.",
                vec!["test"],
                "2026-10-31T23:59:00Z",
                "2026-10-31T23:59:00Z",
                1748,
                2480,
                [90, 90, 90],
                true,
            ),
        ]
    }

    /// The seeded media, one row each.
    fn seeded_media() -> Vec<Media> {
        let m = |n: u8, name: &str, folder, w, h, rgb| Media {
            id: format!("3e5b9f20-0000-4000-8000-0000000001{n:02}"),
            name: name.into(),
            folder,
            width: w,
            height: h,
            rgb,
        };
        vec![
            m(1, "beach.png", "/photos", 1600, 1067, [70, 160, 210]),
            m(2, "logo.png", "/", 512, 512, [230, 60, 60]),
            m(3, "storefront.png", "/photos", 1920, 1280, [160, 140, 90]),
            m(4, "team.png", "/photos", 1600, 900, [110, 170, 120]),
            m(
                5,
                "product-shot.png",
                "/photos/products",
                1200,
                1200,
                [240, 200, 80],
            ),
            m(6, "texture.png", "/", 1024, 1024, [100, 100, 140]),
        ]
    }

    /// The output setting `id`.
    pub(crate) fn output_setting(&self, id: &str) -> Option<&OutputSetting> {
        self.output_settings.iter().find(|s| s.id == id)
    }

    pub(crate) fn template(&self, id: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.id == id)
    }

    /// A cached preview PNG for `id` at `size` px wide.
    pub(crate) fn preview_png(
        &mut self,
        id: &str,
        size: u32,
        rgb: [u8; 3],
        aspect: (u32, u32),
    ) -> Vec<u8> {
        self.image_cache
            .entry((id.to_owned(), size))
            .or_insert_with(|| {
                let height = (size * aspect.1 / aspect.0.max(1)).clamp(16, 1600);
                images::png(size, height, rgb)
            })
            .clone()
    }
}

fn seeded_output_settings() -> Vec<OutputSetting> {
    let describe = [
        (Format::Pdf, "Print PDF", "High quality print PDF"),
        (Format::Png, "Web PNG", "PNG for the web"),
        (Format::Jpg, "Social JPG", "JPG for social media"),
        (Format::Gif, "Animated GIF", "Animated GIF banner"),
        (Format::Mp4, "Video MP4", "MP4 video, H.264"),
        (Format::Html, "HTML5 banner", "Animated HTML banner"),
    ];
    describe
        .into_iter()
        .enumerate()
        .map(|(i, (format, name, description))| OutputSetting {
            id: format!("5d1c8a0e-0000-4000-8000-0000000002{:02}", i + 1),
            name,
            format,
            description,
            default: true,
        })
        .collect()
}
