//! `cargo xtask bench`, the API proxy (issue #28): the signer's proxy against what a team would
//! otherwise deploy, nginx `proxy_pass` with the bearer added by `proxy_set_header`, and against
//! the emulator asked straight, side by side in one run.
//!
//! - A 64 MiB output download, first, on a fresh signer: MB/s (curl, pinned to core 1), and how
//!   much the signer's RSS grew while it streamed.
//! - `GET output/settings` and `POST projects` at each connection count: req/s, p50 and p99, and
//!   the CPU each proxy spent per request (its own processes' user + system time ÷ requests):
//!   the emulator shares core 0 with the proxy under test, whichever it is, so the throughput
//!   ratio understates how much faster the faster proxy is; the CPU figure does not.
//!
//! nginx is configured as its documentation advises for a proxy in front of one upstream: one
//! worker (the servers get one core), upstream keep-alive for every connection wrk may hold,
//! no limit on requests per connection (the signer has none), the body kept in memory rather
//! than spilled to a temp file, and its access log on (the signer writes its audit lines). In
//! each repeat the two proxies run one right after the other, each first in every other repeat
//! (`way_order`), and the emulator forgets its projects before each run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::nginx::Nginx;
use crate::proxy_results::Download;
pub(crate) use crate::proxy_results::{
    ProxyBench, CHECK_CONNECTIONS, DIRECT, ROUTES, SIGNER_PROXY, WAYS,
};
use crate::results::{ServerRuns, Stat};
use crate::servers::{emulator_post, rss_kb, start_emulator, wrk_at, Server, ORIGIN};

/// The download's size.
const DOWNLOAD_BYTES: u64 = 64 * 1024 * 1024;
/// The template the projects and the render are made from.
const FLYER: &str = "7a1c0e4d-0000-4000-8000-000000000001";
/// The signer's integration behind the proxy.
pub(crate) const WRITER: &str = "writer";

/// The three ways to one upstream: their base URLs (the signer's proxy, nginx, the emulator
/// straight) and the processes whose CPU time counts for each.
struct Ways<'a> {
    emulator: &'a str,
    bases: [String; 3],
    pids: [Vec<u32>; 3],
    token: &'a str,
    out_dir: &'a Path,
}

/// One route's figures: runs per connection count, and the proxies' CPU µs per request.
type RouteFigures = (
    BTreeMap<u32, BTreeMap<String, ServerRuns>>,
    BTreeMap<u32, BTreeMap<String, f64>>,
);

/// The order of the three ways ([`WAYS`]: the signer, nginx, the emulator straight) in
/// `repeat`: the two proxies one right after the other, each first in every other repeat, and
/// the emulator before them in two repeats of four and after them in the other two. The
/// targets compare the two proxies, so they are kept side by side, and neither always follows
/// the other or the emulator.
fn way_order(repeat: usize) -> [usize; 3] {
    const ORDERS: [[usize; 3]; 4] = [[2, 0, 1], [2, 1, 0], [0, 1, 2], [1, 0, 2]];
    ORDERS[repeat % ORDERS.len()]
}

/// Measures the three ways at `conns` connections, `repeats` times each, `secs` seconds a run.
pub(crate) fn run(
    bin: &dyn Fn(&str) -> PathBuf,
    out_dir: &Path,
    secs: u32,
    repeats: usize,
    conns: &[u32],
) -> Result<ProxyBench> {
    let emulator = start_emulator(bin)?;
    emulator_post(
        &emulator.url,
        "settings",
        json!({ "output_render_ms": 0, "output_min_bytes": DOWNLOAD_BYTES }),
    )?;
    let api = format!("{}/grafx/api/v1/environment/demo/", emulator.url);
    let token = writer_token(&emulator.url)?;
    let signer = start_proxy_signer(bin, &emulator.url, out_dir)?;
    let nginx = Nginx::start(&out_dir.join("nginx"), &api, &token)?;
    let ways = Ways {
        emulator: &emulator.url,
        bases: [
            format!("{}/api/{WRITER}/", signer.url),
            format!("{}/api/{WRITER}/", nginx.url),
            api.clone(),
        ],
        pids: [vec![signer.pid()], nginx.pids(), Vec::new()],
        token: &token,
        out_dir,
    };
    // The download first, while the signer is fresh: its RSS growth is the stream's alone.
    let download = downloads(&signer, &ways.bases, &token, repeats.max(3))?;
    let mut routes = BTreeMap::new();
    let mut cpu = BTreeMap::new();
    for route in ROUTES {
        let (by_conns, cpu_by_conns) = measure_route(&ways, route, secs, repeats, conns)?;
        routes.insert(route.to_owned(), by_conns);
        cpu.insert(route.to_owned(), cpu_by_conns);
    }
    emulator_delete(&emulator.url, "projects")?;
    Ok(ProxyBench {
        nginx: nginx.version.clone(),
        routes,
        download_bytes: DOWNLOAD_BYTES,
        download,
        cpu_us_per_request: cpu,
    })
}

/// `route` through each way at each connection count, the ways in [`way_order`] in each repeat.
fn measure_route(
    ways: &Ways<'_>,
    route: &str,
    secs: u32,
    repeats: usize,
    conns: &[u32],
) -> Result<RouteFigures> {
    let (method, path) = route.split_once(' ').context("a route")?;
    let scripts = WAYS
        .iter()
        .map(|way| script(ways.out_dir, way, method, path, ways.token))
        .collect::<Result<Vec<_>>>()?;
    let mut by_conns = BTreeMap::new();
    let mut cpu_by_conns = BTreeMap::new();
    for &c in conns {
        let mut runs: Vec<[Vec<f64>; 4]> = vec![Default::default(); WAYS.len()];
        for repeat in 0..repeats {
            for i in way_order(repeat) {
                let url = format!("{}{path}", ways.bases[i]);
                let (run, per_request) = one_run(ways, i, route, &url, c, secs, &scripts[i])?;
                runs[i][0].push(run.rps);
                runs[i][1].push(run.p50_us);
                runs[i][2].push(run.p99_us);
                runs[i][3].extend(per_request);
            }
        }
        let row = WAYS
            .iter()
            .zip(&runs)
            .map(|(way, r)| ((*way).to_owned(), ServerRuns::of(r)))
            .collect();
        let cpu_row: BTreeMap<String, f64> = WAYS
            .iter()
            .zip(&runs)
            .filter(|(_, r)| !r[3].is_empty())
            .map(|(way, r)| ((*way).to_owned(), Stat::of(&r[3]).median))
            .collect();
        by_conns.insert(c, row);
        cpu_by_conns.insert(c, cpu_row);
    }
    Ok((by_conns, cpu_by_conns))
}

/// One wrk run of way `i` (no error reply allowed), and its process's CPU µs per request.
fn one_run(
    ways: &Ways<'_>,
    i: usize,
    route: &str,
    url: &str,
    c: u32,
    secs: u32,
    script: &Path,
) -> Result<(crate::servers::WrkRun, Option<f64>)> {
    let way = WAYS[i];
    emulator_delete(ways.emulator, "projects")?;
    let before = cpu_ticks(&ways.pids[i]);
    let run = wrk_at(url, c, u64::from(secs), script)?;
    let spent = cpu_ticks(&ways.pids[i]).zip(before).map(|(a, b)| a - b);
    if run.non_2xx + run.socket_errors > 0 {
        bail!(
            "{way} {route} at {c} connections: {} error replies, {} socket errors",
            run.non_2xx,
            run.socket_errors
        );
    }
    // Clock ticks are 10 ms: over thousands of requests, exact enough.
    let per_request = spent.map(|t| t as f64 * 10_000.0 / run.requests.max(1) as f64);
    println!(
        "xtask: bench {way:<20} {route:<20} c={c:<3} {:>8.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs  cpu {:>5.1} µs/req",
        run.rps, run.p50_us, run.p99_us, per_request.unwrap_or(f64::NAN)
    );
    Ok((run, per_request))
}

/// User + system clock ticks of `pids` so far (None when one cannot be read, or none given).
fn cpu_ticks(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // After the command name in parentheses: state is field 3; utime 14, stime 15.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// The signer with the writer integration behind its proxy (no caller authentication and one
/// shared identity: wrk stands for the app's server), from a config file as a deployment writes
/// it.
fn start_proxy_signer(
    bin: &dyn Fn(&str) -> PathBuf,
    emulator: &str,
    out_dir: &Path,
) -> Result<Server> {
    let config = out_dir.join("proxy-signer.toml");
    std::fs::write(&config, signer_config(emulator))?;
    let log = out_dir.join("proxy-signer.log");
    Server::start_logged(
        &bin("grafx-signer"),
        &["--config", &config.display().to_string()],
        &[],
        Some(&log),
    )
}

/// The signer's configuration: the writer behind the proxy, allowed exactly the measured routes.
fn signer_config(emulator: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
allowed_origins = ["{ORIGIN}"]
# wrk is one IP: the per-IP limit on /token would refuse it (the proxy has none).
rate_limit_per_minute = 0

[integrations.{WRITER}]
client_id = "demo-writer"
client_secret = "demo-writer-secret"
environment = "demo"
environment_api_url = "{emulator}/grafx/api/v1/environment/demo/"
auth_url = "{emulator}/oauth/token"

[integrations.{WRITER}.proxy]
allow = ["GET output/settings", "POST projects", "POST output/*", "GET output/tasks/**"]
# wrk stands for the app's own server: one CHILI user for every request, knowingly.
require_caller = false
shared_identity = true
"#
    )
}

/// The wrk script for `method path` along `way`: the signer's proxy wants the page's `Origin`
/// and `X-CSRF`; the emulator, asked straight, the bearer; nginx adds the bearer itself.
fn script(out_dir: &Path, way: &str, method: &str, path: &str, token: &str) -> Result<PathBuf> {
    let mut lua = format!("wrk.method = \"{method}\"\n");
    if method == "POST" {
        lua += &format!(
            "wrk.body = '{}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n",
            json!({ "template": { "id": FLYER } })
        );
    }
    match way {
        SIGNER_PROXY => {
            lua += &format!(
                "wrk.headers[\"Origin\"] = \"{ORIGIN}\"\nwrk.headers[\"X-CSRF\"] = \"1\"\n"
            );
        }
        DIRECT => lua += &format!("wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n"),
        _ => {}
    }
    let name = format!(
        "proxy-{}-{}.lua",
        way.split(' ').next().unwrap_or(way),
        path.replace('/', "-")
    );
    let file = out_dir.join(name.replace(',', ""));
    std::fs::write(&file, lua)?;
    Ok(file)
}

/// The writer's token, for nginx and the direct calls.
fn writer_token(emulator: &str) -> Result<String> {
    let reply: Value = runtime()?.block_on(async {
        reqwest::Client::new()
            .post(format!("{emulator}/oauth/token"))
            .json(&json!({
                "grant_type": "client_credentials",
                "client_id": "demo-writer",
                "client_secret": "demo-writer-secret",
                "audience": "https://chiligrafx.com",
            }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    })?;
    reply["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("the emulator gave no access_token")
}

fn emulator_delete(emulator: &str, path: &str) -> Result<()> {
    runtime()?.block_on(async {
        reqwest::Client::new()
            .delete(format!("{emulator}/_emulator/{path}"))
            .send()
            .await?
            .error_for_status()?;
        anyhow::Ok(())
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// A render started through the signer's proxy (so the signer knows the task is its caller's),
/// then its file downloaded along each way by curl pinned to core 1, `repeats` times, the
/// signer's RSS sampled meanwhile.
fn downloads(
    signer: &Server,
    bases: &[String; 3],
    token: &str,
    repeats: usize,
) -> Result<BTreeMap<String, Download>> {
    let task = runtime()?.block_on(start_render(&reqwest::Client::new(), &bases[0]))?;
    let path = format!("output/tasks/{task}/download");
    let mut out = BTreeMap::new();
    for (i, way) in WAYS.iter().enumerate() {
        let headers: Vec<String> = match *way {
            SIGNER_PROXY => vec![format!("Origin: {ORIGIN}"), "X-CSRF: 1".into()],
            DIRECT => vec![format!("Authorization: Bearer {token}")],
            _ => Vec::new(),
        };
        let mut speeds = Vec::new();
        let mut growth = Some(0);
        for _ in 0..repeats {
            let before = rss_kb(signer.pid());
            let peak = Arc::new(AtomicU64::new(before));
            let sampling = Arc::new(AtomicBool::new(true));
            let sampler = {
                let (peak, sampling, pid) = (peak.clone(), sampling.clone(), signer.pid());
                std::thread::spawn(move || {
                    while sampling.load(Ordering::Relaxed) {
                        peak.fetch_max(rss_kb(pid), Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
            };
            let timed = curl_download(&format!("{}{path}", bases[i]), &headers);
            sampling.store(false, Ordering::Relaxed);
            let _ = sampler.join();
            let (bytes, secs) = timed?;
            if bytes < DOWNLOAD_BYTES {
                bail!("{way}: the download had {bytes} bytes, not {DOWNLOAD_BYTES}");
            }
            speeds.push(bytes as f64 / secs / 1e6);
            // A signer whose RSS could not be read (0) has no growth figure.
            growth = growth
                .zip((before > 0).then_some(()))
                .map(|(g, ())| g.max(peak.load(Ordering::Relaxed).saturating_sub(before)));
        }
        println!(
            "xtask: bench {way:<20} 64 MiB download {:>8.0} MB/s",
            Stat::of(&speeds).median
        );
        let download = Download {
            mb_per_s: Stat::of(&speeds),
            rss_growth_kb: if *way == SIGNER_PROXY { growth } else { None },
        };
        out.insert((*way).to_owned(), download);
    }
    Ok(out)
}

/// curl, pinned to core 1, reading `url` to /dev/null: (bytes, seconds).
fn curl_download(url: &str, headers: &[String]) -> Result<(u64, f64)> {
    let mut c = Command::new("taskset");
    c.args(["-c", "1", "curl", "-sS", "--fail", "-o", "/dev/null"])
        .args(["-w", "%{size_download} %{time_total}"]);
    for h in headers {
        c.args(["-H", h]);
    }
    let out = c.arg(url).output().context("running curl")?;
    if !out.status.success() {
        bail!(
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text.split_whitespace();
    let bytes = parts
        .next()
        .and_then(|b| b.parse().ok())
        .context("curl's size")?;
    let secs: f64 = parts
        .next()
        .and_then(|t| t.parse().ok())
        .context("curl's time")?;
    Ok((bytes, secs.max(1e-6)))
}

/// `POST output/pdf` through the proxy, polled until its file is ready; the task id.
async fn start_render(http: &reqwest::Client, proxy: &str) -> Result<String> {
    let started: Value = http
        .post(format!("{proxy}output/pdf"))
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .json(&json!({ "templateId": FLYER }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let task = started["data"]["taskId"]
        .as_str()
        .context("no taskId")?
        .to_owned();
    for _ in 0..100 {
        let res = http
            .get(format!("{proxy}output/tasks/{task}"))
            .header("origin", ORIGIN)
            .header("x-csrf", "1")
            .send()
            .await?;
        if res.status() == 200 {
            return Ok(task);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the render {task} did not finish")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_results::NGINX;

    #[test]
    fn the_proxies_run_side_by_side_each_first_as_often() {
        let (signer, nginx, direct) = (0, 1, 2);
        assert_eq!(WAYS[signer], SIGNER_PROXY);
        assert_eq!(WAYS[nginx], NGINX);
        assert_eq!(WAYS[direct], DIRECT);
        let mut firsts = [0; 3];
        let mut direct_last = 0;
        for repeat in 0..8 {
            let order = way_order(repeat);
            let mut sorted = order;
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2], "every way once in {order:?}");
            let at = |way| order.iter().position(|w| *w == way).unwrap();
            assert_eq!(
                at(signer).abs_diff(at(nginx)),
                1,
                "side by side in {order:?}"
            );
            firsts[if at(signer) < at(nginx) {
                signer
            } else {
                nginx
            }] += 1;
            direct_last += usize::from(at(direct) == 2);
        }
        assert_eq!(firsts[signer], 4);
        assert_eq!(firsts[nginx], 4);
        assert_eq!(direct_last, 4);
        // The bench's five repeats: as near even as five allows.
        let signer_first = (0..5)
            .filter(|r| {
                let o = way_order(*r);
                o.iter().position(|w| *w == signer) < o.iter().position(|w| *w == nginx)
            })
            .count();
        assert!((2..=3).contains(&signer_first), "{signer_first} of 5");
    }

    #[test]
    fn the_signer_takes_its_config_and_proxies_the_measured_routes() {
        let dir = std::env::temp_dir().join(format!("proxy-bench-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("signer.toml");
        std::fs::write(&file, signer_config("http://127.0.0.1:4010")).unwrap();
        let args = grafx_signer::ConfigArgs {
            config: Some(file),
            ..grafx_signer::ConfigArgs::default()
        };
        let config = grafx_signer::ConfigSource::new(args, BTreeMap::new())
            .load()
            .expect("the signer accepts the bench's config");
        let writer = &config.integrations[WRITER];
        let proxy = writer.proxy.as_ref().expect("a proxy");
        let allows = |method: &str, path: &str| {
            proxy
                .allow
                .allows(method, &grafx_signer::ProxyPath::parse(path).unwrap())
        };
        for route in ROUTES {
            let (method, path) = route.split_once(' ').unwrap();
            assert!(allows(method, path), "{route}");
        }
        assert!(allows("GET", "output/tasks/t/download"));
        assert!(!allows("DELETE", "projects/p"));
        assert_eq!(
            writer.environment_api_url.as_str(),
            "http://127.0.0.1:4010/grafx/api/v1/environment/demo/"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn each_way_sends_what_its_server_needs() {
        let dir = std::env::temp_dir().join(format!("proxy-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let read = |way| {
            std::fs::read_to_string(script(&dir, way, "POST", "projects", "eyJ.t").unwrap())
                .unwrap()
        };
        let signer = read(SIGNER_PROXY);
        assert!(signer.contains("X-CSRF") && signer.contains(ORIGIN));
        assert!(!signer.contains("Authorization"));
        assert!(read(DIRECT).contains("Bearer eyJ.t"));
        let nginx = read(NGINX);
        assert!(!nginx.contains("Authorization") && !nginx.contains("X-CSRF"));
        assert!(nginx.contains(r#"wrk.body = '{"template":{"id":"#));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
