//! `grafx-signer`: serve tokens (the default), print one (`token`), or check the configuration
//! and credentials (`check`).

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use grafx_signer::{AppState, ConfigArgs, Error, SignerConfig, SignerService};
use tracing_subscriber::EnvFilter;

/// The binary's allocator: mimalloc, which the API proxy's many short-lived buffers (headers,
/// held JSON replies) ask of far more often than a token reply does, and which serves them faster
/// than the C library's (glibc's, and musl's in a static build). A program that links the
/// library keeps its own. Built without transparent huge pages (`no_thp`): with them a 64 MiB
/// download through the proxy grew the signer's RSS in 2 MiB steps (20 MB against 2.7 MB
/// without, the same throughput; BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `--version`: the crate's version and the commit it was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GRAFX_SIGNER_COMMIT"),
    ")"
);

/// Keeps a CHILI GraFx client secret server-side and hands short-lived tokens to trusted browsers.
#[derive(Debug, Parser)]
#[command(version = VERSION, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: ConfigArgs,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "SIGNER_LOG_FORMAT", global = true)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Print one fresh access token to stdout (for curl or Swagger).
    Token {
        /// The integration (default: the configured default).
        #[arg(long)]
        integration: Option<String>,
    },
    /// Validate the configuration and prove each integration's credentials work.
    Check,
}

/// Logs go to stderr through a background thread, so that a request does not wait on the log sink
/// (a pipe, a disk). Not lossy: when the queue is full, requests wait rather than audit lines being
/// dropped. The guard flushes what is queued when `main` returns.
fn init_tracing(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A queue of 8192 lines (the default 128k preallocates about 4 MB). The log thread writes
    // through a buffer it flushes whenever the queue is empty: under load one write per batch of
    // lines, not one per line, so a burst of audit lines cannot fill the queue and stall the
    // requests that log them; when idle every line is out at once.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(8_192)
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    // Colours only for a terminal, not for a file or a log collector.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_timer(grafx_signer::UtcTime)
        .with_writer(writer);
    match format {
        // `tracing-subscriber`'s text, with less work per line (see `PlainFields`, `PlainLine`).
        LogFormat::Text => builder
            .fmt_fields(grafx_signer::PlainFields)
            .event_format(grafx_signer::PlainLine::new(grafx_signer::UtcTime))
            .init(),
        LogFormat::Json => builder.json().init(),
    }
    guard
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _flush_logs_on_exit = init_tracing(cli.log_format);
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("grafx-signer: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(&cli.config).await,
            Command::Token { integration } => token(&cli.config, integration).await,
            Command::Check => check(&cli.config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grafx-signer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The async runtime for the CPUs this process may use (its affinity, or a container's CPU
/// quota): tokio's multi-threaded runtime (a worker per CPU, or `TOKIO_WORKER_THREADS`), or with
/// one CPU and no `TOKIO_WORKER_THREADS` the single-threaded runtime, which runs the same tasks on
/// that one thread with less bookkeeping than a pool of one worker (1-2% fewer instructions per
/// proxied request, BENCHMARKS.md). The accept loop shares that thread with the connections, as
/// it shares the one CPU anyway; blocking work has threads of its own either way.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let one_thread = cpus == 1 && std::env::var_os("TOKIO_WORKER_THREADS").is_none();
    let mut builder = if one_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}

fn banner(config: &SignerConfig, addr: SocketAddr) {
    tracing::info!("grafx-signer listening on http://{addr}");
    // What runs, asked of the runtime itself.
    let runtime = tokio::runtime::Handle::current();
    match runtime.runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => {
            tracing::info!("async runtime: one thread (this process may use one CPU)");
        }
        _ => tracing::info!(
            "async runtime: {} worker threads",
            runtime.metrics().num_workers()
        ),
    }
    for i in config.integrations.values() {
        let origins = &i.allowed_origins;
        tracing::info!(
            "integration `{}`{}: client {}, environment {}, API {}, auth {}, allowed origins: {}",
            i.name,
            if i.name == config.default_integration {
                " (default)"
            } else {
                ""
            },
            i.client_id,
            i.environment,
            i.environment_api_url,
            i.auth_url,
            origins
        );
    }
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    match &config.redis {
        Some(r) => tracing::info!(
            "token store: Redis at {} (shared by every replica with the same URL and key)",
            r.url_redacted()
        ),
        None => tracing::info!("token store: this process's memory (one replica)"),
    }
    if let Some(dir) = &config.static_dir {
        tracing::info!("serving static files from {}", dir.display());
    }
}

async fn serve(args: &ConfigArgs) -> Result<(), Error> {
    let config = args.load()?;
    // Before the URL is printed: whoever reads it may stop the signer at once.
    let stop = grafx_signer::shutdown_signal();
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    banner(&config, addr);
    // First line of stdout: the base URL, for scripts.
    println!("http://{addr}");
    let state = AppState::new(config)?;
    state.start_refreshers();
    tokio::spawn(reload_on_sighup(state.clone()));
    let options = state.config().serve_options();
    let ops = match state.config().ops_listen {
        Some(ops_addr) => {
            let ops_listener = tokio::net::TcpListener::bind(ops_addr).await?;
            tracing::info!(
                "operational endpoints (/healthz, /readyz, /metrics) on http://{}",
                ops_listener.local_addr()?
            );
            let router =
                grafx_signer::SignerService::router_only(grafx_signer::ops_app(state.clone()));
            Some(tokio::spawn(grafx_signer::serve(
                ops_listener,
                router,
                options,
                std::future::pending(),
            )))
        }
        None => None,
    };
    grafx_signer::serve(
        listener,
        SignerService::new(state.clone()),
        options,
        async {
            stop.await;
            tracing::info!("shutting down: finishing in-flight requests");
        },
    )
    .await?;
    if let Some(ops) = ops {
        ops.abort();
    }
    state.stop_refreshers();
    Ok(())
}

async fn reload_on_sighup(state: AppState) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            match state.config().source.load() {
                Ok(config) => {
                    let old = state.config();
                    let redis = |c: &SignerConfig| c.redis.as_ref().map(|r| r.url_redacted());
                    for (changed, what) in [
                        (old.listen != config.listen, "listen"),
                        (old.ops_listen != config.ops_listen, "ops_listen"),
                        (old.static_dir != config.static_dir, "static_dir"),
                        (redis(&old) != redis(&config), "the Redis settings"),
                    ] {
                        if changed {
                            tracing::warn!(
                                "{what} changed: this takes a restart; SIGHUP does not apply it"
                            );
                        }
                    }
                    let warnings = config.warnings();
                    let kept = state.reload(config).await;
                    for warning in warnings {
                        tracing::warn!("{warning}");
                    }
                    tracing::info!(
                        ?kept,
                        "configuration reloaded; kept the cached tokens of unchanged integrations"
                    );
                }
                Err(e) => tracing::error!("reload failed, keeping the running configuration: {e}"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = state;
}

async fn token(args: &ConfigArgs, integration: Option<String>) -> Result<(), Error> {
    let config = args.load()?;
    let name = integration.unwrap_or_else(|| config.default_integration.clone());
    let state = AppState::new(config)?;
    let cache = state.cache(&name).ok_or_else(|| Error::Config {
        setting: grafx_signer::Setting::Arg("--integration".into()),
        message: format!("no integration is named `{name}`"),
    })?;
    let (token, _) = cache.get().await?;
    println!("{}", token.access_token.secret());
    Ok(())
}

/// What `check` warns about a token's scopes: a browser-facing integration that can write, and
/// scopes its `browser_scopes` refuses.
fn scope_warnings(
    integration: &grafx_signer::Integration,
    scope: &grafx_core::Scopes,
) -> Vec<String> {
    let browser_facing = integration.allowed_origins != grafx_signer::OriginPolicy::ServerSideOnly;
    let mut warnings = Vec::new();
    // A token with any refused scope is not handed to browsers at all.
    let handed_to_browsers = browser_facing
        && integration
            .browser_scopes
            .as_ref()
            .is_none_or(|p| p.refused(scope).is_empty());
    let renders: Vec<&str> = scope.renders().collect();
    if handed_to_browsers && !renders.is_empty() {
        warnings.push(format!(
            "browsers can obtain this token and it can start renders ({}): {}",
            renders.join(" "),
            grafx_signer::RENDERS_IN_BROWSERS
        ));
    }
    match &integration.browser_scopes {
        Some(policy) => {
            let refused = policy.refused(scope);
            if browser_facing && !refused.is_empty() {
                warnings.push(format!(
                    "browser_scopes ({policy}) refuses {}: browsers will get scope_not_allowed",
                    refused.join(" ")
                ));
            }
        }
        None => {
            let writes: Vec<&str> = scope.writes().collect();
            if browser_facing && !writes.is_empty() {
                warnings.push(format!(
                    "browsers can obtain this token and it can write ({}); CHILI advises a read-only integration for browsers: set browser_scopes = \"read-only\" (SIGNER_BROWSER_SCOPES=read-only) or allowed_origins = [] for server-side use",
                    writes.join(" ")
                ));
            }
        }
    }
    warnings
}

async fn check(args: &ConfigArgs) -> Result<(), Error> {
    let config = args.load()?;
    println!(
        "configuration OK: {} integration(s), listening on {}",
        config.integrations.len(),
        config.listen
    );
    let state = AppState::new(config.clone())?;
    let mut failed = None;
    for (name, integration) in &config.integrations {
        let Some(cache) = state.cache(name) else {
            continue;
        };
        match cache.get().await {
            Ok((token, _)) => {
                println!(
                    "  {name}: OK, token valid for {}s, scope `{}`",
                    token.expiry.lifetime().as_secs(),
                    token.scope
                );
                for warning in scope_warnings(integration, &token.scope) {
                    println!("    WARNING: {warning}");
                }
            }
            Err(e) => {
                println!("  {name}: FAILED: {e}");
                failed = Some(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
