//! `cargo xtask soak`: the release signer and emulator binaries under sustained load.
//!
//! - **Load**: wrk with 64 connections on `POST /token` for `--load-secs` (60): errors (non-2xx
//!   and socket errors) must be 0; p99 is reported; the signer's RSS is sampled every second and
//!   the median of the last quarter must stay within ±10% of the median of the first quarter.
//! - **Soak**: the emulator issues 3-second tokens (re-issuing in the last 2 s) and the signer
//!   refreshes 1 s before expiry, so it refreshes about every 2 s; 64 clients hammer it for
//!   `--soak-secs` (600, ≈300 refreshes). Every reply must be a well-formed token with time left
//!   that the Environment API accepts (when first served, and again from a reply inside the
//!   leeway), and the emulator must have seen one token request per distinct token (one upstream
//!   call per refresh, no storm, no duplicate; the refresher's last call may land after the
//!   clients stopped, so one more is allowed).
//!
//! Writes target/bench/soak.{md,json}; exits non-zero when an expectation fails.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::json;

use crate::results::{Generated, LoadRun, Machine, SoakResults, SoakRun, SOAK_JSON};
use crate::servers::{self as bench, wrk_run, ORIGIN};

/// Samples `pid`'s RSS every second until `stop` is set.
fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<u64>> {
    std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            samples.push(bench::rss_kb(pid));
            std::thread::sleep(Duration::from_secs(1));
        }
        samples
    })
}

fn median_u64(v: &[u64]) -> f64 {
    let mut s: Vec<f64> = v.iter().map(|x| *x as f64).collect();
    bench::median(&mut s)
}

fn load(bin: &dyn Fn(&str) -> std::path::PathBuf, script: &Path, secs: u64) -> Result<LoadRun> {
    let emulator = bench::start_emulator(bin)?;
    let signer = bench::start_signer(bin, &emulator.url, &[])?;
    bench::post_token(&signer.url)?;
    // Warm the connection pool and allocator before the first sample.
    wrk_run(&signer.url, 64, 3, script)?;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(signer.pid(), Arc::clone(&stop));
    let run = wrk_run(&signer.url, 64, secs, script)?;
    stop.store(true, Ordering::Relaxed);
    let rss = sampler.join().unwrap_or_default();
    let quarter = (rss.len() / 4).max(1);
    let first = median_u64(&rss[..quarter.min(rss.len())]);
    let last = median_u64(&rss[rss.len().saturating_sub(quarter)..]);
    let drift = (last - first) / first;
    let upstream_calls = bench::emulator_stats(&emulator.url)?.token_requests;
    Ok(LoadRun {
        seconds: secs,
        connections: 64,
        requests: run.requests,
        rps: run.rps,
        p50_us: run.p50_us,
        p99_us: run.p99_us,
        errors: run.non_2xx + run.socket_errors,
        non_2xx: run.non_2xx,
        socket_errors: run.socket_errors,
        rss_kb_first_quarter: first,
        rss_kb_last_quarter: last,
        rss_drift: drift,
        rss_samples: rss,
        upstream_calls,
        ok: run.non_2xx + run.socket_errors == 0 && drift.abs() <= 0.10,
    })
}

#[derive(Default)]
struct SoakTally {
    replies: u64,
    invalid: Vec<String>,
    /// token → when first seen.
    tokens: HashMap<String, Instant>,
    /// Tokens checked against the Environment API again when a reply showed them near expiry.
    late_checked: std::collections::HashSet<String>,
}

/// A served token to check against the Environment API: new, or near its expiry.
enum Check {
    First(String),
    NearExpiry(String),
}

impl SoakTally {
    /// Counts one reply (a token and its time left, or what was wrong), and says which check
    /// the token needs: each new token once, and once more when served near its expiry.
    fn record(&mut self, reply: Result<(String, u64), String>) -> Option<Check> {
        self.replies += 1;
        let (token, secs_left) = match reply {
            Err(e) => {
                self.invalid.push(e);
                return None;
            }
            Ok(reply) => reply,
        };
        let fresh = !self.tokens.contains_key(&token);
        self.tokens
            .entry(token.clone())
            .or_insert_with(Instant::now);
        // A reply inside the leeway: the token is still served, and must still work when the
        // page uses it.
        let late = secs_left <= 1 && self.late_checked.insert(token.clone());
        if fresh {
            Some(Check::First(token))
        } else if late {
            Some(Check::NearExpiry(token))
        } else {
            None
        }
    }

    /// The run's figures, with the emulator's count of `upstream` token calls.
    fn into_run(self, secs: u64, upstream: u64) -> SoakRun {
        let distinct = self.tokens.len() as u64;
        let refreshes = distinct.saturating_sub(1);
        SoakRun {
            seconds: secs,
            clients: 64,
            token_lifetime_secs: 3,
            leeway_secs: 1,
            replies: self.replies,
            invalid: self.invalid.len(),
            first_invalid: self.invalid.iter().take(5).cloned().collect(),
            distinct_tokens: distinct,
            near_expiry_checked: self.late_checked.len() as u64,
            refreshes,
            upstream_calls: upstream,
            // One upstream call per token: every token CHILI issued was served, except perhaps
            // the last, which the refresher may fetch after the clients stopped asking (their
            // deadline passes between two refreshes). No storm, no duplicate.
            ok: self.invalid.is_empty()
                && (distinct..=distinct + 1).contains(&upstream)
                && refreshes >= secs / 4,
        }
    }
}

/// One `POST /token`: the token and its seconds left, or what was wrong with the reply.
async fn ask_for_token(http: &reqwest::Client, url: &str) -> Result<(String, u64), String> {
    let res = http
        .post(url)
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .send()
        .await;
    match res {
        Err(e) => Err(format!("request failed: {e}")),
        Ok(r) if r.status() != 200 => Err(format!("HTTP {}", r.status())),
        Ok(r) => match r.json::<grafx_core::SignerToken>().await {
            Err(e) => Err(format!("not a token: {e}")),
            Ok(t) if t.expires_in.as_secs() == 0 => Err("a token with no time left".to_owned()),
            Ok(t) => Ok((t.access_token.secret().to_owned(), t.expires_in.as_secs())),
        },
    }
}

/// Whether the Environment API (`api`, a list) accepts the checked token; a refusal is noted.
async fn check_with_api(http: &reqwest::Client, api: &str, check: Check, tally: &Mutex<SoakTally>) {
    let (token, when) = match &check {
        Check::First(t) => (t, "a served token"),
        Check::NearExpiry(t) => (t, "a token served near its expiry"),
    };
    let ok = http
        .get(api)
        .bearer_auth(token)
        .send()
        .await
        .map(|r| r.status().is_success())
        .unwrap_or(false);
    if !ok {
        let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
        t.invalid
            .push(format!("the Environment API refused {when}"));
    }
}

/// One of the soak's clients: asks for a token until `deadline`, checking each new one (and
/// each one near its expiry) against the Environment API.
async fn soak_client(
    http: reqwest::Client,
    tally: Arc<Mutex<SoakTally>>,
    url: String,
    api: String,
    deadline: Instant,
) {
    while Instant::now() < deadline {
        let reply = ask_for_token(&http, &url).await;
        let check = tally
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(reply);
        if let Some(check) = check {
            check_with_api(&http, &api, check, &tally).await;
        }
    }
}

fn soak(bin: &dyn Fn(&str) -> std::path::PathBuf, secs: u64) -> Result<SoakRun> {
    let emulator = bench::start_emulator(bin)?;
    bench::emulator_post(
        &emulator.url,
        "settings",
        json!({ "token_lifetime_secs": 3, "reissue_window_secs": 2 }),
    )?;
    let signer = bench::start_signer(
        bin,
        &emulator.url,
        &[
            ("SIGNER_LEEWAY_SECS", "1".into()),
            ("SIGNER_MIN_REFRESH_INTERVAL_SECS", "1".into()),
        ],
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let tally = Arc::new(Mutex::new(SoakTally::default()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let url = format!("{}/token", signer.url);
        let api = format!("{}/grafx/api/v1/environment/demo/templates", emulator.url);
        let clients: Vec<_> = (0..64)
            .map(|_| {
                tokio::spawn(soak_client(
                    http.clone(),
                    Arc::clone(&tally),
                    url.clone(),
                    api.clone(),
                    deadline,
                ))
            })
            .collect();
        for c in clients {
            c.await?;
        }
        anyhow::Ok(())
    })?;
    let upstream = bench::emulator_stats(&emulator.url)?.token_requests;
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(tally.into_run(secs, upstream))
}

/// `cargo xtask soak`. A run at the defaults (or longer) is published: `docs/soak-results.json`
/// and the figures in RELIABILITY.md, rendered from it.
pub(crate) fn run(root: &Path, install: bool, load_secs: u64, soak_secs: u64) -> Result<bool> {
    let result = measure(root, install, load_secs, soak_secs)?;
    if load_secs >= 60 && soak_secs >= 600 {
        crate::results::publish(
            root,
            &Generated::soak(),
            SOAK_JSON,
            &serde_json::to_string_pretty(&result)?,
            "RELIABILITY.md",
            &result.markdown(),
        )?;
    }
    if !(result.load.ok && result.soak.ok) {
        bail!("an expectation failed; see target/bench/soak.json");
    }
    Ok(true)
}

/// The short form `cargo xtask test` runs: 20 s of load and 60 s of 3-second tokens (about 30
/// refreshes, past the upstream budget's 20 a minute), on the release build.
pub(crate) fn short(root: &Path, install: bool) -> Result<bool> {
    let result = measure(root, install, 20, 60)?;
    Ok(result.load.ok && result.soak.ok)
}

/// Builds, runs both parts, writes target/bench/soak.{md,json}.
fn measure(root: &Path, install: bool, load_secs: u64, soak_secs: u64) -> Result<SoakResults> {
    bench::ensure_tools(root, install)?;
    bench::build_release(root)?;
    let bin = |name: &str| root.join("target/release").join(name);
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let script = bench::post_script(&out_dir)?;
    println!("xtask: load: 64 connections for {load_secs} s");
    let load = load(&bin, &script, load_secs)?;
    println!("xtask: soak: 3 s tokens, 64 clients for {soak_secs} s");
    let soak = soak(&bin, soak_secs)?;
    let result = SoakResults {
        machine: Machine::this(),
        load,
        soak,
    };
    std::fs::write(
        out_dir.join("soak.json"),
        serde_json::to_string_pretty(&result)?,
    )?;
    let md = result.markdown();
    std::fs::write(out_dir.join("soak.md"), &md)?;
    println!("{md}");
    if !result.soak.first_invalid.is_empty() {
        println!(
            "xtask: first invalid replies: {:?}",
            result.soak.first_invalid
        );
    }
    Ok(result)
}
