//! The figures `cargo xtask bench` and `cargo xtask soak` write, as types: `results.json` and
//! `soak.json` are these structs serialized, and the Markdown tables are rendered from them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::servers::median;

/// The machine a run was measured on.
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ServerRuns {
    pub rps: Stat,
    pub p50_us: Stat,
    pub p99_us: Stat,
}

impl ServerRuns {
    /// From the runs' req/s, p50 and p99 (the first three of `r`).
    pub(crate) fn of(r: &[Vec<f64>]) -> Self {
        Self {
            rps: Stat::of(&r[0]),
            p50_us: Stat::of(&r[1]),
            p99_us: Stat::of(&r[2]),
        }
    }
}

/// The servers compared in the throughput table, in the table's order.
pub(crate) const SERVERS: [&str; 5] = [
    BARE_AXUM,
    "bare axum on the signer's serve loop",
    SIGNER,
    "grafx-signer (redis store)",
    "node express broker",
];

/// The baseline: a bare axum handler served as a user writes it (`axum::serve`).
pub(crate) const BARE_AXUM: &str = "bare axum";
/// The signer, as shipped.
pub(crate) const SIGNER: &str = "grafx-signer";
/// The connection counts the signer must hold 0.90× of bare axum at.
pub(crate) const RATIO_CONNECTIONS: [u32; 3] = [16, 64, 256];
/// The targets (`cargo xtask bench --check`).
pub(crate) const MIN_RATIO_TO_AXUM: f64 = 0.90;
/// The package's gzip size target (issue #28: under auth0-spa-js's 63 KB).
pub(crate) const PACKAGE_TARGET_BYTES: u64 = 65_536;
/// `grafx.fetch` ÷ raw `fetch`, at most.
pub(crate) const MAX_FETCH_RATIO: f64 = 1.05;
/// Signer RSS under the 64-connection load, at most.
pub(crate) const MAX_RSS_KB_AT_64: u64 = 25 * 1024;

/// A figure for the signer and for the Node broker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Compared<T> {
    #[serde(rename = "grafx-signer")]
    pub signer: T,
    #[serde(rename = "node express broker")]
    pub node: T,
}

/// 1000 concurrent requests at a cold server.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ColdBurst {
    pub upstream_calls: u64,
    pub succeeded: usize,
}

/// 48 simulated hours, a request a minute.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Simulated {
    pub upstream_calls: u64,
    pub requests: u64,
}

/// Upstream economy.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Upstream {
    pub cold_1000: Compared<ColdBurst>,
    pub simulated_48h: Compared<Simulated>,
}

/// A measure that may have failed without failing the whole run (the browser ones need npm and
/// Chromium).
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
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
    /// Calls of each a round (the two interleaved: as many pairs).
    pub calls: u64,
    pub rounds: u64,
    pub ten_tabs_signer_requests: u64,
    /// Which of the two went first in each round's first pair (the two are interleaved call by
    /// call, alternating which goes first).
    #[serde(default)]
    pub fetch_round_order: Vec<String>,
}

/// The browser figures.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Browser {
    pub sizes: Measured<Sizes>,
    pub chromium: Measured<Chromium>,
}

/// How long each wrk run lasted and how often it was repeated, and the signer's log level.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RunSettings {
    pub seconds_per_run: u32,
    pub repeats: usize,
    #[serde(default)]
    pub signer_log_level: String,
}

/// The signer's resident memory.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SignerRss {
    pub idle: u64,
    pub peak_under_load_by_connections: BTreeMap<u32, u64>,
}

/// `target/bench/results.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct BenchResults {
    pub machine: Machine,
    pub settings: RunSettings,
    /// Connections → server name → runs.
    pub throughput: BTreeMap<u32, BTreeMap<String, ServerRuns>>,
    pub upstream: Upstream,
    pub browser: Browser,
    pub signer_rss_kb: SignerRss,
    /// The API proxy against nginx (absent from runs before it was measured).
    #[serde(default)]
    pub proxy: Option<Measured<crate::proxy_bench::ProxyBench>>,
}

fn f(v: Option<f64>) -> String {
    match v {
        Some(n) if n >= 100.0 => format!("{n:.0}"),
        Some(n) if n.is_finite() => format!("{n:.2}"),
        _ => "–".into(),
    }
}

/// A table's "signer ÷ this row" cell: `–` on the signer's own row, else the ratio of the
/// medians.
pub(crate) fn ratio_cell(own_row: bool, signer: f64, row: f64) -> String {
    if own_row {
        "–".into()
    } else {
        format!("{:.2}×", signer / row)
    }
}

fn n<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "–".into(), |v| v.to_string())
}

/// A document's generated part: between two markers naming the JSON it is rendered from.
pub(crate) struct Generated {
    begin: String,
    end: &'static str,
}

/// See [`Generated`].
const GENERATED_END: &str = "<!-- end of the generated part -->";

impl Generated {
    /// The part rendered by `command` from `json` (a path under the repository).
    pub(crate) fn new(command: &str, json: &str) -> Self {
        Self {
            begin: format!("<!-- generated by `{command}` from {json}: do not edit by hand -->"),
            end: GENERATED_END,
        }
    }

    /// BENCHMARKS.md's, from `cargo xtask bench`.
    pub(crate) fn bench() -> Self {
        Self::new("cargo xtask bench", BENCH_JSON)
    }

    /// RELIABILITY.md's soak figures, from `cargo xtask soak`.
    pub(crate) fn soak() -> Self {
        Self::new("cargo xtask soak", SOAK_JSON)
    }

    /// `doc` with this part replaced by `generated` (put first when it has none).
    pub(crate) fn replace(&self, doc: &str, generated: &str) -> String {
        let block = format!("{}\n{generated}{}\n", self.begin, self.end);
        match (doc.find(&self.begin), doc.find(self.end)) {
            (Some(b), Some(e)) if b < e => {
                format!(
                    "{}{block}{}",
                    &doc[..b],
                    doc[e + self.end.len()..].trim_start_matches('\n')
                )
            }
            _ => format!("{block}\n{doc}"),
        }
    }

    /// This part of `doc`, when it has one (the tests compare it with its JSON).
    #[cfg(test)]
    pub(crate) fn part<'d>(&self, doc: &'d str) -> Option<&'d str> {
        let b = doc.find(&self.begin)? + self.begin.len() + 1;
        let e = doc.find(self.end)?;
        doc.get(b..e)
    }
}

/// The last full bench run, as committed (BENCHMARKS.md quotes it).
pub(crate) const BENCH_JSON: &str = "docs/bench-results.json";
/// The last full soak run, as committed (RELIABILITY.md quotes it).
pub(crate) const SOAK_JSON: &str = "docs/soak-results.json";

/// Writes `json` to `json_path` and regenerates `doc_path`'s part from `markdown`.
pub(crate) fn publish(
    root: &std::path::Path,
    part: &Generated,
    json_path: &str,
    json: &str,
    doc_path: &str,
    markdown: &str,
) -> anyhow::Result<()> {
    std::fs::write(root.join(json_path), json)?;
    let path = root.join(doc_path);
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, part.replace(&doc, markdown))?;
    println!("xtask: wrote {json_path} and the generated part of {doc_path}");
    Ok(())
}

/// One target and whether the run met it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    pub(crate) what: String,
    pub(crate) target: String,
    pub(crate) measured: String,
    pub(crate) met: bool,
}

impl BenchResults {
    /// The targets `cargo xtask bench --check` holds the run to (a measure that could not be
    /// taken is a missed target).
    pub(crate) fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        let mut check = |what: String, target: String, measured: String, met: bool| {
            checks.push(Check {
                what,
                target,
                measured,
                met,
            });
        };
        for c in RATIO_CONNECTIONS {
            let row = self.throughput.get(&c);
            let rps = |name: &str| row.and_then(|r| r.get(name)).map(|s| s.rps.median);
            let ratio = rps(SIGNER).zip(rps(BARE_AXUM)).map(|(s, b)| s / b);
            check(
                format!("cached `POST /token` at {c} connections: grafx-signer ÷ bare axum"),
                format!("at least {MIN_RATIO_TO_AXUM:.2}×"),
                ratio.map_or("not measured".into(), |r| format!("{r:.2}×")),
                ratio.is_some_and(|r| r >= MIN_RATIO_TO_AXUM),
            );
        }
        let cold = &self.upstream.cold_1000.signer;
        check(
            "1000 concurrent cold requests: upstream token calls (succeeded)".into(),
            "exactly 1 (1000/1000)".into(),
            format!("{} ({}/1000)", cold.upstream_calls, cold.succeeded),
            cold.upstream_calls == 1 && cold.succeeded == 1000,
        );
        let sim = &self.upstream.simulated_48h.signer;
        check(
            "48 simulated hours: upstream token calls".into(),
            "at most 3".into(),
            sim.upstream_calls.to_string(),
            sim.upstream_calls <= 3,
        );
        let size = self.browser.sizes.ok().map(|s| s.grafx_wasm_gzip);
        check(
            "gzip -9 of grafx-wasm (.wasm + JS glue + snippets)".into(),
            format!("at most {PACKAGE_TARGET_BYTES} bytes"),
            size.map_or("not measured".into(), |b| format!("{b} bytes")),
            size.is_some_and(|b| b <= PACKAGE_TARGET_BYTES),
        );
        let chromium = self.browser.chromium.ok();
        let ratio = chromium.map(|c| c.fetch_ratio);
        check(
            "`grafx.fetch` ÷ raw `fetch`".into(),
            format!("at most {MAX_FETCH_RATIO:.2}"),
            ratio.map_or("not measured".into(), |r| format!("{r:.2}")),
            ratio.is_some_and(|r| r <= MAX_FETCH_RATIO),
        );
        let tabs = chromium.map(|c| c.ten_tabs_signer_requests);
        check(
            "10 tabs opened at once: signer requests".into(),
            "1".into(),
            tabs.map_or("not measured".into(), |t| t.to_string()),
            tabs == Some(1),
        );
        let rss = self.signer_rss_kb.peak_under_load_by_connections.get(&64);
        check(
            "signer RSS under the 64-connection load".into(),
            format!("at most {MAX_RSS_KB_AT_64} KB"),
            rss.map_or("not measured".into(), |kb| format!("{kb} KB")),
            rss.is_some_and(|kb| *kb <= MAX_RSS_KB_AT_64),
        );
        checks.extend(crate::proxy_bench::ProxyBench::checks(
            self.proxy.as_ref().and_then(Measured::ok),
        ));
        checks
    }

    /// `target/bench/results.md`, and the generated part of BENCHMARKS.md: every figure in it is
    /// read from `results.json`.
    pub(crate) fn markdown(&self) -> String {
        let mut md = String::from("## The last full run\n\n");
        md += &format!(
            "Machine: {} ({} cores), {}. Loopback; servers pinned to core 0, wrk (1 thread) to core 1. {} s per run, {} repeats: medians, with min–max. The signer's log level: {}.\n\n",
            self.machine.cpu,
            self.machine.cores,
            self.machine.memory_total(),
            self.settings.seconds_per_run,
            self.settings.repeats,
            self.settings.signer_log_level,
        );
        md += &self.targets_table();
        md += &self.throughput_table();
        md += "\nThe signer runs at its shipped defaults (info logs, written to a file) except the per-IP limit, which would refuse wrk's single IP; every server is built with the release profile (opt-level 3, LTO), as a user builds an axum app. `bare axum` is a handler returning the signer's reply body, served with `axum::serve` as a user writes it; `bare axum on the signer's serve loop` is the same router on `grafx_signer::serve`, so the two baselines show what the accept loop costs and what the signer's handler costs. `grafx-signer (redis store)` is the same binary with `SIGNER_REDIS_URL`: its ratio is the cost of the shared store.\n\n";
        let u = &self.upstream;
        md += "## Upstream economy\n\n| scenario | grafx-signer | node express broker | target |\n|---|---|---|---|\n";
        md += &format!(
            "| 1000 concurrent cold requests: upstream token calls (succeeded/1000) | {} ({}/1000) | {} ({}/1000) | exactly 1 (1000/1000) |\n",
            u.cold_1000.signer.upstream_calls,
            u.cold_1000.signer.succeeded,
            u.cold_1000.node.upstream_calls,
            u.cold_1000.node.succeeded
        );
        md += &format!(
            "| 48 simulated hours (24 h tokens, 1 h re-issue window, a request a minute): upstream calls | {} | {} | at most 3 |\n\n",
            u.simulated_48h.signer.upstream_calls, u.simulated_48h.node.upstream_calls
        );
        md += &match &self.proxy {
            Some(Measured::Ok(proxy)) => proxy.markdown(),
            Some(Measured::Failed { error }) => {
                format!("## The API proxy against nginx\n\nNot measured: {error}\n\n")
            }
            None => "## The API proxy against nginx\n\nNot measured in this run.\n\n".into(),
        };
        md += &self.browser_table();
        md += &format!(
            "## Signer memory\n\n| state | RSS |\n|---|---|\n| idle | {} KB |\n",
            self.signer_rss_kb.idle
        );
        for (c, kb) in &self.signer_rss_kb.peak_under_load_by_connections {
            md += &format!("| peak under the {c}-connection load | {kb} KB |\n");
        }
        md += &format!(
            "\nTarget: at most {} MB under the 64-connection load.\n",
            MAX_RSS_KB_AT_64 / 1024
        );
        md
    }

    fn targets_table(&self) -> String {
        let checks = self.checks();
        let missed = checks.iter().filter(|c| !c.met).count();
        let mut md = format!(
            "## Targets (`cargo xtask bench --check`): {} of {} met\n\n| measure | target | this run | |\n|---|---|---|---|\n",
            checks.len() - missed,
            checks.len()
        );
        for c in &checks {
            let mark = if c.met { "met" } else { "**missed**" };
            md += &format!("| {} | {} | {} | {mark} |\n", c.what, c.target, c.measured);
        }
        md + "\n"
    }

    fn throughput_table(&self) -> String {
        let mut md = String::from("## Cached `POST /token`\n\n| connections | server | req/s median (min–max) | p50 µs | p99 µs | signer ÷ server |\n|---|---|---|---|---|---|\n");
        for (c, row) in &self.throughput {
            let signer = row.get(SIGNER).map_or(f64::NAN, |s| s.rps.median);
            for name in SERVERS {
                let Some(s) = row.get(name) else { continue };
                let ratio = ratio_cell(name == SIGNER, signer, s.rps.median);
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
            "| gzip -9 of grafx-wasm (.wasm + JS glue + snippets) | {} bytes | at most {PACKAGE_TARGET_BYTES} |\n| gzip -9 of auth0-spa-js 2.27.0 production bundle | {} bytes | reference |\n",
            n(sizes.map(|s| s.grafx_wasm_gzip)),
            n(sizes.and_then(|s| s.auth0_spa_js_2_27_gzip))
        );
        md += &format!(
            "| `grafx.fetch` ÷ raw `fetch` with a fixed bearer, {} calls of each (median of {} rounds; how the two alternate: How to reproduce) | {} | at most 1.05 |\n| wasm init (`await init()`), median | {} ms | – |\n| 10 tabs opened at once: signer requests | {} | 1 |\n\n",
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
#[derive(Debug, Serialize, Deserialize)]
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
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SoakRun {
    pub seconds: u64,
    pub clients: u32,
    pub token_lifetime_secs: u64,
    pub leeway_secs: u64,
    pub replies: u64,
    pub invalid: usize,
    pub first_invalid: Vec<String>,
    pub distinct_tokens: u64,
    /// Tokens checked against the Environment API again from a reply inside the leeway.
    #[serde(default)]
    pub near_expiry_checked: u64,
    pub refreshes: u64,
    pub upstream_calls: u64,
    pub ok: bool,
}

/// `target/bench/soak.json`.
#[derive(Debug, Serialize, Deserialize)]
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
            "Machine: {} ({} cores).\n\n### Load: 64 connections, {} s\n\n| requests | req/s | p50 | p99 | errors | RSS first quarter | RSS last quarter | drift |\n|---|---|---|---|---|---|---|---|\n| {} | {:.0} | {:.2} ms | {:.2} ms | {} | {:.1} MB | {:.1} MB | {:+.1}% |\n\n### Soak: 3 s tokens, 64 clients, {} s\n\n| replies | invalid | distinct tokens (refreshes + 1) | checked again near expiry | upstream calls |\n|---|---|---|---|---|\n| {} | {} | {} | {} | {} |\n\nBoth runs: {}.\n",
            self.machine.cpu,
            self.machine.cores,
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
            soak.near_expiry_checked,
            soak.upstream_calls,
            if load.ok && soak.ok {
                "passed"
            } else {
                "**failed**"
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// BENCHMARKS.md quotes docs/bench-results.json exactly: its generated part is what the JSON
    /// renders.
    #[test]
    fn benchmarks_md_quotes_benchmarks_json() {
        let json = std::fs::read_to_string(root().join(BENCH_JSON)).unwrap();
        let results: BenchResults = serde_json::from_str(&json).unwrap();
        let doc = std::fs::read_to_string(root().join("BENCHMARKS.md")).unwrap();
        let part = Generated::bench()
            .part(&doc)
            .expect("BENCHMARKS.md has its generated part");
        assert!(
            part == results.markdown(),
            "BENCHMARKS.md's generated part differs from {BENCH_JSON}: run `cargo xtask bench`"
        );
        assert!(part.contains("## Targets"), "{part}");
    }

    /// RELIABILITY.md quotes docs/soak-results.json exactly, from a run that passed.
    #[test]
    fn reliability_md_quotes_the_soak_json() {
        let json = std::fs::read_to_string(root().join(SOAK_JSON)).unwrap();
        let results: SoakResults = serde_json::from_str(&json).unwrap();
        let doc = std::fs::read_to_string(root().join("RELIABILITY.md")).unwrap();
        let part = Generated::soak()
            .part(&doc)
            .expect("RELIABILITY.md has its generated soak part");
        assert!(
            part == results.markdown(),
            "RELIABILITY.md's soak figures differ from {SOAK_JSON}: run `cargo xtask soak`"
        );
        assert!(results.load.ok && results.soak.ok, "the quoted soak passed");
        assert!(
            results.soak.seconds >= 600,
            "the quoted soak ran at its defaults"
        );
    }

    #[test]
    fn the_generated_part_is_replaced_and_the_rest_kept() {
        let g = Generated::new("x", "y.json");
        let doc = g.replace("# Notes\n", "A\n");
        assert!(
            doc.starts_with(&g.begin) && doc.ends_with("# Notes\n"),
            "{doc}"
        );
        let again = g.replace(&doc, "B\n");
        assert_eq!(g.part(&again), Some("B\n"));
        assert_eq!(again.matches(&g.begin).count(), 1);
        assert!(again.ends_with("# Notes\n"), "{again}");
        let middle = g.replace("# Top\n\nbefore\n\n", "C\n");
        let placed = format!("before\n{}", g.replace(&middle, "D\n"));
        assert_eq!(g.part(&placed), Some("D\n"));
    }
}
