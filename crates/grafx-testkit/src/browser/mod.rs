//! What the browser suites talk to: the emulator and a real grafx-signer on free loopback ports,
//! started before the suites and stopped after them whatever the outcome ([`Stack`]).
//!
//! The test page's origin is pinned (`WASM_BINDGEN_TEST_ADDRESS`) so the signer can allow exactly
//! that origin. The signer is the service the binary serves (`SignerService::new`: the router
//! behind the token fast path), with the test app's routes beside it (`/_test/*`, see `routes`)
//! and an observer around all of it that counts signer requests per path (`GET /_test/stats`).
//! The suites get their URLs at build time, from [`BrowserStack::env`].
//!
//! ```no_run
//! # fn run() -> anyhow::Result<()> {
//! let stack = grafx_testkit::BrowserStack::start(8000)?; // the test page on 127.0.0.1:8000
//! for (name, value) in &stack.env {
//!     println!("{name}={value}"); // for `wasm-pack test`'s build
//! }
//! stack.stop();
//! # Ok(()) }
//! ```

mod integrations;
mod routes;

use anyhow::Result;
use grafx_emulator::{EmulatorConfig, RunningEmulator, Settings};
use grafx_signer::{AppState, SignerService};

pub use integrations::{
    fixture_config, is_fixture, FAULT_MATRIX_INTEGRATIONS, FIXTURE_INTEGRATIONS,
};

use crate::Stack;

/// A running emulator and signer for the browser suites.
pub struct BrowserStack {
    stack: Stack,
    /// Environment variables for the suites (compile-time, read with `option_env!`).
    pub env: Vec<(String, String)>,
}

impl BrowserStack {
    /// Starts both, allowing the page origin `http://127.0.0.1:{page_port}`.
    pub fn start(page_port: u16) -> Result<Self> {
        let runtime = Stack::runtime()?;
        let page_origin = format!("http://127.0.0.1:{page_port}");
        let (emulator, state, service, listener, token) = runtime.block_on(async {
            let emulator = start_emulator().await?;
            let config = fixture_config(emulator.emulator(), &page_origin)?;
            let state = AppState::new(config)?;
            let counts = routes::Counts::default();
            // What the binary serves (the router behind the token fast path), with the test
            // app's routes beside it and the request counter around the whole of it, so the
            // fast path's replies are counted and checked like every other.
            let service = SignerService::new(state.clone())
                .with_routes(routes::test_routes(&page_origin, counts.clone()))
                .observed(routes::counting_observer(counts));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let token = read_only_token(&emulator).await?;
            anyhow::Ok((emulator, state, service, listener, token))
        })?;
        let signer_url = format!("http://{}", listener.local_addr()?);
        println!(
            "testkit: emulator at {}, signer at {signer_url}, test page at {page_origin}",
            emulator.base_url()
        );
        let env = suite_env(&emulator, &signer_url, token, page_port);
        let stack = Stack::serve(runtime, Some(emulator), state, service, listener);
        Ok(Self { stack, env })
    }

    /// Stops the servers and their runtime.
    pub fn stop(self) {
        self.stack.stop();
    }
}

/// The emulator as the suites need it: no token rate limit, renders of 0.6 s.
async fn start_emulator() -> Result<RunningEmulator> {
    let settings = Settings {
        token_rate_limit: 0,
        output_render_ms: 600,
        ..Settings::default()
    };
    let config = EmulatorConfig::default().with_settings(settings);
    Ok(grafx_emulator::start(config, "127.0.0.1:0".parse()?).await?)
}

/// A read-only token for the CORS suite, straight from the emulator.
async fn read_only_token(emulator: &RunningEmulator) -> Result<String> {
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
    Ok(grafx_core::TokenGrant::from_json(&reply)?
        .access_token()
        .secret()
        .to_owned())
}

/// The suites' build-time environment: where the emulator and signer are, the CORS suite's
/// token, and the test page's address.
fn suite_env(
    emulator: &RunningEmulator,
    signer_url: &str,
    token: String,
    page_port: u16,
) -> Vec<(String, String)> {
    vec![
        (
            "GRAFX_EMULATOR_API_URL".into(),
            emulator.emulator().environment_api_url(),
        ),
        ("GRAFX_EMULATOR_TOKEN".into(), token),
        (
            "GRAFX_TEST_EMULATOR_URL".into(),
            emulator.base_url().to_owned(),
        ),
        ("GRAFX_TEST_SIGNER_URL".into(), signer_url.to_owned()),
        (
            "WASM_BINDGEN_TEST_ADDRESS".into(),
            format!("127.0.0.1:{page_port}"),
        ),
    ]
}
