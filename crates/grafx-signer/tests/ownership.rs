//! Each app user's projects and outputs are theirs, through the API proxy of one CHILI identity:
//! the emulator owns like CHILI (by client), the signer binds what each user creates to them, in
//! SQLite (one replica) or Redis (several), and fails closed when it cannot tell.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::proxy::*;
use common::redis::Redis;
use common::*;
use grafx_emulator::{RunningEmulator, Settings};
use grafx_signer::ProxyAllowList;
use grafx_signer::{
    AppState, CallerConfig, CallerMethod, ChiliAuthClient, SessionKey, SignerConfig, StoreKey,
    SystemClock,
};
use serde_json::{json, Value};

fn data_dir() -> PathBuf {
    std::env::temp_dir().join(format!("grafx-owners-{}", rand::random::<u64>()))
}

/// The writer behind a proxy that keeps each signed-in user's projects apart, with its records in
/// `dir`.
fn isolated(dir: PathBuf) -> impl FnOnce(&mut SignerConfig) {
    move |c: &mut SignerConfig| {
        with_writer(|p| {
            // Every path that reads or writes an owned project or output, previews included.
            p.allow = ProxyAllowList::parse(
                grafx_testkit::PROXY_ALLOW
                    .into_iter()
                    .chain(grafx_testkit::PROXY_ALLOW_PREVIEWS),
            )
            .unwrap();
            p.require_caller = true;
            p.shared_identity = false;
        })(c);
        let caller = CallerConfig::new(CallerMethod::JwtSecret(SessionKey::new(HS_SECRET.into())))
            .with_audience("grafx-signer");
        c.integrations.get_mut("writer").unwrap().caller = Some(caller);
        c.data_dir = Some(dir);
    }
}

fn settings() -> Settings {
    Settings {
        output_render_ms: 20,
        preview_render_ms: 60_000,
        ..fast_settings()
    }
}

/// A request through `signer`'s proxy as `user`.
fn as_user(
    signer: &str,
    user: &str,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    http()
        .request(method, format!("{signer}/api/writer/{path}"))
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .bearer_auth(session(user))
}

/// `GET {path}` through `signer`'s proxy as `user`.
async fn get(signer: &str, user: &str, path: &str) -> reqwest::Response {
    as_user(signer, user, reqwest::Method::GET, path)
        .send()
        .await
        .unwrap()
}

/// The 404 problem+json CHILI gives for what a user cannot see.
async fn not_found(res: reqwest::Response) {
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert!(
        body["detail"].as_str().unwrap().contains("was not found"),
        "{body}"
    );
}

async fn create_project(signer: &str, user: &str) -> String {
    let res = as_user(signer, user, reqwest::Method::POST, "projects")
        .json(&json!({ "template": { "id": TEMPLATE }, "name": format!("{user}'s") }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let project: Value = res.json().await.unwrap();
    project["id"].as_str().unwrap().to_owned()
}

async fn render(signer: &str, user: &str, project: &str) -> String {
    let res = as_user(signer, user, reqwest::Method::POST, "output/pdf")
        .json(&json!({ "projectId": project }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let task: Value = res.json().await.unwrap();
    task["data"]["taskId"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_users_projects_and_outputs_are_theirs() {
    let dir = data_dir();
    let h = harness(settings(), false, isolated(dir.clone())).await;
    let s = h.url.clone();
    // Alice creates, saves, previews and renders her project.
    let p = create_project(&s, "alice").await;
    let doc = json!({ "alice": "was here" });
    let saved = as_user(
        &s,
        "alice",
        reqwest::Method::PUT,
        &format!("projects/{p}/document"),
    )
    .json(&doc)
    .send()
    .await
    .unwrap();
    assert_eq!(saved.status(), 204);
    let read: Value = get(&s, "alice", &format!("projects/{p}/document"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, doc);
    let preview = get(&s, "alice", &format!("projects/{p}/preview/thumbnail")).await;
    assert_eq!(preview.status(), 202);
    let preview: Value = preview.json().await.unwrap();
    let preview_task = preview["data"]["taskId"].as_str().unwrap().to_owned();
    let task = render(&s, "alice", &p).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let done = get(&s, "alice", &format!("output/tasks/{task}/download")).await;
    assert_eq!(done.status(), 200);
    assert!(done.bytes().await.unwrap().starts_with(b"%PDF"));

    // Bob, through the same CHILI identity, reaches none of it; CHILI hears nothing of it.
    let before = h.api_requests();
    for (method, path) in [
        (reqwest::Method::GET, format!("projects/{p}")),
        (reqwest::Method::GET, format!("projects/{p}/document")),
        (
            reqwest::Method::GET,
            format!("projects/{p}/preview/thumbnail"),
        ),
        (
            reqwest::Method::GET,
            format!("projects/preview/tasks/{preview_task}"),
        ),
        (reqwest::Method::GET, format!("output/tasks/{task}")),
        (
            reqwest::Method::GET,
            format!("output/tasks/{task}/download"),
        ),
    ] {
        not_found(as_user(&s, "bob", method, &path).send().await.unwrap()).await;
    }
    let overwrite = as_user(
        &s,
        "bob",
        reqwest::Method::PUT,
        &format!("projects/{p}/document"),
    )
    .json(&json!({ "bob": "took over" }))
    .send()
    .await
    .unwrap();
    not_found(overwrite).await;
    let steal = as_user(&s, "bob", reqwest::Method::POST, "output/pdf")
        .json(&json!({ "projectId": p }))
        .send()
        .await
        .unwrap();
    not_found(steal).await;
    assert_eq!(h.api_requests(), before, "nothing of Bob's reached CHILI");
    // Alice's document is unchanged.
    let read: Value = get(&s, "alice", &format!("projects/{p}/document"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, doc);

    // Each lists their own.
    let bobs = create_project(&s, "bob").await;
    let list = |user: &'static str| {
        let s = s.clone();
        async move {
            let page: Value = get(&s, user, "projects?limit=100")
                .await
                .json()
                .await
                .unwrap();
            assert!(
                page.get("total").is_none(),
                "CHILI's total counts everyone's: {page}"
            );
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("alice").await, vec![p.clone()]);
    assert_eq!(list("bob").await, vec![bobs]);

    // The page's read-only integration is another CHILI user: it cannot open the writer's project.
    let reader = h.state.cache("default").unwrap().get().await.unwrap().0;
    let api = h.emulator.emulator().environment_api_url();
    let direct = http()
        .get(format!("{api}projects/{p}"))
        .bearer_auth(reader.access_token.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 404);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `POST {path}` through `signer`'s proxy as `user`, with this raw body.
async fn post_raw(signer: &str, user: &str, path: &str, body: Vec<u8>) -> reqwest::Response {
    as_user(signer, user, reqwest::Method::POST, path)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_of_a_render_or_a_list_gets_past_the_owner_check() {
    let dir = data_dir();
    let h = harness(settings(), false, isolated(dir.clone())).await;
    let s = h.url.clone();
    let alices = create_project(&s, "alice").await;
    let bobs = create_project(&s, "bob").await;

    // Bob names Alice's project in a render every way a lenient binder could read it.
    let before = h.api_requests();
    let bom = [
        &b"\xEF\xBB\xBF"[..],
        format!(r#"{{"projectId":"{alices}"}}"#).as_bytes(),
    ]
    .concat();
    for (path, body) in [
        (format!("output/image?projectId={alices}"), b"{}".to_vec()),
        (format!("output/image?ProjectID={alices}"), Vec::new()),
        (
            "output/pdf".to_owned(),
            format!(r#"{{"ProjectId":"{alices}"}}"#).into_bytes(),
        ),
        (
            "output/pdf".to_owned(),
            format!(r#"{{"projectid":"{alices}"}}"#).into_bytes(),
        ),
        (
            "output/pdf".to_owned(),
            format!(r#"{{"projectId":"{bobs}","projectId":"{alices}"}}"#).into_bytes(),
        ),
        (
            format!("output/pdf?projectId={alices}"),
            format!(r#"{{"projectId":"{bobs}"}}"#).into_bytes(),
        ),
        ("output/pdf".to_owned(), bom),
    ] {
        let res = post_raw(&s, "bob", &path, body.clone()).await;
        assert_eq!(
            res.status(),
            404,
            "{path} {}",
            String::from_utf8_lossy(&body)
        );
        not_found(res).await;
    }
    for body in [format!(r#"["{alices}"]"#), "projectId=1".to_owned()] {
        error(
            post_raw(&s, "bob", "output/pdf", body.into_bytes()).await,
            400,
            "invalid_request",
        )
        .await;
    }
    assert_eq!(h.api_requests(), before, "nothing of Bob's reached CHILI");
    // His own project renders.
    let own = post_raw(
        &s,
        "bob",
        "output/pdf",
        format!(r#"{{"projectId":"{bobs}"}}"#).into_bytes(),
    )
    .await;
    assert_eq!(own.status(), 200);

    // A list's search is matched by the proxy, on the user's own projects; CHILI never sees it,
    // and is asked for JSON whatever the page accepts.
    let report = as_user(&s, "alice", reqwest::Method::POST, "projects")
        .json(&json!({ "template": { "id": TEMPLATE }, "name": "Quarterly Report" }))
        .send()
        .await
        .unwrap();
    let report: Value = report.json().await.unwrap();
    let ids = |page: Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let found = as_user(
        &s,
        "alice",
        reqwest::Method::GET,
        "projects?search=quarterly&pageSize=50",
    )
    .header("accept", "text/html")
    .send()
    .await
    .unwrap();
    assert_eq!(found.status(), 200);
    assert_eq!(
        ids(found.json().await.unwrap()),
        [report["id"].as_str().unwrap()]
    );
    let asked = h.emulator.emulator().requests();
    let asked = asked
        .iter()
        .rev()
        .find(|r| r.path == "projects" && r.method == "GET")
        .unwrap();
    assert_eq!(asked.query.as_deref(), Some("pageSize=50"));
    assert_eq!(asked.accept.as_deref(), Some("application/json"));
    let none: Value = get(&s, "alice", "projects?search=bob")
        .await
        .json()
        .await
        .unwrap();
    assert!(ids(none).is_empty(), "Bob's project is not Alice's to find");

    // A list CHILI sends in a shape the proxy cannot filter is not passed on.
    for (ctype, body) in [
        ("text/plain", format!(r#"{{"data":[{{"id":"{bobs}"}}]}}"#)),
        (
            "application/json",
            format!(r#"{{"items":[{{"id":"{bobs}"}}]}}"#),
        ),
        (
            "application/json",
            format!(r#"{{"data":[{{"id":"{bobs}"}}"#),
        ),
        (
            "application/json",
            format!(
                r#"{{"data":[{{"id":"{bobs}"}}],"pad":"{}"}}"#,
                "x".repeat(2_200_000)
            ),
        ),
    ] {
        arm_reply(&h, 200, &[("content-type", ctype)], body.clone(), false);
        let res = get(&s, "alice", "projects").await;
        let (_, why) = error(res, 502, "proxy_upstream_failed").await;
        assert!(why.contains("could not be filtered"), "{why}");
    }
    // CHILI answering Bob's create with Alice's project id does not hand it to him.
    arm_reply(
        &h,
        201,
        &[("content-type", "application/json")],
        format!(r#"{{"id":"{alices}","name":"x"}}"#),
        false,
    );
    let res = as_user(&s, "bob", reqwest::Method::POST, "projects")
        .json(&json!({ "template": { "id": TEMPLATE } }))
        .send()
        .await
        .unwrap();
    let (_, why) = error(res, 502, "proxy_upstream_failed").await;
    assert!(why.contains("another user"), "{why}");
    not_found(get(&s, "bob", &format!("projects/{alices}")).await).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_template_preview_task_reaches_each_user_it_was_given_to() {
    let dir = data_dir();
    let h = harness(settings(), false, isolated(dir.clone())).await;
    let s = h.url.clone();
    let ask = |user: &'static str, path: String| {
        let s = s.clone();
        async move {
            let res = get(&s, user, &path).await;
            assert_eq!(res.status(), 202, "{path}");
            let body: Value = res.json().await.unwrap();
            body["data"]["taskId"].as_str().unwrap().to_owned()
        }
    };
    // CHILI may hand everyone who asks for a template's preview the same task: each may poll it.
    let alices = ask("alice", format!("templates/{TEMPLATE}/preview/medium")).await;
    let bobs = ask("bob", format!("templates/{TEMPLATE}/preview/medium")).await;
    assert_eq!(alices, bobs, "the emulator shares the task, as CHILI may");
    for user in ["alice", "bob"] {
        let polled = get(&s, user, &format!("templates/preview/tasks/{alices}")).await;
        assert_eq!(
            polled.status(),
            202,
            "{user} polls the task they were given"
        );
    }
    // Someone who never asked is not given it.
    not_found(get(&s, "carol", &format!("templates/preview/tasks/{alices}")).await).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Another signer (a restart, or a replica) with `state`'s configuration on the same emulator.
async fn another_signer(
    config: SignerConfig,
    tweak: impl FnOnce(&AppState),
) -> (AppState, String, tokio::task::JoinHandle<()>) {
    let state = AppState::with_parts(
        config.clone(),
        Arc::new(ChiliAuthClient::new(config.upstream_timeout).unwrap()),
        Arc::new(grafx_signer::MemoryStore::default()),
        Arc::new(SystemClock),
    );
    tweak(&state);
    serve_state(state, config).await
}

async fn serve_state(
    state: AppState,
    config: SignerConfig,
) -> (AppState, String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let service = grafx_signer::SignerService::new(state.clone());
    let server = tokio::spawn(async move {
        let _ = grafx_signer::serve(
            listener,
            service,
            config.serve_options(),
            std::future::pending(),
        )
        .await;
    });
    (state, url, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_survive_a_restart_and_a_busy_database_fails_closed() {
    let dir = data_dir();
    let h = harness(settings(), false, isolated(dir.clone())).await;
    let p = create_project(&h.url, "alice").await;
    // The signer restarts: a new process state reading the same data directory.
    let config = h.state.config().as_ref().clone();
    h.state.stop_refreshers();
    let (restarted, url, server) = another_signer(config, |_| {}).await;
    let got = get(&url, "alice", &format!("projects/{p}")).await;
    assert_eq!(got.status(), 200, "Alice still reaches her project");
    not_found(get(&url, "bob", &format!("projects/{p}")).await).await;

    // Another process holds the database's write lock: owner-scoped requests fail closed.
    let db = rusqlite::Connection::open(dir.join("ownership.sqlite3")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let before = h.api_requests();
    let res = as_user(&url, "alice", reqwest::Method::POST, "projects")
        .json(&json!({ "template": { "id": TEMPLATE } }))
        .send()
        .await
        .unwrap();
    let (headers, _) = error(res, 503, "ownership_unavailable").await;
    assert!(headers.contains_key("retry-after"));
    assert_eq!(
        h.api_requests(),
        before,
        "nothing was created that could not be recorded"
    );
    // Records can still be read (SQLite's write-ahead log lets readers past a writer).
    let got = get(&url, "alice", &format!("projects/{p}")).await;
    assert_eq!(got.status(), 200);
    // Paths that name nothing owned still work.
    let settings = get(&url, "bob", "output/settings").await;
    assert_eq!(settings.status(), 200);
    db.execute_batch("COMMIT").unwrap();
    let got = get(&url, "alice", &format!("projects/{p}")).await;
    assert_eq!(got.status(), 200, "recovered, nothing lost");
    restarted.stop_refreshers();
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A replica on the shared Redis: tokens and ownership records both there.
/// A replica as the binary builds it (`AppState::new`): Redis configured, and a data directory
/// too, which a replica on Redis must not use for owners.
async fn replica(
    em: &RunningEmulator,
    redis: &Redis,
) -> (AppState, String, tokio::task::JoinHandle<()>) {
    let mut config = SignerConfig::single(integration(em, "default", "demo-reader"));
    let dir = data_dir();
    isolated(dir.clone())(&mut config);
    config.redis = Some(grafx_signer::RedisSettings {
        url: grafx_signer::RedisUrl::new(redis.url()),
        key: StoreKey::from_text(KEY).unwrap(),
        ca_pem: None,
    });
    let state = AppState::new(config.clone()).unwrap();
    assert!(
        !dir.exists(),
        "owners are in Redis: nothing is written to the data directory"
    );
    serve_state(state, config).await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_redis_agree_on_owners_and_fail_closed_while_it_is_down() {
    let em = emulator(settings()).await;
    let redis_dir = data_dir();
    std::fs::create_dir_all(&redis_dir).unwrap();
    let port = free_port();
    let mut redis = Redis::start_persistent(port, &redis_dir);
    let (_a, one, _s1) = replica(&em, &redis).await;
    let (_b, two, _s2) = replica(&em, &redis).await;
    let p = create_project(&one, "alice").await;
    let task = render(&two, "alice", &p).await;
    // Either replica knows whose they are.
    for signer in [&one, &two] {
        let got = get(signer, "alice", &format!("projects/{p}")).await;
        assert_eq!(got.status(), 200);
        not_found(get(signer, "bob", &format!("projects/{p}")).await).await;
        not_found(get(signer, "bob", &format!("output/tasks/{task}")).await).await;
    }
    // Redis goes down: no one is let through on a guess.
    redis.kill();
    let res = get(&two, "alice", &format!("projects/{p}")).await;
    let (headers, _) = error(res, 503, "ownership_unavailable").await;
    assert!(headers.contains_key("retry-after"));
    // It comes back with what it had written to disk.
    let _redis = Redis::start_persistent(port, &redis_dir);
    let mut status = 0;
    for _ in 0..50 {
        status = get(&one, "alice", &format!("projects/{p}"))
            .await
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, 200, "the record survived Redis's restart");
    not_found(get(&one, "bob", &format!("projects/{p}")).await).await;
    let _ = std::fs::remove_dir_all(&redis_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_sub_through_another_integration_is_another_owner() {
    let dir = data_dir();
    // `writer2`: the same CHILI identity, its own caller check (here the same secret: the
    // point is that two checks may name two people with one `sub`).
    let h = harness(settings(), false, |c: &mut SignerConfig| {
        isolated(dir.clone())(c);
        let mut second = c.integrations["writer"].clone();
        second.name = "writer2".into();
        c.integrations.insert("writer2".into(), second);
    })
    .await;
    let p = create_project(&h.url, "alice").await;
    assert_eq!(
        get(&h.url, "alice", &format!("projects/{p}"))
            .await
            .status(),
        200
    );
    let before = h.api_requests();
    let other = http()
        .get(format!("{}/api/writer2/projects/{p}", h.url))
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .bearer_auth(session("alice"))
        .send()
        .await
        .unwrap();
    not_found(other).await;
    assert_eq!(h.api_requests(), before, "refused before CHILI");
    let _ = std::fs::remove_dir_all(&dir);
}
