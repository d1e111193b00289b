//! CHILI's documented requests, replayed against the emulator: each test sends what a CHILI
//! sample sends and reads the reply fields that sample reads. Sources (CHILI's public
//! repositories): the template-store workshop (`grafx-documentation`, integration project
//! sections 09, 10, 13 and workshop step 15), the variable-data-printing guide, the output-tasks
//! concept page, and studio-ui (`EnvironmentApiService.ts`, `types.ts`, `documentExportHelper.ts`).
// Test helpers panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use grafx_emulator::{start, EmulatorConfig, RunningEmulator, Settings};
use reqwest::{Client, Method, Response};
use serde_json::{json, Value};

const FLYER: &str = "7a1c0e4d-0000-4000-8000-000000000001";

struct Env {
    em: RunningEmulator,
    http: Client,
}

impl Env {
    async fn new(settings: Settings) -> Self {
        let em = start(
            EmulatorConfig::default().with_settings(settings),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let http = Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Self { em, http }
    }

    async fn token(&self, client: &str) -> String {
        // TOK: form-encoded, as CHILI's token page shows it.
        let form = format!(
            "grant_type=client_credentials&client_id={client}&client_secret={client}-secret&audience=https%3A%2F%2Fchiligrafx.com"
        );
        let reply: Value = self
            .http
            .post(self.em.emulator().token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply["access_token"].as_str().unwrap().to_owned()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.em.emulator().environment_api_url())
    }

    async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    async fn get(&self, token: &str, path: &str) -> Response {
        self.call(token, Method::GET, path, None).await
    }

    /// A project from the flyer template, created with CHILI's body; its reply.
    async fn create_project(&self, token: &str) -> Value {
        self.call(
            token,
            Method::POST,
            "projects",
            Some(json!({ "template": { "id": FLYER } })),
        )
        .await
        .json()
        .await
        .unwrap()
    }
}

fn fast() -> Settings {
    Settings {
        preview_render_ms: 200,
        output_render_ms: 200,
        ..Settings::default()
    }
}

#[tokio::test]
async fn workshop_creates_a_project_from_a_template_and_reads_it_back() {
    let env = Env::new(fast()).await;
    let writer = env.token("demo-writer").await;
    // Integration project section 09: `const { id, name } = jsonResponse.data`.
    let template: Value = env
        .get(&writer, &format!("templates/{FLYER}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(template["data"]["id"], FLYER);
    assert_eq!(template["data"]["name"], "Summer Sale Flyer");
    // Section 10: POST projects with `{ template: { id } }`, reads `id` and `name` bare.
    let res = env
        .call(
            &writer,
            Method::POST,
            "projects",
            Some(json!({ "template": { "id": FLYER } })),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let project: Value = res.json().await.unwrap();
    let id = project["id"].as_str().unwrap().to_owned();
    assert_eq!(project["name"], "Summer Sale Flyer");
    // templates-vs-projects: `{"id", "name", "template": {"id"}}`.
    let got: Value = env
        .get(&writer, &format!("projects/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["template"]["id"], FLYER);
    assert_eq!(got["name"], "Summer Sale Flyer");
    // Section 13: PUT the document, 204 means saved; GET returns the document bare.
    let res = env
        .call(
            &writer,
            Method::PUT,
            &format!("projects/{id}/document"),
            Some(json!({ "properties": { "name": "edited" } })),
        )
        .await;
    assert_eq!(res.status(), 204);
    let doc: Value = env
        .get(&writer, &format!("projects/{id}/document"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["properties"]["name"], "edited");
    // The old, invented body is refused, naming CHILI's field.
    let res = env
        .call(
            &writer,
            Method::POST,
            "projects",
            Some(json!({ "templateId": FLYER })),
        )
        .await;
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("template.id"));
    // Delete, then it is gone.
    let res = env
        .call(&writer, Method::DELETE, &format!("projects/{id}"), None)
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        env.get(&writer, &format!("projects/{id}")).await.status(),
        404
    );
}

#[tokio::test]
async fn a_read_only_token_cannot_write_projects() {
    let env = Env::new(fast()).await;
    let reader = env.token("demo-reader").await;
    let res = env
        .call(
            &reader,
            Method::POST,
            "projects",
            Some(json!({ "template": { "id": FLYER } })),
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "errors are RFC 7807"
    );
}

/// Workshop step 15: request the thumbnail; 200 is the image, 202 gives `data.taskId`; poll
/// `…/preview/tasks/{taskId}` (202 running, 200 `links.download`), download with the bearer.
async fn preview_flow(env: &Env, token: &str, preview: &str, poll_prefix: &str) {
    let res = env.get(token, preview).await;
    assert_eq!(res.status(), 202, "{preview} starts rendering");
    let started: Value = res.json().await.unwrap();
    let task = started["data"]["taskId"].as_str().unwrap().to_owned();
    let poll = format!("{poll_prefix}/preview/tasks/{task}");
    assert_eq!(env.get(token, &poll).await.status(), 202);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let done = env.get(token, &poll).await;
    assert_eq!(done.status(), 200);
    let info: Value = done.json().await.unwrap();
    let download = info["links"]["download"].as_str().unwrap();
    let image = env
        .http
        .get(download)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    assert!(image.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let anonymous = env.http.get(download).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "the download needs the bearer");
    // Once rendered, the preview URL itself answers 200 with the image.
    let again = env.get(token, preview).await;
    assert_eq!(again.status(), 200);
    assert!(again.bytes().await.unwrap().starts_with(b"\x89PNG"));
}

#[tokio::test]
async fn previews_follow_the_202_task_flow_for_templates_and_projects() {
    let env = Env::new(fast()).await;
    let writer = env.token("demo-writer").await;
    // The CALLS table names templates/preview/tasks; the workshop polls projects/preview/tasks
    // for both kinds. Both work.
    preview_flow(
        &env,
        &writer,
        &format!("templates/{FLYER}/preview/thumbnail"),
        "templates",
    )
    .await;
    preview_flow(
        &env,
        &writer,
        "templates/7a1c0e4d-0000-4000-8000-000000000002/preview/thumbnail",
        "projects",
    )
    .await;
    let project = env.create_project(&writer).await;
    let id = project["id"].as_str().unwrap();
    preview_flow(
        &env,
        &writer,
        &format!("projects/{id}/preview/thumbnail"),
        "projects",
    )
    .await;
}

async fn start_output(env: &Env, token: &str, format: &str, body: Value) -> String {
    let res = env
        .call(token, Method::POST, &format!("output/{format}"), Some(body))
        .await;
    assert_eq!(res.status(), 200, "output/{format}");
    // studio-ui GenerateOutputResponse: `{data:{taskId}, links:{taskInfo}}`.
    let reply: Value = res.json().await.unwrap();
    let task = reply["data"]["taskId"].as_str().unwrap().to_owned();
    assert_eq!(
        reply["links"]["taskInfo"],
        env.url(&format!("output/tasks/{task}"))
    );
    task
}

#[tokio::test]
async fn vdp_style_batch_output_with_document_content() {
    let env = Env::new(fast()).await;
    let reader = env.token("demo-reader").await;
    // studio-ui reads `data` of output/settings and the `type` of each setting.
    let settings: Value = env
        .get(&reader, "output/settings")
        .await
        .json()
        .await
        .unwrap();
    let pdf = settings["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "pdf")
        .unwrap();
    let setting_id = pdf["id"].as_str().unwrap();
    let one: Value = env
        .get(&reader, &format!("output/settings/{setting_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        one["dataSourceEnabled"], true,
        "read bare, as studio-ui does"
    );
    let document: Value = env
        .get(&reader, &format!("templates/{FLYER}/download"))
        .await
        .json()
        .await
        .unwrap();
    // The VDP guide's body: outputSettingsId, layoutsToExport, variables rows, documentContent.
    let task = start_output(
        &env,
        &reader,
        "pdf",
        json!({
            "outputSettingsId": setting_id,
            "layoutsToExport": ["0"],
            "variables": [
                { "Headline": "Red Drink", "Hero image": "red-bottle" },
                { "Headline": "Blue Drink", "Hero image": null }
            ],
            "documentContent": document,
        }),
    )
    .await;
    // Output tasks page: 204 while running.
    assert_eq!(
        env.get(&reader, &format!("output/tasks/{task}"))
            .await
            .status(),
        204
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    let done: Value = env
        .get(&reader, &format!("output/tasks/{task}"))
        .await
        .json()
        .await
        .unwrap();
    let file = env
        .http
        .get(done["links"]["download"].as_str().unwrap())
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(file.headers()["content-type"], "application/pdf");
    let text = String::from_utf8_lossy(&file.bytes().await.unwrap()).into_owned();
    assert!(text.starts_with("%PDF") && text.contains("Batch of 2 data rows"));

    // studio-ui's documentExportHelper: the document with the project it came from, plus
    // engineVersion and dataConnectorConfig, by the project's owner (anyone else is told the
    // project does not exist: emulator.rs `projects_and_outputs_belong_to_…`).
    let writer = env.token("demo-writer").await;
    let project = env.create_project(&writer).await;
    start_output(
        &env,
        &writer,
        "pdf",
        json!({
            "outputSettingsId": setting_id,
            "layoutsToExport": ["0"],
            "engineVersion": null,
            "documentContent": document,
            "projectId": project["id"],
            "dataConnectorConfig": { "dataConnectorId": "x", "dataConnectorParameters": { "context": {} } },
        }),
    )
    .await;
    // The document may also come as a JSON string.
    start_output(
        &env,
        &reader,
        "pdf",
        json!({ "documentContent": document.to_string() }),
    )
    .await;
    // Bad rows, batch for a non-PDF format, two sources at once: 400 problems that say why.
    for (format, body, says) in [
        (
            "pdf",
            json!({ "templateId": FLYER, "variables": [{ "Headline": 3 }] }),
            "row 0",
        ),
        (
            "png",
            json!({ "templateId": FLYER, "variables": [] }),
            "only available for pdf",
        ),
        (
            "pdf",
            json!({ "templateId": FLYER, "projectId": "p" }),
            "not both",
        ),
        (
            "pdf",
            json!({ "templateId": FLYER, "outputSettingsId": "nope" }),
            "does not exist",
        ),
        (
            "png",
            json!({ "templateId": FLYER, "outputSettingsId": setting_id }),
            "is for pdf",
        ),
    ] {
        let res = env
            .call(
                &reader,
                Method::POST,
                &format!("output/{format}"),
                Some(body),
            )
            .await;
        assert_eq!(res.status(), 400, "{says}");
        let problem: Value = res.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{problem}"
        );
    }
}

#[tokio::test]
async fn every_output_format_renders_a_real_file() {
    let env = Env::new(Settings {
        output_render_ms: 0,
        ..Settings::default()
    })
    .await;
    let reader = env.token("demo-reader").await;
    for (format, content_type, magic) in [
        ("pdf", "application/pdf", &b"%PDF"[..]),
        ("png", "image/png", &b"\x89PNG"[..]),
        ("jpg", "image/jpeg", &[0xFF, 0xD8][..]),
        ("gif", "image/gif", &b"GIF89a"[..]),
        ("mp4", "video/mp4", &b"\0\0\0"[..]),
        ("html", "text/html; charset=utf-8", &b"<!doctype html>"[..]),
    ] {
        let task = start_output(&env, &reader, format, json!({ "templateId": FLYER })).await;
        let file = env
            .get(&reader, &format!("output/tasks/{task}/download"))
            .await;
        assert_eq!(file.headers()["content-type"], content_type, "{format}");
        assert!(file.bytes().await.unwrap().starts_with(magic), "{format}");
    }
}

#[tokio::test]
async fn older_versions_answer_202_while_running_and_downloads_expire() {
    let env = Env::new(Settings {
        output_render_ms: 1_000,
        legacy_task_status: true,
        output_download_ttl_secs: 60,
        ..Settings::default()
    })
    .await;
    let reader = env.token("demo-reader").await;
    let task = start_output(&env, &reader, "png", json!({ "templateId": FLYER })).await;
    let poll = format!("output/tasks/{task}");
    assert_eq!(env.get(&reader, &poll).await.status(), 202);
    env.em.emulator().advance_clock(1_500);
    assert_eq!(env.get(&reader, &poll).await.status(), 200);
    let download = format!("output/tasks/{task}/download");
    assert_eq!(env.get(&reader, &download).await.status(), 200);
    env.em.emulator().advance_clock(60_000);
    assert_eq!(
        env.get(&reader, &poll).await.status(),
        200,
        "tasks outlive their downloads (7 days)"
    );
    let gone = env.get(&reader, &download).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(gone.headers()["content-type"], "application/problem+json");
    let problem: Value = gone.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn studio_ui_reads_connectors_and_user_interfaces() {
    let env = Env::new(fast()).await;
    let reader = env.token("demo-reader").await;
    for list in ["connectors", "user-interfaces"] {
        let page: Value = env.get(&reader, list).await.json().await.unwrap();
        let first = &page["data"][0];
        let id = first["id"].as_str().unwrap();
        let one: Value = env
            .get(&reader, &format!("{list}/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(&one, first, "{list}/{{id}} is bare");
    }
    let ui: Value = env
        .get(&reader, "user-interfaces")
        .await
        .json()
        .await
        .unwrap();
    // studio-ui JSON.parses formBuilder.
    let form: Value = serde_json::from_str(ui["data"][0]["formBuilder"].as_str().unwrap()).unwrap();
    assert!(form.is_array());
    assert_eq!(
        env.http
            .get(env.url("connectors"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn the_platform_api_route_takes_the_same_token() {
    // The release notes of 2026-02-23 name the routes and two fields of their replies; the rest
    // (the reply's shape, the ids) is unsettled, so both shapes are served and only the named
    // fields are read.
    for wrapped in [false, true] {
        let env = Env::new(Settings {
            wrapped_platform_replies: wrapped,
            ..fast()
        })
        .await;
        platform_replies(&env, wrapped).await;
    }
}

async fn platform_replies(env: &Env, wrapped: bool) {
    let reader = env.token("demo-reader").await;
    let platform = env.em.emulator().platform_api_url();
    let get = |path: String| {
        let (http, reader) = (env.http.clone(), reader.clone());
        async move {
            let res = http.get(path).bearer_auth(&reader).send().await.unwrap();
            let status = res.status().as_u16();
            let body = res.json::<Value>().await.unwrap_or(Value::Null);
            let reply = if wrapped { body["data"].clone() } else { body };
            (status, reply)
        }
    };
    let env_id = "e7a0c1d2-0000-4000-8000-000000000001";
    let sub = "5b5c0de0-0000-4000-8000-000000000001";
    let by_id = format!("{platform}api/v1/environments/{env_id}");
    assert_eq!(env.http.get(&by_id).send().await.unwrap().status(), 401);
    let started = env
        .call(
            &env.token("demo-writer").await,
            Method::POST,
            "output/pdf",
            Some(json!({ "templateId": FLYER })),
        )
        .await;
    assert_eq!(started.status(), 200);
    for path in [
        by_id.clone(),
        format!("{platform}api/v1/environments/demo"),
        format!("{by_id}/renders"),
        format!("{platform}api/v1/subscriptions/{sub}/renders"),
        format!("{platform}api/v1/subscriptions/{sub}"),
    ] {
        let (status, reply) = get(path.clone()).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(reply["totalRenders"], 1, "{path}: the render counted");
        assert_eq!(reply["totalWatermarkedRenders"], 0, "{path}");
    }
    assert_eq!(
        get(format!("{platform}api/v1/environments/other")).await.0,
        404
    );
    assert_eq!(
        get(format!("{platform}api/v1/subscriptions/{env_id}"))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn the_journal_records_what_went_on_the_wire() {
    let env = Env::new(fast()).await;
    let writer = env.token("demo-writer").await;
    env.call(
        &writer,
        Method::POST,
        "projects?x=1",
        Some(json!({ "template": { "id": FLYER } })),
    )
    .await;
    let journal: Value = env
        .http
        .get(format!("{}/_emulator/requests", env.em.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = journal.as_array().unwrap().last().unwrap();
    assert_eq!(last["method"], "POST");
    assert_eq!(last["path"], "projects");
    assert_eq!(last["query"], "x=1");
    assert_eq!(last["bearer"], true);
    assert_eq!(last["body"], json!({ "template": { "id": FLYER } }));
    assert!(
        !journal.to_string().contains(&writer),
        "tokens are not kept"
    );
    env.em.emulator().clear_requests();
    assert!(env.em.emulator().requests().is_empty());
}

#[tokio::test]
async fn each_endpoint_wants_chilis_scope_for_it() {
    use grafx_emulator::ClientSpec;
    let env = Env::new(fast()).await;
    for (path, scope) in [
        ("templates", "template:list"),
        (
            "templates/7a1c0e4d-0000-4000-8000-000000000001",
            "template:read",
        ),
        ("media", "media:list"),
        ("output/settings", "output:static"),
    ] {
        let em = env.em.emulator();
        // CHILI re-serves a client's cached token: reset between scope sets.
        em.reset();
        em.upsert_client(ClientSpec::new(
            "narrow",
            "narrow-secret",
            grafx_core::Scopes::parse(scope),
        ));
        let token = env.token("narrow").await;
        assert_eq!(
            env.get(&token, path).await.status(),
            200,
            "{path} with {scope}"
        );
        em.reset();
        em.upsert_client(ClientSpec::new(
            "narrow",
            "narrow-secret",
            grafx_core::Scopes::parse("font:read"),
        ));
        let token = env.token("narrow").await;
        assert_eq!(
            env.get(&token, path).await.status(),
            403,
            "{path} without {scope}"
        );
    }
}

#[tokio::test]
async fn the_older_query_string_output_endpoints_still_answer() {
    let env = Env::new(Settings {
        output_render_ms: 0,
        ..Settings::default()
    })
    .await;
    let writer = env.token("demo-writer").await;
    let project = env.create_project(&writer).await;
    let id = project["id"].as_str().unwrap();
    // Integration project section 13: no body, 200, `data.taskId`.
    let res = env
        .http
        .post(env.url(&format!(
            "output/image?projectId={id}&outputType=png&layoutToExport=0&pixelRatio=1"
        )))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let task: Value = res.json().await.unwrap();
    let task = task["data"]["taskId"].as_str().unwrap();
    let file = env
        .get(&writer, &format!("output/tasks/{task}/download"))
        .await;
    assert_eq!(file.headers()["content-type"], "image/png");
    let res = env
        .http
        .post(env.url(&format!("output/animation?projectId={id}&outputType=png")))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // The format and the source in a JSON body, or the document itself as the body.
    let started = |path: &str, body: Value| {
        let req = env
            .http
            .post(env.url(path))
            .bearer_auth(&writer)
            .json(&body);
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let file_type = |task: Value| {
        let task = task["data"]["taskId"].as_str().unwrap().to_owned();
        let (env, writer) = (&env, &writer);
        async move {
            let file = env
                .get(writer, &format!("output/tasks/{task}/download"))
                .await;
            file.headers()["content-type"].to_str().unwrap().to_owned()
        }
    };
    let (status, task) = started(
        "output/animation",
        json!({ "projectId": id, "outputType": "mp4" }),
    )
    .await;
    assert_eq!(status, 200, "{task}");
    assert_eq!(file_type(task).await, "video/mp4");
    let document = env
        .get(&writer, &format!("templates/{FLYER}/download"))
        .await;
    let document: Value = document.json().await.unwrap();
    let (status, task) = started("output/image?outputType=jpg", document).await;
    assert_eq!(status, 200, "{task}");
    assert_eq!(file_type(task).await, "image/jpeg");
    let (status, problem) = started(
        "output/image",
        json!({ "projectId": id, "outputType": "gif" }),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("png, jpg"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_finished_task_carries_no_invented_status() {
    let env = Env::new(Settings {
        output_render_ms: 0,
        ..Settings::default()
    })
    .await;
    let writer = env.token("demo-writer").await;
    let res = env
        .call(
            &writer,
            Method::POST,
            "output/pdf",
            Some(json!({ "templateId": FLYER })),
        )
        .await;
    let task: Value = res.json().await.unwrap();
    let task = task["data"]["taskId"].as_str().unwrap();
    let done: Value = env
        .get(&writer, &format!("output/tasks/{task}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        done["data"],
        json!({ "taskId": task }),
        "studio-ui's shape, nothing invented"
    );
    assert!(done["links"]["download"]
        .as_str()
        .unwrap()
        .ends_with("/download"));
    assert!(
        done.get("status").is_none(),
        "studio-ui reads a top-level status as an error"
    );
}

#[tokio::test]
async fn projects_delete_one_or_many() {
    let env = Env::new(fast()).await;
    let writer = env.token("demo-writer").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let p = env.create_project(&writer).await;
        ids.push(p["id"].as_str().unwrap().to_owned());
    }
    let res = env
        .call(
            &writer,
            Method::DELETE,
            &format!("projects/{}", ids[0]),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = env
        .call(
            &writer,
            Method::DELETE,
            "projects",
            Some(json!({ "ids": [ids[1], ids[2]] })),
        )
        .await;
    assert_eq!(res.status(), 204);
    for id in &ids {
        assert_eq!(
            env.get(&writer, &format!("projects/{id}")).await.status(),
            404
        );
    }
    let res = env
        .call(&writer, Method::DELETE, "projects", Some(json!(["nope"])))
        .await;
    assert_eq!(res.status(), 404);
}

/// The names of a list page's entries, and its `links.nextPage`.
async fn names_and_next(res: Response) -> (Vec<String>, Option<String>) {
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    let names = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    let next = page["links"]["nextPage"].as_str().map(str::to_owned);
    (names, next)
}

#[tokio::test]
async fn the_media_connectors_list_query_is_served_as_it_sends_it() {
    let env = Env::new(fast()).await;
    let reader = env.token("demo-reader").await;
    // grafx-media-example/connector.ts, with no search, page size or order set by its host: every
    // parameter sent, the empty ones empty.
    let (names, next) = names_and_next(
        env.get(
            &reader,
            "media?search=&limit=&sortBy=&sortOrder=&includeItemsFromSubfolders=false&includeFolders=true&folder=%2F",
        )
        .await,
    )
    .await;
    assert_eq!(names, ["logo.png", "photos", "texture.png"]);
    assert_eq!(next, None);
    // One folder's items and folders, two a page: links.nextPage keeps the folder.
    let mut path = "media?limit=2&folder=%2Fphotos&includeFolders=true&includeItemsFromSubfolders=false&sortBy=name&sortOrder=desc".to_owned();
    let mut all = Vec::new();
    loop {
        let (names, next) = names_and_next(env.get(&reader, &path).await).await;
        assert!(names.len() <= 2);
        all.extend(names);
        let Some(next) = next else { break };
        let base = env.url("");
        path = next
            .strip_prefix(&base)
            .expect("nextPage is a URL of the API")
            .to_owned();
        assert!(path.contains("folder=%2Fphotos"), "{path}");
    }
    assert_eq!(all, ["team.png", "storefront.png", "products", "beach.png"]);
    // With subfolders: the items below /photos too, and no folders.
    let (names, _) = names_and_next(
        env.get(
            &reader,
            "media?limit=10&folder=/photos/&includeItemsFromSubfolders=true",
        )
        .await,
    )
    .await;
    assert_eq!(
        names,
        [
            "beach.png",
            "product-shot.png",
            "storefront.png",
            "team.png"
        ]
    );
    // A folder that only shares a prefix is not the folder.
    let (names, _) = names_and_next(env.get(&reader, "media?folder=/photo").await).await;
    assert!(names.is_empty(), "{names:?}");
    // The old API description's search: by name, relativePath or id.
    let (names, _) =
        names_and_next(env.get(&reader, "media?search=%2Fphotos%2Fproducts").await).await;
    assert_eq!(names, ["product-shot.png"]);
    let (names, _) = names_and_next(
        env.get(&reader, "media?search=3e5b9f20-0000-4000-8000-000000000102")
            .await,
    )
    .await;
    assert_eq!(names, ["logo.png"]);
    // A value that is neither empty nor an order is refused, saying what is allowed.
    let res = env.get(&reader, "media?sortBy=size").await;
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("name, id, relativePath"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_folder_without_the_subfolder_flag_lists_either_way_chili_might() {
    for (deep, expected) in [
        (false, &["beach.png", "storefront.png", "team.png"][..]),
        (
            true,
            &[
                "beach.png",
                "product-shot.png",
                "storefront.png",
                "team.png",
            ][..],
        ),
    ] {
        let env = Env::new(Settings {
            subfolders_by_default: deep,
            ..fast()
        })
        .await;
        let reader = env.token("demo-reader").await;
        let (names, _) = names_and_next(env.get(&reader, "media?folder=%2Fphotos").await).await;
        assert_eq!(names, expected, "subfolders by default: {deep}");
        // Sent explicitly, the flag wins over the default.
        let (names, _) = names_and_next(
            env.get(
                &reader,
                &format!(
                    "media?folder=%2Fphotos&includeItemsFromSubfolders={}",
                    !deep
                ),
            )
            .await,
        )
        .await;
        assert_ne!(names, expected);
    }
}

#[tokio::test]
async fn layout_and_page_previews_need_a_recent_engine_and_take_either_form() {
    let env = Env::new(Settings {
        preview_render_ms: 0,
        ..Settings::default()
    })
    .await;
    let reader = env.token("demo-reader").await;
    let png = |res: Response| async move {
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/png");
    };
    // Release notes 2026-05-21: both forms take layoutId and pageId.
    png(env
        .get(
            &reader,
            &format!("templates/{FLYER}/preview/medium?layoutId=0&pageId=0"),
        )
        .await)
    .await;
    png(env
        .get(
            &reader,
            &format!("templates/{FLYER}/preview?previewType=medium&layoutId=0"),
        )
        .await)
    .await;
    png(env
        .get(&reader, &format!("templates/{FLYER}/preview"))
        .await)
    .await;
    // A template on an engine below 2.24.0: its default preview, but 400 for one layout or page.
    const OLD: &str = "7a1c0e4d-0000-4000-8000-000000000002";
    let document: Value = env
        .get(&reader, &format!("templates/{OLD}/download"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(document["engineVersion"], "1.20.0");
    png(env
        .get(&reader, &format!("templates/{OLD}/preview/thumbnail"))
        .await)
    .await;
    for query in ["layoutId=0", "pageId=0"] {
        for path in [
            format!("templates/{OLD}/preview/thumbnail?{query}"),
            format!("templates/{OLD}/preview?{query}"),
        ] {
            let res = env.get(&reader, &path).await;
            assert_eq!(res.status(), 400, "{path}");
            let problem: Value = res.json().await.unwrap();
            assert!(
                problem["detail"].as_str().unwrap().contains("2.24.0"),
                "{problem}"
            );
        }
    }
    let res = env
        .get(
            &reader,
            &format!("templates/{FLYER}/preview?previewType=huge"),
        )
        .await;
    assert_eq!(res.status(), 400);
}
