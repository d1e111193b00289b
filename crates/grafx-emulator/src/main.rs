//! `grafx-emulator`: run the local CHILI GraFx stand-in. Prints its base URL as the first line of
//! standard output, then serves until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use grafx_emulator::{start, ClientSpec, EmulatorConfig, Settings};
use tracing_subscriber::EnvFilter;

// The signer's stop signal, written once (handlers installed before the URL is printed).
#[path = "../../grafx-signer/src/shutdown.rs"]
mod shutdown;

/// A local CHILI GraFx: Auth0 token endpoint and Environment API with demo content.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:4010", env = "EMULATOR_LISTEN")]
    listen: SocketAddr,
    /// The environment name served under /grafx/api/v1/environment/NAME/.
    #[arg(long, default_value = "demo")]
    environment: String,
    /// A client as ID:SECRET[:SCOPES], SCOPES comma-separated (read scopes when left out).
    /// Repeatable. Without any, demo-reader and demo-writer exist.
    #[arg(long = "client", value_name = "ID:SECRET[:SCOPES]")]
    clients: Vec<ClientSpec>,
    /// Lifetime of newly issued tokens, in seconds.
    #[arg(long, default_value_t = Settings::default().token_lifetime_secs)]
    token_lifetime: u64,
    /// The same token is returned while more than this many seconds are left.
    #[arg(long, default_value_t = Settings::default().reissue_window_secs)]
    reissue_window: u64,
    /// Token requests per second before 429 (0: unlimited).
    #[arg(long, default_value_t = Settings::default().token_rate_limit)]
    token_rate_limit: u32,
    /// How long an output task runs, in milliseconds.
    #[arg(long, default_value_t = Settings::default().output_render_ms)]
    output_render_ms: u64,
    /// How long a template preview renders (202 replies), in milliseconds.
    #[arg(long, default_value_t = Settings::default().preview_render_ms)]
    preview_render_ms: u64,
    /// How long a finished output can be downloaded, in seconds (CHILI: about 4 hours).
    #[arg(long, default_value_t = Settings::default().output_download_ttl_secs)]
    output_download_ttl: u64,
    /// Answer running output tasks with 202, as older CHILI versions did, instead of 204.
    #[arg(long)]
    legacy_task_status: bool,
    /// Pad every output download to at least this many bytes (streaming tests).
    #[arg(long, default_value_t = 0)]
    output_min_bytes: u64,
    /// Serve `links.nextPage` as the bare next-page token, not a URL carrying it (CHILI's media
    /// connector reads it so).
    #[arg(long)]
    next_page_as_token: bool,
}

/// The binary's allocator: mimalloc, as the signer's. With glibc's, a benchmark's run that
/// created some 200,000 projects (then forgotten) left every later run's project creation with
/// stalls of over 100 ms, which the proxy benchmark measured as the proxies' p99.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("grafx_emulator=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grafx-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), grafx_emulator::Error> {
    let mut config = EmulatorConfig {
        environment: grafx_core::EnvironmentName::new(args.environment)?,
        settings: Settings {
            token_lifetime_secs: args.token_lifetime,
            reissue_window_secs: args.reissue_window,
            token_rate_limit: args.token_rate_limit,
            output_render_ms: args.output_render_ms,
            preview_render_ms: args.preview_render_ms,
            output_download_ttl_secs: args.output_download_ttl,
            legacy_task_status: args.legacy_task_status,
            output_min_bytes: args.output_min_bytes,
            next_page_as_token: args.next_page_as_token,
            ..Settings::default()
        },
        ..EmulatorConfig::default()
    };
    if !args.clients.is_empty() {
        config.clients = args.clients;
    }
    let clients = config.clients.clone();
    // Before the URL is printed: whoever reads it may stop the emulator at once.
    let stop = shutdown::shutdown_signal();
    let running = start(config, args.listen).await?;
    let em = running.emulator();
    // First line: the base URL alone, for scripts. A reader that stops after it (a closed pipe)
    // must not stop the emulator: write errors are ignored.
    let mut banner = format!(
        "{}\n  token endpoint:  {}\n  environment API: {}\n",
        em.base_url(),
        em.token_url(),
        em.environment_api_url()
    );
    for c in &clients {
        banner += &format!("  client {} ({})\n", c.id, c.scopes);
    }
    {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    stop.await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}
