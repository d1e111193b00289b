//! `cargo xtask bench`: measured side by side in one run, on loopback, servers pinned to core 0
//! and the load generator (wrk) to core 1. Writes `target/bench/results.{md,json}`.
//!
//! 1. Cached `POST /token` throughput and latency at 1, 16, 64 and 256 connections: the signer
//!    against a bare axum handler returning the same JSON (the limit of this stack) and against a
//!    Node.js Express broker written the way CHILI's workshop does it.
//! 2. Upstream economy: upstream token calls for 1000 concurrent cold requests, and over 48
//!    simulated hours of 24-hour tokens with CHILI's one-hour re-issue window.
//! 3. The browser: package size against auth0-spa-js, `grafx.fetch` against raw `fetch`, wasm init
//!    time, and ten tabs opened at once.
//! 4. Signer memory: RSS idle and under the 64-connection load.
//! 5. The API proxy against nginx `proxy_pass` (see `proxy_bench.rs`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::bootstrap::Toolchain;
use crate::results::*;
use crate::servers::*;

fn node_env(emulator: &str) -> Vec<(&'static str, String)> {
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

fn gzip_size(bytes: &[u8]) -> Result<u64> {
    let mut child = Command::new("gzip")
        .arg("-9c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(&mut child.stdin.take().context("stdin")?, bytes)?;
    Ok(child.wait_with_output()?.stdout.len() as u64)
}

fn package_sizes(root: &Path, toolchain: &Toolchain) -> Result<Sizes> {
    let pkg = root.join("crates/grafx-wasm/pkg");
    let mut ours = std::fs::read(pkg.join("grafx_wasm_bg.wasm"))?;
    ours.extend(std::fs::read(pkg.join("grafx_wasm.js"))?);
    for entry in std::fs::read_dir(pkg.join("snippets"))? {
        for js in std::fs::read_dir(entry?.path().join("js"))? {
            ours.extend(std::fs::read(js?.path())?);
        }
    }
    let dir = root.join("target/bench/auth0");
    std::fs::create_dir_all(&dir)?;
    let out = Command::new("npm")
        .args([
            "pack",
            "@auth0/auth0-spa-js@2.27.0",
            "--silent",
            "--pack-destination",
        ])
        .arg(&dir)
        .env("PATH", &toolchain.path)
        .output()?;
    let tgz = dir.join(String::from_utf8_lossy(&out.stdout).trim());
    let bundle = Command::new("tar")
        .arg("-xzOf")
        .arg(&tgz)
        .arg("package/dist/auth0-spa-js.production.js")
        .output()?
        .stdout;
    let auth0 = if bundle.is_empty() {
        None
    } else {
        Some(gzip_size(&bundle)?)
    };
    Ok(Sizes {
        grafx_wasm_gzip: gzip_size(&ours)?,
        auth0_spa_js_2_27_gzip: auth0,
        target: PACKAGE_TARGET_BYTES,
    })
}

/// How long and how often each load runs.
struct Plan {
    secs: u32,
    repeats: usize,
    conns: &'static [u32],
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                secs: 1,
                repeats: 1,
                conns: &[16],
            }
        } else {
            Self {
                secs: 5,
                repeats: 3,
                conns: &[1, 16, 64, 256],
            }
        }
    }
}

/// `cargo xtask bench`.
/// Runs every benchmark; with `check`, fails (returns `false`) when a target was missed.
pub(crate) fn run(root: &Path, install: bool, quick: bool, check: bool) -> Result<bool> {
    let toolchain = ensure_tools(root, install)?;
    build_release(root)?;
    let bin = |name: &str| root.join("target/release").join(name);
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let plan = Plan::new(quick);
    let emulator = start_emulator(&bin)?;
    let tokens = token_throughput(root, &bin, &out_dir, &emulator.url, &plan)?;
    let upstream = upstream_economy(root, &bin, &emulator.url)?;
    drop(emulator);
    let proxy = Measured::from(crate::proxy_bench::run(
        &bin,
        &out_dir,
        plan.secs,
        plan.repeats,
        conns_proxy(quick),
    ));
    let browser = Browser {
        sizes: Measured::from(package_sizes(root, &toolchain)),
        chromium: Measured::from(browser_bench(root, &toolchain, quick)),
    };
    let results = BenchResults {
        machine: Machine::this(),
        settings: RunSettings {
            seconds_per_run: plan.secs,
            repeats: plan.repeats,
            signer_log_level: SIGNER_LOG_LEVEL.into(),
        },
        throughput: tokens.throughput,
        upstream,
        browser,
        signer_rss_kb: tokens.rss,
        proxy: Some(proxy),
    };
    report(root, &out_dir, &results, quick, check)
}

/// The token servers side by side: the bare handlers, the signer (memory and Redis store) and
/// the Node broker, each loaded in turn.
struct TokenServers {
    baseline: Server,
    baseline_loop: Server,
    signer: Server,
    signer_redis: Server,
    node: Server,
    /// Kept running while `signer_redis` is.
    _redis: RedisChild,
    /// The signer's RSS (KB) once started, before its first request.
    idle_rss: u64,
}

impl TokenServers {
    fn start(
        root: &Path,
        bin: &dyn Fn(&str) -> std::path::PathBuf,
        out_dir: &Path,
        emulator: &str,
    ) -> Result<Self> {
        let signer = start_signer(bin, emulator, &[])?;
        std::thread::sleep(Duration::from_millis(300));
        let idle_rss = signer.rss_kb();
        let token = post_token(&signer.url)?;
        std::fs::write(out_dir.join("token.json"), token.to_string())?;
        let token_path = out_dir.join("token.json").display().to_string();
        let baseline = Server::start(&bin("bench-baseline"), &["127.0.0.1:0", &token_path], &[])?;
        let baseline_loop = Server::start(
            &bin("bench-baseline"),
            &["127.0.0.1:0", &token_path, "signer-loop"],
            &[],
        )?;
        let node_script = root.join("tests/bench/node-broker.mjs");
        let node = Server::start(
            Path::new("node"),
            &[&node_script.display().to_string()],
            &node_env(emulator),
        )?;
        post_token(&node.url)?;
        // The same signer with its token store in Redis (issue 8): the hot path reads the
        // replica's own copy, so the shared store should cost nothing per request.
        let redis = RedisChild::start()?;
        let key_file = out_dir.join("redis.key");
        std::fs::write(&key_file, format!("{:064x}", 0xfeed_u128))?;
        let signer_redis = start_signer(
            bin,
            emulator,
            &[
                ("SIGNER_REDIS_URL", redis.url.clone()),
                ("SIGNER_REDIS_KEY_FILE", key_file.display().to_string()),
            ],
        )?;
        post_token(&signer_redis.url)?;
        Ok(Self {
            baseline,
            baseline_loop,
            signer,
            signer_redis,
            node,
            _redis: redis,
            idle_rss,
        })
    }

    /// Each server with its name, in `SERVERS` order.
    fn named(&self) -> Vec<(&'static str, &Server)> {
        SERVERS
            .into_iter()
            .zip([
                &self.baseline,
                &self.baseline_loop,
                &self.signer,
                &self.signer_redis,
                &self.node,
            ])
            .collect()
    }
}

/// Cached `POST /token` figures per connection count, and the signer's memory.
struct TokenFigures {
    throughput: std::collections::BTreeMap<u32, std::collections::BTreeMap<String, ServerRuns>>,
    rss: SignerRss,
}

/// Throughput and latency of every token server at each connection count, rounds alternating
/// between servers; the signer's RSS idle and at its peak under each load.
fn token_throughput(
    root: &Path,
    bin: &dyn Fn(&str) -> std::path::PathBuf,
    out_dir: &Path,
    emulator: &str,
    plan: &Plan,
) -> Result<TokenFigures> {
    let script = post_script(out_dir)?;
    let servers = TokenServers::start(root, bin, out_dir, emulator)?;
    let named = servers.named();
    let mut throughput = std::collections::BTreeMap::new();
    let mut peak_under_load_by_connections = std::collections::BTreeMap::new();
    for &c in plan.conns {
        let mut runs: Vec<[Vec<f64>; 3]> = vec![Default::default(); named.len()];
        for _ in 0..plan.repeats {
            for (i, (name, server)) in named.iter().enumerate() {
                let sample_rss = *name == SIGNER;
                let (rps, p50, p99, peak) = wrk_sampled(server, sample_rss, c, plan.secs, &script)?;
                if sample_rss {
                    let seen: &mut u64 = peak_under_load_by_connections.entry(c).or_default();
                    *seen = (*seen).max(peak);
                }
                println!("xtask: bench {name:<20} c={c:<3} {rps:>10.0} req/s  p50 {p50:>8.0} µs  p99 {p99:>8.0} µs");
                runs[i][0].push(rps);
                runs[i][1].push(p50);
                runs[i][2].push(p99);
            }
        }
        let row = named
            .iter()
            .zip(&runs)
            .map(|((name, _), r)| ((*name).to_owned(), ServerRuns::of(r)))
            .collect();
        throughput.insert(c, row);
    }
    Ok(TokenFigures {
        throughput,
        rss: SignerRss {
            idle: servers.idle_rss,
            peak_under_load_by_connections,
        },
    })
}

/// One wrk run against `server`: req/s, p50 and p99 (µs), and the server's peak RSS (KB) when
/// `sample_rss` (sampled every 100 ms; 0 otherwise).
fn wrk_sampled(
    server: &Server,
    sample_rss: bool,
    conns: u32,
    secs: u32,
    script: &Path,
) -> Result<(f64, f64, f64, u64)> {
    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = sample_rss.then(|| {
        let (s, p, pid) = (sampling.clone(), peak.clone(), server.child.id());
        std::thread::spawn(move || {
            while s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kb(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    });
    let measured = wrk(&server.url, conns, secs, script);
    sampling.store(false, Ordering::Relaxed);
    if let Some(t) = sampler {
        let _ = t.join();
    }
    let (rps, p50, p99) = measured?;
    Ok((rps, p50, p99, peak.load(Ordering::Relaxed)))
}

/// Upstream token calls: 1000 concurrent cold requests, and 48 simulated hours, for the signer
/// and the Node broker.
fn upstream_economy(
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

/// Writes `target/bench/results.{json,md}` (and, for a full run, the published copies) and
/// prints the missed targets; false when `check` and one was missed.
fn report(
    root: &Path,
    out_dir: &Path,
    results: &BenchResults,
    quick: bool,
    check: bool,
) -> Result<bool> {
    std::fs::write(
        out_dir.join("results.json"),
        serde_json::to_string_pretty(results)?,
    )?;
    let md = results.markdown();
    std::fs::write(out_dir.join("results.md"), &md)?;
    println!("\n{md}\nxtask: wrote target/bench/results.md and results.json");
    if !quick {
        publish(root, &out_dir.join("results.json"))?;
    }
    let missed: Vec<Check> = results.checks().into_iter().filter(|c| !c.met).collect();
    for c in &missed {
        println!(
            "xtask: bench target missed: {}: {} (target {})",
            c.what, c.measured, c.target
        );
    }
    Ok(!check || missed.is_empty())
}

/// The proxy's connection counts: the three the issue names, or one for a quick run.
fn conns_proxy(quick: bool) -> &'static [u32] {
    if quick {
        &[crate::proxy_bench::CHECK_CONNECTIONS]
    } else {
        &[16, crate::proxy_bench::CHECK_CONNECTIONS, 256]
    }
}

/// Copies a full run's `results.json` to `docs/bench-results.json` and regenerates the part of
/// BENCHMARKS.md between its markers from it, so the document quotes the run exactly.
pub(crate) fn publish(root: &Path, results: &Path) -> Result<()> {
    let json = std::fs::read_to_string(results)?;
    let parsed: BenchResults = serde_json::from_str(&json)?;
    crate::results::publish(
        root,
        &Generated::bench(),
        BENCH_JSON,
        &json,
        "BENCHMARKS.md",
        &parsed.markdown(),
    )
}
/// Chromium figures from `tests/bench/browser.mjs` against the demo stack.
fn browser_bench(root: &Path, toolchain: &Toolchain, quick: bool) -> Result<Chromium> {
    let site = crate::demo::build_site(root, toolchain)?;
    let demo = crate::demo::DemoStack::start(site, "127.0.0.1:0".parse()?, false)?;
    let out = Command::new("node")
        .arg(root.join("tests/bench/browser.mjs"))
        .env("DEMO_URL", &demo.url)
        .env("CALLS", if quick { "100" } else { "1000" })
        .env("CHROMIUM", crate::bootstrap::CHROMIUM)
        .env("PATH", &toolchain.path)
        .current_dir(root)
        .output()?;
    demo.stop();
    if !out.status.success() {
        bail!(
            "browser bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}
