//! A signer wired to an in-process emulator, both on real loopback sockets.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use std::sync::Arc;

use grafx_emulator::{start, EmulatorConfig, RunningEmulator, Settings};
use grafx_signer::{AppState, ChiliAuthClient, Integration, MemoryStore, SignerConfig};
use tokio::task::JoinHandle;

pub mod proxy;
pub mod redis;

pub const ORIGIN: &str = "http://app.test:3000";

pub use grafx_testkit::SimClock;

pub struct Harness {
    pub emulator: RunningEmulator,
    pub state: AppState,
    pub clock: Arc<SimClock>,
    pub url: String,
    server: JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.state.stop_refreshers();
        self.server.abort();
    }
}

pub fn integration(em: &RunningEmulator, name: &str, client: &str) -> Integration {
    grafx_testkit::emulator_integration(em.emulator(), name, client, Some(ORIGIN))
}

pub fn fast_settings() -> Settings {
    Settings {
        token_rate_limit: 0,
        ..Settings::default()
    }
}

pub async fn emulator(settings: Settings) -> RunningEmulator {
    start(
        EmulatorConfig::default().with_settings(settings),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

/// A signer for `demo-reader`, configured by `tweak`, with refreshers when `refreshers` is set.
pub async fn harness(
    settings: Settings,
    refreshers: bool,
    tweak: impl FnOnce(&mut SignerConfig),
) -> Harness {
    let emulator = emulator(settings).await;
    let mut config = SignerConfig::single(integration(&emulator, "default", "demo-reader"));
    config.upstream_timeout = Duration::from_secs(3);
    tweak(&mut config);
    let clock = Arc::new(SimClock::default());
    let source = ChiliAuthClient::new(config.upstream_timeout).unwrap();
    let state = AppState::with_parts(
        config,
        Arc::new(source),
        Arc::new(MemoryStore::default()),
        clock.clone(),
    );
    if refreshers {
        state.start_refreshers();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = state.config().serve_options();
    let router = grafx_signer::SignerService::new(state.clone());
    let server = tokio::spawn(async move {
        grafx_signer::serve(listener, router, options, std::future::pending())
            .await
            .unwrap();
    });
    Harness {
        emulator,
        state,
        clock,
        url: format!("http://{addr}"),
        server,
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// `GET url` as text (metrics, health).
pub async fn get_text(url: &str) -> String {
    http().get(url).send().await.unwrap().text().await.unwrap()
}

impl Harness {
    /// The signer's `/metrics` text.
    pub async fn metrics(&self) -> String {
        get_text(&format!("{}/metrics", self.url)).await
    }

    /// Moves the emulator's clock and the signer's clock forward together.
    pub fn advance(&self, by: Duration) {
        let ms = by.as_millis() as i64;
        self.emulator.emulator().advance_clock(ms);
        self.clock.advance(by);
    }

    pub fn token_requests(&self) -> u64 {
        self.emulator.emulator().stats().token_requests
    }

    /// A well-formed token request from the allowed origin.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        http()
            .post(format!("{}{path}", self.url))
            .header("origin", ORIGIN)
            .header("x-csrf", "1")
    }

    pub async fn token(&self) -> grafx_core::SignerToken {
        let res = self.post("/token").send().await.unwrap();
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        res.json().await.unwrap()
    }

    /// Waits until `cond` holds, polling every 50 ms, for at most `secs`.
    pub async fn wait_for(&self, secs: u64, mut cond: impl FnMut(&Harness) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while tokio::time::Instant::now() < deadline {
            if cond(self) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        cond(self)
    }
}

pub async fn error(
    res: reqwest::Response,
    status: u16,
    code: &str,
) -> (reqwest::header::HeaderMap, String) {
    assert_eq!(res.status().as_u16(), status);
    let headers = res.headers().clone();
    let body: grafx_core::ErrorBody = res.json().await.unwrap();
    assert_eq!(body.error.as_str(), code, "{}", body.error_description);
    (headers, body.error_description)
}
