//! grafx-wasm in headless Chromium against the real signer and emulator that `cargo xtask test`
//! starts. The test bodies are JavaScript (`client_tests.js`) that use the package the way an app
//! does; each Rust test below runs one of them with a factory for `GraFxClient`.
#![cfg(target_arch = "wasm32")]

use grafx_wasm::JsGraFxClient;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/client_tests.js")]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn run_test(
        name: &str,
        env: JsValue,
        make: &Function,
        is_error: &Function,
    ) -> Result<JsValue, JsValue>;
}

fn env_url(value: Option<&'static str>, name: &str) -> JsValue {
    match value {
        Some(v) => JsValue::from_str(v),
        None => panic!("{name} is unset: run these tests with `cargo xtask test`"),
    }
}

async fn run(name: &str) {
    let env = js_sys::Object::new();
    let set =
        |k: &str, v: JsValue| js_sys::Reflect::set(&env, &JsValue::from_str(k), &v).map(|_| ());
    let signer = env_url(
        option_env!("GRAFX_TEST_SIGNER_URL"),
        "GRAFX_TEST_SIGNER_URL",
    );
    let emulator = env_url(
        option_env!("GRAFX_TEST_EMULATOR_URL"),
        "GRAFX_TEST_EMULATOR_URL",
    );
    set("signerUrl", signer)
        .and(set("emulatorUrl", emulator))
        .expect("env object");
    let make = Closure::<dyn Fn(JsValue) -> Result<JsValue, JsValue>>::new(|opts| {
        JsGraFxClient::new(opts).map(JsValue::from)
    })
    .into_js_value();
    let is_error =
        Closure::<dyn Fn(JsValue) -> bool>::new(|v: JsValue| grafx_wasm::is_grafx_error(&v))
            .into_js_value();
    if let Err(e) = run_test(
        name,
        env.into(),
        make.unchecked_ref(),
        is_error.unchecked_ref(),
    )
    .await
    {
        let msg = js_sys::Reflect::get(&e, &"stack".into())
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_else(|| format!("{e:?}"));
        panic!("{name} failed: {msg}");
    }
}

macro_rules! js_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[wasm_bindgen_test]
            async fn $name() {
                run(stringify!($name)).await;
            }
        )*
    };
}

js_tests!(
    invalid_options_name_the_option,
    caching_and_the_leeway,
    expiry_after_a_simulated_sleep,
    single_flight,
    cross_tab_two_instances_make_one_request,
    without_cross_tab_each_instance_asks,
    retry_once_after_a_401,
    fetch_on_the_wire,
    fetch_with_a_fresh_token_is_sent_at_once,
    unauthorized_after_the_retry,
    no_bearer_to_a_foreign_origin,
    abort_and_timeout,
    signer_down,
    forbidden_origin,
    over_scoped_integration,
    upstream_unavailable,
    fault_matrix_in_the_browser,
    caller_cookie_session,
    caller_bearer_session,
    tokens_are_shared_only_as_the_same_caller_and_sign_out_reaches_all,
    a_failed_refresher_fails_its_waiters_at_once,
    sign_out_holds_against_late_broadcasts_and_background_refresh,
    malformed_signer_reply,
    api_errors_carry_problem_details,
    pagination_and_async_iteration,
    previews_follow_the_task_flow_on_the_wire,
    projects_on_the_wire,
    media_folders_items_and_downloads,
    templates_dates_folders_and_layout_previews,
    output_render_with_progress,
    via_the_signer_proxy,
    output_mistakes_and_expired_downloads,
    failed_output_is_an_api_error,
    null_options_are_the_defaults_and_other_values_are_refused,
    waits_run_on_the_clients_clock,
    studio_adapters,
    a_frozen_peer_does_not_hang_this_tab,
    dispose_stops_work_already_in_flight,
    a_reused_signal_gathers_no_listeners,
    timeout_covers_reading_the_body,
    parallel_and_later_401s_make_one_signer_call,
    timers_are_released_on_every_path,
    subscriptions,
    auto_refresh_on_wake,
    auto_refresh_rearms_and_backs_off,
);

// The Rust API (`grafx_wasm::GraFxClient`), as a Leptos or Yew app calls it: typed results, typed
// errors, and what goes on the wire.
mod rust_api {
    use grafx_core::ErrorCode;
    use grafx_wasm::{
        ClientOptions, GraFxClient, ListOptions, OutputFormat, RenderRequest, WaitOptions,
    };
    use serde::Deserialize;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_test::*;

    const FLYER: &str = "7a1c0e4d-0000-4000-8000-000000000001";

    #[wasm_bindgen::prelude::wasm_bindgen(inline_js = "
        let release;
        export function hold_lock(name) {
            return new Promise((taken) => navigator.locks.request(name, () => {
                taken();
                return new Promise((r) => { release = r; });
            }));
        }
        export function release_lock() { if (release) release(); }
    ")]
    extern "C" {
        /// Takes the Web Lock `name` as another context would; resolves once held.
        fn hold_lock(name: &str) -> js_sys::Promise;
        /// Releases it.
        fn release_lock();
    }

    fn signer() -> String {
        super::env_url(
            option_env!("GRAFX_TEST_SIGNER_URL"),
            "GRAFX_TEST_SIGNER_URL",
        )
        .as_string()
        .unwrap_or_default()
    }

    fn emulator() -> String {
        super::env_url(
            option_env!("GRAFX_TEST_EMULATOR_URL"),
            "GRAFX_TEST_EMULATOR_URL",
        )
        .as_string()
        .unwrap_or_default()
    }

    /// One request in the emulator's journal.
    #[derive(Deserialize)]
    struct Sent {
        method: String,
        path: String,
        #[serde(default)]
        query: Option<String>,
        #[serde(default)]
        bearer: bool,
        #[serde(default, with = "serde_wasm_bindgen::preserve")]
        body: JsValue,
    }

    async fn journal() -> Vec<Sent> {
        let text = gloo_net::http::Request::get(&format!("{}/_emulator/requests", emulator()))
            .send()
            .await
            .expect("journal")
            .text()
            .await
            .expect("journal body");
        serde_wasm_bindgen::from_value(js_sys::JSON::parse(&text).expect("journal JSON"))
            .expect("journal entries")
    }

    async fn clear_journal() {
        gloo_net::http::Request::delete(&format!("{}/_emulator/requests", emulator()))
            .send()
            .await
            .expect("clear journal");
    }

    fn field(v: &JsValue, path: &[&str]) -> JsValue {
        path.iter().fold(v.clone(), |v, k| {
            js_sys::Reflect::get(&v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
        })
    }

    fn client(integration: &str) -> GraFxClient {
        GraFxClient::new(ClientOptions {
            integration: Some(integration.into()),
            cross_tab: Some(false),
            ..ClientOptions::new(signer())
        })
        .expect("valid options")
    }

    #[wasm_bindgen_test]
    async fn rust_api_typed_helpers_on_the_wire() {
        let grafx = client("rw");
        assert!(grafx
            .access_token()
            .await
            .expect("token")
            .starts_with("eyJ"));
        let token = grafx.token().expect("cached token");
        assert_eq!(token.environment(), "demo");
        assert!(token
            .environment_api_url()
            .as_str()
            .ends_with("/environment/demo/"));

        let page = grafx
            .templates()
            .list(&ListOptions {
                limit: Some(2),
                ..ListOptions::default()
            })
            .await
            .expect("templates.list");
        assert_eq!(page.items.len(), 2);
        assert!(page.next_page_token.is_some(), "9 templates, 2 a page");
        let next = grafx
            .templates()
            .list(&ListOptions {
                limit: Some(2),
                page_token: page.next_page_token.clone(),
                ..ListOptions::default()
            })
            .await
            .expect("the next page");
        assert_ne!(next.items[0].id, page.items[0].id);
        let flyer = grafx.templates().get(FLYER).await.expect("templates.get");
        assert_eq!(flyer.name, "Summer Sale Flyer");

        clear_journal().await;
        let project = grafx
            .projects()
            .create(FLYER, Some("From Rust"))
            .await
            .expect("projects.create");
        assert_eq!(project.name, "From Rust");
        assert_eq!(
            project.template.as_ref().map(|t| t.id.as_str()),
            Some(FLYER)
        );
        let sent = journal().await;
        let post = sent
            .iter()
            .find(|r| r.method == "POST" && r.path == "projects")
            .expect("POST projects on the wire");
        assert_eq!(
            field(&post.body, &["template", "id"])
                .as_string()
                .as_deref(),
            Some(FLYER)
        );
        assert_eq!(
            field(&post.body, &["name"]).as_string().as_deref(),
            Some("From Rust")
        );

        let settings = grafx.output().settings().await.expect("output.settings");
        assert!(settings
            .iter()
            .any(|s| s.kind.eq_ignore_ascii_case("pdf") && s.default));
        clear_journal().await;
        let pdf = grafx
            .output()
            .render(
                OutputFormat::Pdf,
                &RenderRequest::project(project.id.clone()),
                &WaitOptions {
                    interval_ms: Some(100),
                    ..WaitOptions::default()
                },
            )
            .await
            .expect("output.render");
        assert!(pdf.blob.size() > 100.0, "a real PDF");
        assert!(pdf.download_url.contains(&pdf.task_id));
        let sent = journal().await;
        let post = sent
            .iter()
            .find(|r| r.method == "POST" && r.path == "output/pdf")
            .expect("POST output/pdf on the wire");
        assert_eq!(
            field(&post.body, &["projectId"]).as_string(),
            Some(project.id.clone())
        );
        assert!(
            field(&post.body, &["outputSettingsId"]).is_string(),
            "the default setting"
        );
        grafx
            .projects()
            .delete(&project.id)
            .await
            .expect("projects.delete");
        grafx.dispose();
    }

    /// The helpers added for CHILI's second contract pass: extra list parameters, the caller's
    /// projects and their rename, a layout's preview, a media original, and studio-ui's render
    /// body (`documentContent`, `engineVersion`, `dataConnectorConfig`, `variables`).
    #[wasm_bindgen_test]
    async fn rust_api_lists_renames_originals_and_render_bodies_on_the_wire() {
        let grafx = client("rw");
        clear_journal().await;
        let social = grafx
            .templates()
            .list(&ListOptions::default().param("folder", "/social"))
            .await
            .expect("templates in a folder");
        assert_eq!(social.items.len(), 2);
        assert!(
            social.items[0].date_created().is_some(),
            "the template's date"
        );
        let sent = journal().await;
        assert_eq!(sent[0].query.as_deref(), Some("folder=%2Fsocial"));

        let project = grafx
            .projects()
            .create(FLYER, Some("To rename"))
            .await
            .expect("projects.create");
        let mine = grafx
            .projects()
            .list(&ListOptions {
                limit: Some(100),
                ..ListOptions::default()
            })
            .await
            .expect("projects.list");
        assert!(mine.items.iter().any(|p| p.id == project.id));
        clear_journal().await;
        let renamed = grafx
            .projects()
            .rename(&project.id, "Renamed from Rust")
            .await
            .expect("projects.rename");
        assert_eq!(renamed.name, "Renamed from Rust");
        let sent = journal().await;
        let patch = sent
            .iter()
            .find(|r| r.method == "PATCH")
            .expect("PATCH on the wire");
        assert_eq!(patch.path, format!("projects/{}", project.id));
        assert_eq!(
            field(&patch.body, &["name"]).as_string().as_deref(),
            Some("Renamed from Rust")
        );

        clear_journal().await;
        let layout = grafx
            .templates()
            .preview_of(FLYER, "thumbnail", Some("0"), Some("0"))
            .await
            .expect("a layout's preview");
        assert_eq!(layout.type_(), "image/png");
        let sent = journal().await;
        assert_eq!(sent[0].query.as_deref(), Some("layoutId=0&pageId=0"));

        clear_journal().await;
        let media = grafx
            .media()
            .list(&ListOptions::default().param("folder", "/photos/products"))
            .await
            .expect("media in a folder");
        assert_eq!(media.items.len(), 1);
        let item = &media.items[0];
        assert_eq!(item.relative_path.as_deref(), Some("/photos/products"));
        assert!(!item.is_folder());
        let original = grafx
            .media()
            .download(&item.id)
            .await
            .expect("media.download");
        assert_eq!(original.type_(), "image/png");
        let sent = journal().await;
        let listed = sent
            .iter()
            .find(|r| r.method == "GET" && r.path == "media")
            .expect("GET media on the wire");
        let mut query: Vec<&str> = listed.query.as_deref().unwrap_or("").split('&').collect();
        query.sort_unstable();
        assert_eq!(
            query,
            [
                "folder=%2Fphotos%2Fproducts",
                "includeFolders=false",
                "includeItemsFromSubfolders=false"
            ],
            "a folder goes out with both of its flags"
        );
        assert!(
            sent.iter().any(|r| r.method == "GET"
                && r.path == format!("media/{}/download", item.id)
                && r.bearer),
            "GET media/{{id}}/download with the bearer"
        );

        let document = grafx
            .json::<serde_json::Value>(&format!("templates/{FLYER}/download"), None)
            .await
            .expect("the document");
        // studio-ui's shape (OutputGenerationTypes.ts): {dataConnectorId, dataConnectorParameters:
        // {context}}, passed on as it is.
        let connector = js_sys::JSON::parse(
            r#"{"dataConnectorId":"dc-1","dataConnectorParameters":{"context":{"sheet":"A","header":true}}}"#,
        )
        .expect("JSON");
        let mut row = std::collections::BTreeMap::new();
        row.insert("Headline".to_owned(), Some("Red".to_owned()));
        row.insert("Hero image".to_owned(), None);
        let request = RenderRequest {
            project_id: Some(project.id.clone()),
            engine_version: Some("1.20.0".into()),
            document_content: Some(JsValue::from_str(&document.to_string())),
            data_connector_config: Some(connector),
            variables: vec![row],
            ..RenderRequest::default()
        };
        clear_journal().await;
        grafx
            .output()
            .render(
                OutputFormat::Pdf,
                &request,
                &WaitOptions {
                    interval_ms: Some(100),
                    ..WaitOptions::default()
                },
            )
            .await
            .expect("a batch render of the editor's document");
        let sent = journal().await;
        let post = sent
            .iter()
            .find(|r| r.method == "POST" && r.path == "output/pdf")
            .expect("POST output/pdf on the wire");
        assert_eq!(
            field(&post.body, &["engineVersion"]).as_string().as_deref(),
            Some("1.20.0")
        );
        assert_eq!(
            field(&post.body, &["documentContent", "properties", "name"])
                .as_string()
                .as_deref(),
            Some("Summer Sale Flyer"),
            "the document as an object, not its JSON text"
        );
        assert_eq!(
            field(&post.body, &["dataConnectorConfig", "dataConnectorId"])
                .as_string()
                .as_deref(),
            Some("dc-1")
        );
        assert_eq!(
            field(
                &post.body,
                &[
                    "dataConnectorConfig",
                    "dataConnectorParameters",
                    "context",
                    "header"
                ]
            )
            .as_bool(),
            Some(true)
        );
        let rows = field(&post.body, &["variables"]);
        assert_eq!(js_sys::Array::from(&rows).length(), 1);
        assert_eq!(
            field(&rows, &["0", "Headline"]).as_string().as_deref(),
            Some("Red")
        );
        assert!(
            field(&rows, &["0", "Hero image"]).is_null(),
            "null, as CHILI takes"
        );
        grafx
            .projects()
            .delete(&project.id)
            .await
            .expect("projects.delete");
        grafx.dispose();
    }

    /// Lock callbacks that never run (the lock was busy, or a peer answered first) must not keep
    /// a client alive: 1000 cold clients served by a warm peer, then dropped, leave none behind.
    #[wasm_bindgen_test]
    async fn a_thousand_clients_served_by_a_peer_are_all_freed() {
        let cross = || {
            GraFxClient::new(ClientOptions {
                integration: Some("lifetime".into()),
                ..ClientOptions::new(signer())
            })
            .expect("valid options")
        };
        let warm = cross();
        let token = warm.access_token().await.expect("the warm peer's token");
        let before = grafx_wasm::live_clients();
        for _ in 0..1000 {
            let cold = cross();
            assert_eq!(cold.access_token().await.expect("a token"), token);
            drop(cold);
        }
        assert_eq!(warm.stats().signer_requests, 1, "the peer served them all");
        assert_eq!(grafx_wasm::live_clients(), before, "clients left alive");
        drop(warm);
        assert_eq!(grafx_wasm::live_clients(), before - 1);

        // No peer, and another context holds the refresh lock: each client's lock callbacks are
        // never run (busy, then the wait times out) and each fetches for itself.
        let key = format!("grafx-wasm/v2 {} lifetime same-origin anonymous", signer());
        wasm_bindgen_futures::JsFuture::from(hold_lock(&key))
            .await
            .expect("the lock");
        let before = grafx_wasm::live_clients();
        // At once, as tabs restored together would: none has a token yet, so none waits for a
        // peer; each tries the lock, waits for it, times out and fetches.
        let started = js_sys::Date::now();
        let asking: js_sys::Array = (0..50)
            .map(|_| {
                let cold = GraFxClient::new(ClientOptions {
                    integration: Some("lifetime".into()),
                    timeout_ms: Some(3000.0),
                    ..ClientOptions::new(signer())
                })
                .expect("valid options");
                wasm_bindgen_futures::future_to_promise(async move {
                    let token = cold
                        .access_token()
                        .await
                        .map_err(|e| JsValue::from_str(e.message()))?;
                    Ok(JsValue::from(token))
                })
            })
            .collect();
        let tokens = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::all(&asking))
            .await
            .expect("tokens despite the held lock");
        release_lock();
        assert!(
            js_sys::Date::now() - started >= 2500.0,
            "the clients waited behind the held lock (is its name still the client's?)"
        );
        assert_eq!(js_sys::Array::from(&tokens).length(), 50);
        assert_eq!(
            grafx_wasm::live_clients(),
            before,
            "clients left alive behind a busy lock"
        );
    }

    #[wasm_bindgen_test]
    async fn rust_api_via_the_signer_proxy() {
        let grafx = client("default");
        let writer = grafx.via("proxied").expect("a valid name");
        clear_journal().await;
        let project = writer
            .projects()
            .create(FLYER, Some("Rust via the proxy"))
            .await
            .expect("projects.create through the proxy");
        assert_eq!(project.name, "Rust via the proxy");
        let sent = journal().await;
        let post = sent
            .iter()
            .find(|s| s.method == "POST" && s.path == "projects")
            .expect("the create on the wire");
        assert_eq!(
            field(&post.body, &["template", "id"])
                .as_string()
                .as_deref(),
            Some(FLYER)
        );
        assert_eq!(
            field(&post.body, &["name"]).as_string().as_deref(),
            Some("Rust via the proxy")
        );
        assert_eq!(
            js_sys::Object::keys(post.body.unchecked_ref::<js_sys::Object>()).length(),
            2,
            "CHILI's body, nothing else"
        );
        let outside = writer
            .templates()
            .list(&ListOptions::default())
            .await
            .expect_err("not in the allow-list");
        assert_eq!(outside.code(), &ErrorCode::SignerRejected);
        assert_eq!(outside.signer_error_code(), Some("proxy_path_not_allowed"));
        assert_eq!(outside.http_status(), Some(403));
        assert_eq!(
            grafx.via("a/b").err().map(|e| e.code().clone()),
            Some(ErrorCode::InvalidOptions)
        );
        grafx.dispose();
    }

    #[wasm_bindgen_test]
    async fn rust_api_errors_are_typed() {
        let bad = GraFxClient::new(ClientOptions::new("ftp://signer.example")).err();
        assert_eq!(
            bad.map(|e| e.code().clone()),
            Some(ErrorCode::InvalidOptions)
        );

        let grafx = client("default");
        #[derive(Deserialize, Debug)]
        struct Anything {}
        let missing = grafx
            .json::<Anything>("templates/no-such-template", None)
            .await
            .expect_err("a 404");
        assert_eq!(missing.code(), &ErrorCode::ApiError);
        assert_eq!(missing.http_status(), Some(404));
        assert!(missing.message().contains("404"), "{}", missing.message());
        let foreign = grafx
            .fetch("https://evil.example/steal", None)
            .await
            .expect_err("no bearer to a foreign origin");
        assert_eq!(foreign.code(), &ErrorCode::InvalidOptions);

        let writer = client("writer")
            .access_token()
            .await
            .expect_err("a write token is not for browsers");
        assert_eq!(writer.code(), &ErrorCode::SignerRejected);
        assert_eq!(writer.signer_error_code(), Some("scope_not_allowed"));

        grafx.dispose();
        let after = grafx.access_token().await.expect_err("disposed");
        assert_eq!(after.code(), &ErrorCode::InvalidOptions);
    }
}
