//! What browser suites talk to: the emulator and a real grafx-signer, started in-process on free
//! loopback ports before the suites and stopped after them whatever the outcome (also on panic,
//! through `Drop`).
//!
//! The test page's origin is pinned (`WASM_BINDGEN_TEST_ADDRESS`) so the signer can allow exactly
//! that origin. The signer is the service the binary serves (`SignerService::new`: the router
//! behind the token fast path), with the test app's routes beside it (`/_test/login`, malformed
//! token endpoints such as `/_test/malformed/token`) and an observer around all of it that counts
//! signer requests per path (`GET /_test/stats`, with CORS).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use grafx_core::EnvironmentApiUrl;
use grafx_emulator::{start, EmulatorConfig, RunningEmulator, Settings};
use grafx_signer::{AppState, ClientSecret, Integration, OriginPolicy, SignerConfig};
use tokio::runtime::Runtime;

/// A free loopback port (bound and released; good enough for a test harness on one machine).
pub(crate) fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A running emulator and signer.
pub(crate) struct BrowserStack {
    runtime: Option<Runtime>,
    emulator: Option<RunningEmulator>,
    signer_task: Option<tokio::task::JoinHandle<()>>,
    state: Option<AppState>,
    /// Environment variables for the suites (compile-time, read with `option_env!`).
    pub(crate) env: Vec<(String, String)>,
}

/// An integration for one of the emulator's clients (secret `{client}-secret`), limited to the
/// emulator's read scopes in browsers. Shared by the browser suites, the demo and the benchmarks.
pub(crate) fn emulator_integration(
    e: &grafx_emulator::Emulator,
    name: &str,
    client: &str,
    origins: &str,
) -> Result<Integration> {
    // Parsed here first, so a bad list is an error rather than the test kit's panic.
    OriginPolicy::parse_list(origins)?;
    Ok(Integration {
        browser_scopes: Some(grafx_signer::BrowserScopes::ReadOnly),
        ..grafx_testkit::emulator_integration(e, name, client, Some(origins))
    })
}

/// Cold integrations `matrix-0…` for the browser half of the fault matrix.
const FAULT_MATRIX_INTEGRATIONS: usize = 16;

/// Every integration the browser suites name (`crates/grafx-wasm/tests/client_tests.js` and
/// `browser.rs`), besides `default` and `matrix-N`, declared once: the stack refuses to start
/// unless it created exactly these, and `fixtures::the_suites_name_only_declared_integrations`
/// fails when a suite names another.
pub(crate) const FIXTURE_INTEGRATIONS: &[&str] = &[
    "cold",
    "cross",
    "solo",
    "studio",
    "auto",
    "frozen",
    "disposal",
    "lifetime",
    "timers",
    "failing",
    "locked",
    "writer",
    "rw",
    "studioui",
    "platform",
    "session-cookie",
    "session-bearer",
    "proxied",
    "quota",
];

/// Whether `name` is an integration the stack creates.
fn is_fixture(name: &str) -> bool {
    name == "default"
        || FIXTURE_INTEGRATIONS.contains(&name)
        || name
            .strip_prefix("matrix-")
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n < FAULT_MATRIX_INTEGRATIONS)
}

/// The test app's session secret, cookie and issuer (see `/_test/login`).
const SESSION_SECRET: &str = "the-browser-suite-session-secret-0123456789";
const SESSION_COOKIE: &str = "grafx_test_session";
const SESSION_ISSUER: &str = "https://login.test/";

/// `GET /_test/login?sub=alice`: what an app's login does. Sets the session cookie (for
/// `credentials: "include"`) and returns the session JWT (for `getSessionToken`); without `sub`,
/// signs out.
fn login(page_origin: &str, sub: Option<&str>) -> Response {
    let (cookie, body) = match sub {
        None => (
            format!("{SESSION_COOKIE}=; Path=/; Max-Age=0"),
            String::new(),
        ),
        Some(sub) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let claims = serde_json::json!({
                "sub": sub, "iss": SESSION_ISSUER, "iat": now, "exp": now + 3600,
            });
            let jwt = jsonwebtoken::EncodingKey::from_secret(SESSION_SECRET.as_bytes())
                .and_then(|k| jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &k))
                .unwrap_or_default();
            (
                format!("{SESSION_COOKIE}={jwt}; Path=/; HttpOnly; SameSite=Lax"),
                jwt,
            )
        }
    };
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    if let (Ok(c), Ok(o)) = (
        HeaderValue::from_str(&cookie),
        HeaderValue::from_str(page_origin),
    ) {
        h.insert(header::SET_COOKIE, c);
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    res
}

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

fn cors(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    res
}

impl BrowserStack {
    /// Starts both, allowing the page origin `http://127.0.0.1:{page_port}`.
    pub(crate) fn start(page_port: u16) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("tokio runtime")?;
        let page_origin = format!("http://127.0.0.1:{page_port}");
        let (emulator, state, signer_url, task, token) = runtime.block_on(async {
            let settings = Settings {
                token_rate_limit: 0,
                output_render_ms: 600,
                ..Settings::default()
            };
            let emulator = start(
                EmulatorConfig::default().with_settings(settings),
                "127.0.0.1:0".parse()?,
            )
            .await?;
            let mut config = SignerConfig::single(emulator_integration(
                emulator.emulator(),
                "default",
                "demo-reader",
                &page_origin,
            )?);
            // The names the suites in crates/grafx-wasm/tests use: each test has its own, so that
            // no cached token or cross-tab peer of one test reaches another.
            for name in [
                "cold", "cross", "solo", "studio", "auto", "frozen", "disposal", "lifetime",
                "timers", "failing",
            ] {
                config.integrations.insert(
                    name.into(),
                    emulator_integration(emulator.emulator(), name, "demo-reader", &page_origin)?,
                );
            }
            config.integrations.insert(
                "locked".into(),
                emulator_integration(
                    emulator.emulator(),
                    "locked",
                    "demo-reader",
                    "https://elsewhere.example",
                )?,
            );
            config.integrations.insert(
                "writer".into(),
                emulator_integration(emulator.emulator(), "writer", "demo-writer", &page_origin)?,
            );
            // A browser-facing integration that may write (no scope policy), for the project
            // helpers' wire tests.
            config.integrations.insert(
                "rw".into(),
                Integration {
                    browser_scopes: None,
                    ..emulator_integration(emulator.emulator(), "rw", "demo-writer", &page_origin)?
                },
            );
            // An Environment API named like CHILI's, as studio-ui demands: for the loader-config
            // test, which needs only the token.
            config.integrations.insert(
                "studioui".into(),
                Integration {
                    environment_api_url: EnvironmentApiUrl::parse(
                        "https://demo.chili-publish.online/grafx/api/v1/environment/demo/",
                    )?,
                    ..emulator_integration(
                        emulator.emulator(),
                        "studioui",
                        "demo-reader",
                        &page_origin,
                    )?
                },
            );
            // The Platform API on another origin than the Environment API (localhost vs
            // 127.0.0.1): the bearer may go to both, and only to them.
            let platform = emulator
                .emulator()
                .base_url()
                .replace("127.0.0.1", "localhost");
            config.integrations.insert(
                "platform".into(),
                Integration {
                    platform_api_url: EnvironmentApiUrl::parse(&platform)?,
                    ..emulator_integration(
                        emulator.emulator(),
                        "platform",
                        "demo-reader",
                        &page_origin,
                    )?
                },
            );
            // The fault matrix: one cold integration per fault, on a client of its own so that
            // revoking its credentials touches no other suite.
            emulator
                .emulator()
                .upsert_client(grafx_emulator::ClientSpec::new(
                    "matrix-reader",
                    "matrix-reader-secret",
                    grafx_emulator::ClientSpec::read_scopes(),
                ));
            for i in 0..FAULT_MATRIX_INTEGRATIONS {
                let name = format!("matrix-{i}");
                config.integrations.insert(
                    name.clone(),
                    emulator_integration(
                        emulator.emulator(),
                        &name,
                        "matrix-reader",
                        &page_origin,
                    )?,
                );
            }
            // Caller authentication end to end: a cookie session and a bearer session, both HS256
            // JWTs minted by `/_test/login` (the app's login, in a real deployment).
            let session =
                grafx_signer::CallerMethod::JwtSecret(ClientSecret::new(SESSION_SECRET.into()));
            for (name, cookie) in [
                ("session-cookie", Some(SESSION_COOKIE)),
                ("session-bearer", None),
            ] {
                let mut i =
                    emulator_integration(emulator.emulator(), name, "demo-reader", &page_origin)?;
                let mut caller =
                    grafx_signer::CallerConfig::new(session.clone()).with_issuer(SESSION_ISSUER);
                if let Some(c) = cookie {
                    caller = caller.with_cookie(c);
                }
                i.caller = Some(caller);
                config.integrations.insert(name.into(), i);
            }
            // The API proxy: `demo-writer` server-side, reachable only through `/api/{name}/…`
            // with the issue's allow-list; `quota` allows one render an hour.
            for (name, allow, quota) in [
                (
                    "proxied",
                    &[
                        "POST projects",
                        "GET projects/*",
                        "GET projects/*/document",
                        "PUT projects/*/document",
                        "POST output/*",
                        "GET output/tasks/*",
                        "GET output/tasks/*/download",
                        "GET output/settings",
                    ][..],
                    None,
                ),
                (
                    "quota",
                    &["GET output/settings", "POST output/*"][..],
                    Some("POST output/*"),
                ),
            ] {
                let mut i = grafx_testkit::emulator_integration(
                    emulator.emulator(),
                    name,
                    "demo-writer",
                    None,
                );
                i.proxy = Some(grafx_signer::ProxyPolicy {
                    allow: grafx_signer::ProxyAllowList::parse(allow.iter().copied())?,
                    allowed_origins: OriginPolicy::parse_list(&page_origin)?,
                    quotas: quota
                        .map(|rule| {
                            anyhow::Ok(grafx_signer::ProxyQuota {
                                rule: grafx_signer::ProxyRule::parse(rule)?,
                                per_hour: std::num::NonZeroU32::MIN,
                            })
                        })
                        .transpose()?
                        .into_iter()
                        .collect(),
                    max_request_bytes: grafx_signer::DEFAULT_PROXY_MAX_REQUEST_BYTES,
                    require_caller: false,
                    shared_identity: true,
                });
                config.integrations.insert(name.into(), i);
            }
            // The declaration above is the contract with the suites: exactly these.
            let created: Vec<&String> = config.integrations.keys().collect();
            if let Some(extra) = created.iter().find(|n| !is_fixture(n)) {
                anyhow::bail!("integration `{extra}` is not in FIXTURE_INTEGRATIONS");
            }
            if let Some(missing) = FIXTURE_INTEGRATIONS
                .iter()
                .find(|n| !config.integrations.contains_key(**n))
            {
                anyhow::bail!("FIXTURE_INTEGRATIONS names `{missing}`, which the stack does not create");
            }
            config.upstream_timeout = std::time::Duration::from_secs(2);
            config.upstream_retries = 0;
            config.min_refresh_interval = std::time::Duration::ZERO;
            let state = AppState::new(config)?;
            let counts: Counts = Arc::default();
            let counting = counts.clone();
            let stats = counts.clone();
            let fixtures = Router::new()
                .route(
                    "/_test/stats",
                    get(move || {
                        let snapshot = stats.lock().map(|c| c.clone()).unwrap_or_default();
                        async move { cors(axum::Json(snapshot).into_response()) }
                    }),
                )
                .route(
                    "/_test/login",
                    get({
                        let origin = page_origin.clone();
                        move |q: axum::extract::Query<BTreeMap<String, String>>| {
                            let origin = origin.clone();
                            async move { login(&origin, q.get("sub").map(String::as_str)) }
                        }
                    }),
                )
                .route(
                    "/_test/malformed/token",
                    post(|| async {
                        cors(
                            (
                                StatusCode::OK,
                                [(header::CONTENT_TYPE, "application/json")],
                                "{\"access_token\": 12",
                            )
                                .into_response(),
                        )
                    })
                    .options(|| async { cors(StatusCode::NO_CONTENT.into_response()) }),
                )
                // A 200 that holds a token but is not a valid reply (token_type "mac"), and one
                // cut off inside the token: the browser's error must carry neither token.
                .route(
                    "/_test/invalid/token",
                    post(|| async {
                        cors(
                            (
                                StatusCode::OK,
                                [(header::CONTENT_TYPE, "application/json")],
                                r#"{"access_token": "eyJ.leaked-token-value.sig", "token_type": "mac", "expires_in": 60}"#,
                            )
                                .into_response(),
                        )
                    })
                    .options(|| async { cors(StatusCode::NO_CONTENT.into_response()) }),
                )
                .route(
                    "/_test/cut/token",
                    post(|| async {
                        cors(
                            (
                                StatusCode::OK,
                                [(header::CONTENT_TYPE, "application/json")],
                                r#"{"token_type":"Bearer","access_token":"eyJ.cut-token-val"#,
                            )
                                .into_response(),
                        )
                    })
                    .options(|| async { cors(StatusCode::NO_CONTENT.into_response()) }),
                )
                ;
            // What the binary serves (the router behind the token fast path), with the test
            // app's routes beside it and the request counter around the whole of it, so the
            // fast path's replies are counted and checked like every other.
            let router = grafx_signer::SignerService::new(state.clone())
                .with_routes(fixtures)
                .observed(Arc::new(move |method: &Method, uri: &axum::http::Uri| {
                    if method == Method::POST {
                        if let Ok(mut c) = counting.lock() {
                            *c.entry(uri.path().to_owned()).or_default() += 1;
                        }
                    }
                }));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let options = state.config().serve_options();
            let task = tokio::spawn(async move {
                let _ =
                    grafx_signer::serve(listener, router, options, std::future::pending()).await;
            });
            // A read-only token for the CORS suite, straight from the emulator.
            let body = serde_json::json!({
                "grant_type": "client_credentials", "client_id": "demo-reader",
                "client_secret": "demo-reader-secret", "audience": grafx_emulator::AUDIENCE,
            });
            let reply = reqwest::Client::new()
                .post(emulator.emulator().token_url())
                .json(&body)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            let token = grafx_core::TokenGrant::from_json(&reply)?
                .access_token()
                .secret()
                .to_owned();
            anyhow::Ok((emulator, state, format!("http://{addr}"), task, token))
        })?;
        println!(
            "xtask: emulator at {}, signer at {signer_url}, test page at {page_origin}",
            emulator.base_url()
        );
        let env = vec![
            (
                "GRAFX_EMULATOR_API_URL".into(),
                emulator.emulator().environment_api_url(),
            ),
            ("GRAFX_EMULATOR_TOKEN".into(), token),
            (
                "GRAFX_TEST_EMULATOR_URL".into(),
                emulator.base_url().to_owned(),
            ),
            ("GRAFX_TEST_SIGNER_URL".into(), signer_url),
            (
                "WASM_BINDGEN_TEST_ADDRESS".into(),
                format!("127.0.0.1:{page_port}"),
            ),
        ];
        Ok(Self {
            runtime: Some(runtime),
            emulator: Some(emulator),
            signer_task: Some(task),
            state: Some(state),
            env,
        })
    }

    /// Stops the servers and their runtime.
    pub(crate) fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(state) = self.state.take() {
            state.stop_refreshers();
        }
        if let Some(task) = self.signer_task.take() {
            task.abort();
        }
        if let (Some(rt), Some(em)) = (self.runtime.take(), self.emulator.take()) {
            rt.block_on(em.stop());
            rt.shutdown_background();
        }
    }
}

impl Drop for BrowserStack {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod fixtures {
    use super::is_fixture;

    /// The integration names a suite file passes: `integration: "x"`, `client("x")` and
    /// `Some("x".into())` next to `integration:`.
    fn names_in(text: &str) -> Vec<String> {
        let mut names = Vec::new();
        for marker in ["integration: \"", "client(\"", "integration: Some(\""] {
            for (i, _) in text.match_indices(marker) {
                let rest = &text[i + marker.len()..];
                if let Some(end) = rest.find('"') {
                    names.push(rest[..end].to_owned());
                }
            }
        }
        names
    }

    #[test]
    fn the_suites_name_only_declared_integrations() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafx-wasm/tests");
        let mut seen = 0;
        for file in ["client_tests.js", "browser.rs"] {
            let text = std::fs::read_to_string(dir.join(file))
                .unwrap_or_else(|e| panic!("reading the suite {file}: {e}"));
            // Names no integration can have (`a/b`) are the option checks' invalid inputs.
            let valid = |n: &String| {
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            };
            for name in names_in(&text).into_iter().filter(valid) {
                assert!(is_fixture(&name), "{file} names integration `{name}`, which FIXTURE_INTEGRATIONS does not declare");
                seen += 1;
            }
        }
        assert!(seen > 20, "the suites were read ({seen} names)");
        // The fault matrix's names are built in a loop: `matrix-${i++}` up to the declared count.
        assert!(is_fixture("matrix-15") && !is_fixture("matrix-16") && !is_fixture("nope"));
    }

    /// The test names of `client_tests.js`'s `tests` object (`  async name(…) {`).
    fn js_tests(text: &str) -> std::collections::BTreeSet<String> {
        let start = text.find("const tests = {").expect("the tests object");
        text[start..]
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with('}'))
            .filter_map(|l| l.strip_prefix("  async "))
            .map(|l| l.split('(').next().unwrap_or_default().trim().to_owned())
            .collect()
    }

    /// The names `browser.rs` runs through `js_tests!(…)`.
    fn rust_runners(text: &str) -> std::collections::BTreeSet<String> {
        let start = text.find("js_tests!(\n").expect("the js_tests! list");
        let list = &text[start + "js_tests!(".len()..];
        let end = list.find(");").expect("the list's end");
        list[..end]
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_js_browser_test_runs_and_every_runner_has_its_test() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafx-wasm/tests");
        let js = js_tests(&std::fs::read_to_string(dir.join("client_tests.js")).unwrap());
        let rust = rust_runners(&std::fs::read_to_string(dir.join("browser.rs")).unwrap());
        assert!(js.len() > 30, "the JS suite was read: {js:?}");
        let missing: Vec<_> = js.difference(&rust).collect();
        let stale: Vec<_> = rust.difference(&js).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "client_tests.js tests not in browser.rs's js_tests!: {missing:?}; runners without a test: {stale:?}"
        );
    }
}
