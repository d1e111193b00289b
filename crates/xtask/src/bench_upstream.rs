//! `cargo xtask bench`, upstream economy: CHILI's token endpoint asked by the signer and by the
//! Node broker, for 1000 concurrent cold requests and over 48 simulated hours of 24-hour tokens
//! with CHILI's one-hour re-issue window.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::results::*;
use crate::servers::*;

/// The Node broker's environment against the emulator at `emulator`.
pub(crate) fn node_env(emulator: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AUTH_URL", format!("{emulator}/oauth/token")),
        ("CLIENT_ID", "demo-reader".into()),
        ("CLIENT_SECRET", "demo-reader-secret".into()),
        ("ENVIRONMENT", "demo".into()),
        (
            "API_URL",
            format!("{emulator}/grafx/api/v1/environment/demo/"),
        ),
        ("PORT", "0".into()),
    ]
}

/// Fires `n` concurrent token requests at `url`; returns how many succeeded.
fn burst(url: &str, n: usize) -> Result<usize> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()?;
        let reqs = (0..n).map(|_| {
            let c = client.clone();
            let u = format!("{url}/token");
            tokio::spawn(async move {
                c.post(u)
                    .header("origin", ORIGIN)
                    .header("x-csrf", "1")
                    .send()
                    .await
                    .map(|r| r.status().is_success())
            })
        });
        let mut ok = 0;
        for r in futures_join(reqs).await {
            if matches!(r, Ok(Ok(true))) {
                ok += 1;
            }
        }
        anyhow::Ok(ok)
    })
}

async fn futures_join<T>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await);
    }
    out
}

/// 48 simulated hours, a request every simulated minute: upstream calls made by the signer.
fn simulate_signer_48h() -> Result<(u64, u64)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let settings = grafx_emulator::Settings {
            token_rate_limit: 0,
            ..Default::default()
        };
        let em = grafx_emulator::start(
            grafx_emulator::EmulatorConfig::default().with_settings(settings),
            "127.0.0.1:0".parse()?,
        )
        .await?;
        let e = em.emulator();
        let integration =
            grafx_testkit::read_only_integration(e, "default", "demo-reader", ORIGIN)?;
        // The signer's clock, moved in step with the emulator's.
        let clock = Arc::new(grafx_testkit::SimClock::default());
        let state = grafx_signer::AppState::with_parts(
            grafx_signer::SignerConfig::single(integration),
            Arc::new(grafx_signer::ChiliAuthClient::new(Duration::from_secs(5))?),
            Arc::new(grafx_signer::MemoryStore::default()),
            clock.clone(),
        );
        let cache = state.cache("default").context("cache")?;
        let mut served = 0;
        for _ in 0..(48 * 60) {
            let (token, _) = cache.get().await?;
            let now = grafx_signer::Clock::now(clock.as_ref());
            if token.expiry.remaining(now).is_zero() {
                bail!("served an expired token");
            }
            served += 1;
            e.advance_clock(60_000);
            clock.advance(Duration::from_secs(60));
        }
        anyhow::Ok((e.stats().token_requests, served))
    })
}

fn simulate_node_48h(node: &str, emulator: &str) -> Result<(u64, u64)> {
    emulator_post(emulator, "reset", json!({}))?;
    emulator_post(emulator, "settings", json!({ "token_rate_limit": 0 }))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let served = rt.block_on(async {
        let c = reqwest::Client::new();
        let mut served = 0u64;
        for _ in 0..(48 * 60) {
            let res = c
                .post(format!("{node}/token"))
                .header("origin", ORIGIN)
                .send()
                .await?;
            if res.status().is_success() {
                served += 1;
            }
            c.post(format!("{emulator}/_emulator/clock"))
                .json(&json!({ "advance_ms": 60_000 }))
                .send()
                .await?;
            c.post(format!("{node}/__clock"))
                .json(&json!({ "advance_ms": 60_000 }))
                .send()
                .await?;
        }
        anyhow::Ok(served)
    })?;
    let calls = emulator_stats(emulator)?.token_requests;
    Ok((calls, served))
}

/// Upstream token calls: 1000 concurrent cold requests, and 48 simulated hours, for the signer
/// and the Node broker.
pub(crate) fn upstream_economy(
    root: &Path,
    bin: &dyn Fn(&str) -> std::path::PathBuf,
    emulator: &str,
) -> Result<Upstream> {
    let cold = |program: &Path, args: &[&str], env: Vec<(&'static str, String)>| {
        emulator_post(emulator, "reset", json!({}))?;
        emulator_post(emulator, "settings", json!({ "token_rate_limit": 0 }))?;
        let server = Server::start(program, args, &env)?;
        let succeeded = burst(&server.url, 1000)?;
        std::thread::sleep(Duration::from_millis(200));
        let upstream_calls = emulator_stats(emulator)?.token_requests;
        anyhow::Ok(ColdBurst {
            upstream_calls,
            succeeded,
        })
    };
    let mut signer_cold_env = signer_env(emulator, "127.0.0.1:0");
    signer_cold_env.push(("SIGNER_UPSTREAM_RETRIES", "0".into()));
    let signer_cold = cold(&bin("grafx-signer"), &[], signer_cold_env)?;
    let node_script = root
        .join("tests/bench/node-broker.mjs")
        .display()
        .to_string();
    let node_cold = cold(Path::new("node"), &[&node_script], node_env(emulator))?;
    let (signer_48h, signer_served) = simulate_signer_48h()?;
    let node_server = Server::start(Path::new("node"), &[&node_script], &node_env(emulator))?;
    let (node_48h, node_served) = simulate_node_48h(&node_server.url, emulator)?;
    Ok(Upstream {
        cold_1000: Compared {
            signer: signer_cold,
            node: node_cold,
        },
        simulated_48h: Compared {
            signer: Simulated {
                upstream_calls: signer_48h,
                requests: signer_served,
            },
            node: Simulated {
                upstream_calls: node_48h,
                requests: node_served,
            },
        },
    })
}
