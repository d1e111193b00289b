//! The figures `cargo xtask bench` and `cargo xtask soak` write, as types: `results.json` and
//! `soak.json` are these structs serialized, and the Markdown tables are rendered from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::servers::median;

/// The machine a run was measured on.
#[derive(Debug, Serialize)]
pub(crate) struct Machine {
    pub cpu: String,
    pub cores: usize,
    /// `/proc/meminfo`'s first line.
    pub memory: String,
}

impl Machine {
    /// This machine.
    pub(crate) fn this() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
            })
            .unwrap_or_default();
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| s.lines().next().map(str::to_owned))
            .unwrap_or_default();
        Self { cpu, cores, memory }
    }

    fn memory_total(&self) -> String {
        self.memory
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Repeated runs of one measure, with their median.
#[derive(Debug, Serialize)]
pub(crate) struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: Vec<f64>,
}

impl Stat {
    pub(crate) fn of(runs: &[f64]) -> Self {
        let mut sorted = runs.to_vec();
        let median = median(&mut sorted);
        Self {
            median,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            runs: runs.to_vec(),
        }
    }
}

/// One server's wrk runs at one connection count.
#[derive(Debug, Serialize)]
pub(crate) struct ServerRuns {
    pub rps: Stat,
    pub p50_us: Stat,
    pub p99_us: Stat,
}

/// The servers compared in the throughput table, in the table's order.
pub(crate) const SERVERS: [&str; 4] = [
    "bare axum",
    "grafx-signer",
    "grafx-signer (redis store)",
    "node express broker",
];

/// A figure for the signer and for the Node broker.
#[derive(Debug, Serialize)]
pub(crate) struct Compared<T> {
    #[serde(rename = "grafx-signer")]
    pub signer: T,
    #[serde(rename = "node express broker")]
    pub node: T,
}

/// 1000 concurrent requests at a cold server.
#[derive(Debug, Serialize)]
pub(crate) struct ColdBurst {
    pub upstream_calls: u64,
    pub succeeded: usize,
}

/// 48 simulated hours, a request a minute.
#[derive(Debug, Serialize)]
pub(crate) struct Simulated {
    pub upstream_calls: u64,
    pub requests: u64,
}

/// Upstream economy.
#[derive(Debug, Serialize)]
pub(crate) struct Upstream {
    pub cold_1000: Compared<ColdBurst>,
    pub simulated_48h: Compared<Simulated>,
}

/// A measure that may have failed without failing the whole run (the browser ones need npm and
/// Chromium).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Measured<T> {
    Ok(T),
    Failed { error: String },
}

impl<T> Measured<T> {
    pub(crate) fn from(r: anyhow::Result<T>) -> Self {
        r.map_or_else(
            |e| Self::Failed {
                error: format!("{e:#}"),
            },
            Self::Ok,
        )
    }

    fn ok(&self) -> Option<&T> {
        match self {
            Self::Ok(t) => Some(t),
            Self::Failed { .. } => None,
        }
    }
}

/// Package sizes, gzip -9.
#[derive(Debug, Serialize)]
pub(crate) struct Sizes {
    pub grafx_wasm_gzip: u64,
    /// `None` when npm could not fetch the reference package.
    pub auth0_spa_js_2_27_gzip: Option<u64>,
    pub target: u64,
}

/// What `tests/bench/browser.mjs` prints.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Chromium {
    pub init_ms: f64,
    pub init_runs_ms: Vec<f64>,
    pub fetch_ratio: f64,
    pub fetch_ratio_runs: Vec<f64>,
    pub calls: u64,
    pub rounds: u64,
    pub ten_tabs_signer_requests: u64,
}

/// The browser figures.
#[derive(Debug, Serialize)]
pub(crate) struct Browser {
    pub sizes: Measured<Sizes>,
    pub chromium: Measured<Chromium>,
}

/// How long each wrk run lasted and how often it was repeated.
#[derive(Debug, Serialize)]
pub(crate) struct RunSettings {
    pub seconds_per_run: u32,
    pub repeats: usize,
}

/// The signer's resident memory.
#[derive(Debug, Serialize)]
pub(crate) struct SignerRss {
    pub idle: u64,
    pub peak_under_load_by_connections: BTreeMap<u32, u64>,
}

/// `target/bench/results.json`.
#[derive(Debug, Serialize)]
pub(crate) struct BenchResults {
    pub machine: Machine,
    pub settings: RunSettings,
    /// Connections → server name → runs.
    pub throughput: BTreeMap<u32, BTreeMap<&'static str, ServerRuns>>,
    pub upstream: Upstream,
    pub browser: Browser,
    pub signer_rss_kb: SignerRss,
}

fn f(v: Option<f64>) -> String {
    match v {
        Some(n) if n >= 100.0 => format!("{n:.0}"),
        Some(n) if n.is_finite() => format!("{n:.2}"),
        _ => "–".into(),
    }
}

fn n<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "–".into(), |v| v.to_string())
}

impl BenchResults {
    /// `target/bench/results.md`.
    pub(crate) fn markdown(&self) -> String {
        let mut md = String::from("# Benchmarks\n\n");
        md += &format!(
            "Machine: {} ({} cores), {}. Loopback; servers pinned to core 0, wrk (1 thread) to core 1. {} s per run, {} repeats: medians, with min–max.\n\n",
            self.machine.cpu,
            self.machine.cores,
            self.machine.memory_total(),
            self.settings.seconds_per_run,
            self.settings.repeats
        );
        md += &self.throughput_table();
        md += "\nThe signer runs at its shipped defaults (info logs, written to a file) except the per-IP limit, which would refuse wrk's single IP; the bare handler and the signer are built with the release profile (opt-level 3, LTO), as a user builds an axum app. Targets: the signer at least 0.90× the bare axum handler at 16, 64 and 256 connections, its p99 within 1.2× of the bare handler's, and at least 12× the Node broker. `grafx-signer (redis store)` is the same binary with `SIGNER_REDIS_URL`: its ratio is the cost of the shared store.\n\n";
        let u = &self.upstream;
        md += "## Upstream economy\n\n| scenario | grafx-signer | node express broker | target |\n|---|---|---|---|\n";
        md += &format!(
            "| 1000 concurrent cold requests: upstream token calls | {} | {} | exactly 1 |\n",
            u.cold_1000.signer.upstream_calls, u.cold_1000.node.upstream_calls
        );
        md += &format!(
            "| 48 simulated hours (24 h tokens, 1 h re-issue window, a request a minute): upstream calls | {} | {} | at most 3 |\n\n",
            u.simulated_48h.signer.upstream_calls, u.simulated_48h.node.upstream_calls
        );
        md += &self.browser_table();
        md += &format!(
            "## Signer memory\n\n| state | RSS |\n|---|---|\n| idle | {} KB |\n",
            self.signer_rss_kb.idle
        );
        for (c, kb) in &self.signer_rss_kb.peak_under_load_by_connections {
            md += &format!("| peak under the {c}-connection load | {kb} KB |\n");
        }
        md += "\nTarget: at most 25 MB under the 64-connection load.\n";
        md
    }

    fn throughput_table(&self) -> String {
        let mut md = String::from("## Cached `POST /token`\n\n| connections | server | req/s median (min–max) | p50 µs | p99 µs | signer ÷ server |\n|---|---|---|---|---|---|\n");
        for (c, row) in &self.throughput {
            let signer = row.get("grafx-signer").map_or(f64::NAN, |s| s.rps.median);
            for name in SERVERS {
                let Some(s) = row.get(name) else { continue };
                let ratio = if name == "grafx-signer" {
                    "–".into()
                } else {
                    format!("{:.2}×", signer / s.rps.median)
                };
                md += &format!(
                    "| {c} | {name} | {} ({}–{}) | {} | {} | {ratio} |\n",
                    f(Some(s.rps.median)),
                    f(Some(s.rps.min)),
                    f(Some(s.rps.max)),
                    f(Some(s.p50_us.median)),
                    f(Some(s.p99_us.median))
                );
            }
        }
        md
    }

    fn browser_table(&self) -> String {
        let sizes = self.browser.sizes.ok();
        let c = self.browser.chromium.ok();
        let mut md = String::from("## Browser\n\n| measure | value | target |\n|---|---|---|\n");
        md += &format!(
            "| gzip -9 of grafx-wasm (.wasm + JS glue + snippets) | {} bytes | at most 40 KB (40960) |\n| gzip -9 of auth0-spa-js 2.27.0 production bundle | {} bytes | reference |\n",
            n(sizes.map(|s| s.grafx_wasm_gzip)),
            n(sizes.and_then(|s| s.auth0_spa_js_2_27_gzip))
        );
        md += &format!(
            "| `grafx.fetch` ÷ raw `fetch` with a fixed bearer, {} sequential calls (median of {} rounds) | {} | at most 1.05 |\n| wasm init (`await init()`), median | {} ms | – |\n| 10 tabs opened at once: signer requests | {} | 1 |\n\n",
            n(c.map(|c| c.calls)),
            n(c.map(|c| c.rounds)),
            f(c.map(|c| c.fetch_ratio)),
            f(c.map(|c| c.init_ms)),
            n(c.map(|c| c.ten_tabs_signer_requests))
        );
        md
    }
}

/// `cargo xtask soak`'s steady load at 64 connections.
#[derive(Debug, Serialize)]
pub(crate) struct LoadRun {
    pub seconds: u64,
    pub connections: u32,
    pub requests: u64,
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub errors: u64,
    pub non_2xx: u64,
    pub socket_errors: u64,
    pub rss_kb_first_quarter: f64,
    pub rss_kb_last_quarter: f64,
    pub rss_drift: f64,
    pub rss_samples: Vec<u64>,
    pub upstream_calls: u64,
    pub ok: bool,
}

/// `cargo xtask soak`'s run on 3-second tokens.
#[derive(Debug, Serialize)]
pub(crate) struct SoakRun {
    pub seconds: u64,
    pub clients: u32,
    pub token_lifetime_secs: u64,
    pub leeway_secs: u64,
    pub replies: u64,
    pub invalid: usize,
    pub first_invalid: Vec<String>,
    pub distinct_tokens: u64,
    pub refreshes: u64,
    pub upstream_calls: u64,
    pub ok: bool,
}

/// `target/bench/soak.json`.
#[derive(Debug, Serialize)]
pub(crate) struct SoakResults {
    pub machine: Machine,
    pub load: LoadRun,
    pub soak: SoakRun,
}

impl SoakResults {
    /// `target/bench/soak.md`.
    pub(crate) fn markdown(&self) -> String {
        let (load, soak) = (&self.load, &self.soak);
        format!(
            "## Load: 64 connections, {} s\n\n| requests | req/s | p50 | p99 | errors | RSS first quarter | RSS last quarter | drift |\n|---|---|---|---|---|---|---|---|\n| {} | {:.0} | {:.2} ms | {:.2} ms | {} | {:.1} MB | {:.1} MB | {:+.1}% |\n\n## Soak: 3 s tokens, 64 clients, {} s\n\n| replies | invalid | distinct tokens (refreshes + 1) | upstream calls |\n|---|---|---|---|\n| {} | {} | {} | {} |\n",
            load.seconds,
            load.requests,
            load.rps,
            load.p50_us / 1e3,
            load.p99_us / 1e3,
            load.errors,
            load.rss_kb_first_quarter / 1024.0,
            load.rss_kb_last_quarter / 1024.0,
            load.rss_drift * 100.0,
            soak.seconds,
            soak.replies,
            soak.invalid,
            soak.distinct_tokens,
            soak.upstream_calls,
        )
    }
}
