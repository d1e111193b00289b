//! The emulator that browser suites talk to: started in-process on a free loopback port before
//! the suite, and stopped after it whatever the outcome (also on panic, through `Drop`).

use anyhow::{Context, Result};
use grafx_emulator::{start, EmulatorConfig, RunningEmulator};
use tokio::runtime::Runtime;

/// A running emulator plus a read-only token for the suites.
pub(crate) struct BrowserEmulator {
    runtime: Option<Runtime>,
    running: Option<RunningEmulator>,
    api_url: String,
    token: String,
}

impl BrowserEmulator {
    /// Starts the emulator with its demo clients and obtains a `demo-reader` token over HTTP.
    pub(crate) fn start() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("tokio runtime")?;
        let (running, token) = runtime.block_on(async {
            let running = start(EmulatorConfig::default(), "127.0.0.1:0".parse()?).await?;
            let body = serde_json::json!({
                "grant_type": "client_credentials",
                "client_id": "demo-reader",
                "client_secret": "demo-reader-secret",
                "audience": grafx_emulator::AUDIENCE,
            });
            let reply = reqwest::Client::new()
                .post(running.emulator().token_url())
                .json(&body)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            let grant = grafx_core::TokenGrant::from_json(&reply)?;
            anyhow::Ok((running, grant.access_token().secret().to_owned()))
        })?;
        let api_url = running.emulator().environment_api_url();
        println!(
            "xtask: emulator for browser tests at {}",
            running.base_url()
        );
        Ok(Self {
            runtime: Some(runtime),
            running: Some(running),
            api_url,
            token,
        })
    }

    /// The Environment API base URL.
    pub(crate) fn api_url(&self) -> &str {
        &self.api_url
    }

    /// A read-only bearer token.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// Stops the server and its runtime.
    pub(crate) fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let (Some(rt), Some(running)) = (self.runtime.take(), self.running.take()) {
            rt.block_on(running.stop());
            rt.shutdown_background();
        }
    }
}

impl Drop for BrowserEmulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}
