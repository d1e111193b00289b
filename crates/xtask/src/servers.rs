//! Starting and measuring the servers under test, for `cargo xtask bench` and `cargo xtask soak`:
//! release builds, the emulator and the signer as child processes pinned to core 0, wrk pinned to
//! core 1, RSS sampling, a redis-server, and the emulator's control endpoints.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::bootstrap::{self, Toolchain};

pub(crate) const ORIGIN: &str = "http://app.bench";

/// Logging variables taken out of every measured server's environment.
pub(crate) const LOG_VARIABLES: [&str; 2] = ["RUST_LOG", "SIGNER_LOG_FORMAT"];

/// The log level the measured signers run at: the shipped default, with [`LOG_VARIABLES`]
/// removed.
pub(crate) const SIGNER_LOG_LEVEL: &str =
    "info (the shipped default; RUST_LOG and SIGNER_LOG_FORMAT removed from its environment)";

/// A child process killed on drop.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `cmd` pinned to core 0 and reads its URL from the first stdout line.
    pub(crate) fn start(program: &Path, args: &[&str], env: &[(&str, String)]) -> Result<Self> {
        Self::start_logged(program, args, env, None)
    }

    /// Like `start`, with stderr (the log) written to `log`, as a deployment keeps it.
    pub(crate) fn start_logged(
        program: &Path,
        args: &[&str],
        env: &[(&str, String)],
        log: Option<&Path>,
    ) -> Result<Self> {
        let stderr = match log {
            Some(path) => Stdio::from(
                std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?,
            ),
            None => Stdio::null(),
        };
        let mut cmd = Command::new("taskset");
        cmd.arg("-c")
            .arg("0")
            .arg(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr);
        // Every server runs at its shipped log settings, whatever the caller's shell sets.
        for inherited in LOG_VARIABLES {
            cmd.env_remove(inherited);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().context("stdout")?);
        out.read_line(&mut line)?;
        // The rest of its output is drained, never cut off: a server that prints more lines after
        // its URL must not meet a closed pipe (the emulator's `println!` would then panic, and the
        // process would die mid-run on a busy machine).
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let url = line.trim().trim_end_matches('/').to_owned();
        if !url.starts_with("http://") {
            bail!("{} did not print its URL (got {line:?})", program.display());
        }
        Ok(Self { child, url })
    }

    pub(crate) fn rss_kb(&self) -> u64 {
        rss_kb(self.child.id())
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

pub(crate) fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

pub(crate) fn post_token(url: &str) -> Result<Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let res = reqwest::Client::new()
            .post(format!("{url}/token"))
            .header("origin", ORIGIN)
            .header("x-csrf", "1")
            .send()
            .await?;
        anyhow::Ok(res.error_for_status()?.json::<Value>().await?)
    })
}

/// A wrk duration (`812.00us`, `1.20ms`, `2.00s`) in microseconds.
pub(crate) fn micros(v: &str) -> f64 {
    let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        _ => f64::NAN,
    }
}

/// wrk's summary of one run.
pub(crate) struct WrkRun {
    pub(crate) rps: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) requests: u64,
    pub(crate) non_2xx: u64,
    pub(crate) socket_errors: u64,
}

pub(crate) fn wrk_run(url: &str, conns: u32, secs: u64, script: &Path) -> Result<WrkRun> {
    wrk_at(&format!("{url}/token"), conns, secs, script)
}

/// wrk against `url` (the whole URL) with `script`, pinned to core 1.
pub(crate) fn wrk_at(url: &str, conns: u32, secs: u64, script: &Path) -> Result<WrkRun> {
    let out = Command::new("taskset")
        .args([
            "-c",
            "1",
            "wrk",
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
        ])
        .args(["--latency", "--timeout", "5s", "-s"])
        .arg(script)
        .arg(url)
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_owned()))
    };
    let socket_errors = field("Socket errors:").map_or(0, |v| {
        v.split(',')
            .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum()
    });
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .context("wrk printed no request count")?;
    Ok(WrkRun {
        rps: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .context("wrk printed no Requests/sec")?,
        p50_us: field("50%").map_or(f64::NAN, |v| micros(&v)),
        p99_us: field("99%").map_or(f64::NAN, |v| micros(&v)),
        requests,
        non_2xx: field("Non-2xx or 3xx responses:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        socket_errors,
    })
}

/// One wrk run that must see no error: (requests/s, p50 µs, p99 µs).
pub(crate) fn wrk(url: &str, conns: u32, secs: u32, script: &Path) -> Result<(f64, f64, f64)> {
    let run = wrk_run(url, conns, u64::from(secs), script)?;
    if run.non_2xx + run.socket_errors > 0 {
        bail!(
            "wrk saw {} error responses and {} socket errors from {url}",
            run.non_2xx,
            run.socket_errors
        );
    }
    Ok((run.rps, run.p50_us, run.p99_us))
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

pub(crate) fn signer_env(emulator: &str, listen: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GRAFX_CLIENT_ID", "demo-reader".into()),
        ("GRAFX_CLIENT_SECRET", "demo-reader-secret".into()),
        ("GRAFX_ENVIRONMENT", "demo".into()),
        (
            "GRAFX_ENVIRONMENT_API_URL",
            format!("{emulator}/grafx/api/v1/environment/demo/"),
        ),
        ("GRAFX_AUTH_URL", format!("{emulator}/oauth/token")),
        ("SIGNER_ALLOWED_ORIGINS", ORIGIN.into()),
        ("SIGNER_LISTEN", listen.into()),
        // The one departure from the shipped defaults: wrk is one IP, and the per-IP limit
        // would answer it 429. Logging stays as shipped: info level (RUST_LOG unset).
        ("SIGNER_RATE_LIMIT_PER_MINUTE", "0".into()),
    ]
}

pub(crate) fn emulator_stats(emulator: &str) -> Result<grafx_emulator::Stats> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        anyhow::Ok(
            reqwest::get(format!("{emulator}/_emulator/stats"))
                .await?
                .json::<grafx_emulator::Stats>()
                .await?,
        )
    })
}

pub(crate) fn emulator_post(emulator: &str, path: &str, body: Value) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{emulator}/_emulator/{path}"))
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
        anyhow::Ok(())
    })
}

/// A redis-server on a free loopback port, killed on drop.
pub(crate) struct RedisChild {
    child: Child,
    pub(crate) url: String,
}

impl RedisChild {
    pub(crate) fn start() -> Result<Self> {
        let port = free_port()?;
        let child = Command::new(bootstrap::REDIS_SERVER)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server")?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            child,
            url: format!("redis://127.0.0.1:{port}/"),
        })
    }
}

impl Drop for RedisChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The release emulator without its token rate limit.
pub(crate) fn start_emulator(bin: &dyn Fn(&str) -> PathBuf) -> Result<Server> {
    Server::start(
        &bin("grafx-emulator"),
        &["--listen", "127.0.0.1:0", "--token-rate-limit", "0"],
        &[],
    )
}

/// The release signer for the emulator's `demo-reader`, with `extra` environment variables.
pub(crate) fn start_signer(
    bin: &dyn Fn(&str) -> PathBuf,
    emulator: &str,
    extra: &[(&'static str, String)],
) -> Result<Server> {
    let mut env = signer_env(emulator, "127.0.0.1:0");
    env.extend_from_slice(extra);
    // The log goes to a file next to the results, at the shipped level.
    let program = bin("grafx-signer");
    let log = program.parent().and_then(Path::parent).map(|target| {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        target.join("bench").join(format!("signer-{n}.log"))
    });
    if let Some(dir) = log.as_deref().and_then(Path::parent) {
        std::fs::create_dir_all(dir)?;
    }
    Server::start_logged(&program, &[], &env, log.as_deref())
}

/// The bootstrap, plus wrk and nginx (Debian's packages).
pub(crate) fn ensure_tools(root: &Path, install: bool) -> Result<Toolchain> {
    let toolchain = bootstrap::ensure(root, install)?;
    let tools = [
        ("wrk", which("wrk").is_some()),
        ("nginx", Path::new(crate::nginx::NGINX_BIN).exists()),
    ];
    for (package, present) in tools {
        if present {
            continue;
        }
        if !install {
            bail!("{package} is missing (run without --no-install)");
        }
        let status = Command::new("apt-get")
            .args(["install", "-y", "-qq", package])
            .status()?;
        if !status.success() {
            bail!("cannot install {package}");
        }
        if package == "nginx" {
            // Debian's package may start its own server on port 80: the bench runs its own.
            let _ = Command::new(crate::nginx::NGINX_BIN)
                .args(["-s", "stop"])
                .stderr(Stdio::null())
                .status();
        }
    }
    Ok(toolchain)
}

/// Release builds of the signer, the emulator and the bare baseline.
pub(crate) fn build_release(root: &Path) -> Result<()> {
    let status = Command::new("cargo")
        .args([
            "build",
            "--release",
            "-p",
            "grafx-signer",
            "-p",
            "grafx-emulator",
            "-p",
            "bench-baseline",
        ])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }
    Ok(())
}

/// The wrk script for a well-formed `POST /token` from the allowed origin.
pub(crate) fn post_script(out_dir: &Path) -> Result<PathBuf> {
    let script = out_dir.join("post.lua");
    std::fs::write(
        &script,
        format!("wrk.method = \"POST\"\nwrk.headers[\"Origin\"] = \"{ORIGIN}\"\nwrk.headers[\"X-CSRF\"] = \"1\"\n"),
    )?;
    Ok(script)
}

pub(crate) fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(tool))
        .find(|p| p.exists())
}

/// A free loopback port (bound and released; good enough for a test harness on one machine).
pub(crate) fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
