//! `cargo xtask demo`: the emulator (or real CHILI with `--chili`) and grafx-signer, the signer
//! serving `www/` and the grafx-wasm package from its own origin. Also what the end-to-end suites
//! run against.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Parser;
use grafx_emulator::{start, EmulatorConfig, RunningEmulator};
use grafx_signer::{AppState, ConfigArgs, SignerConfig};

use crate::bootstrap::Toolchain;

/// Builds the web package and assembles `target/demo/` = `www/` + `pkg/`.
pub(crate) fn build_site(root: &Path, toolchain: &Toolchain) -> Result<PathBuf> {
    crate::package::build(root, toolchain, "web", "pkg")?;
    assemble_site(root)
}

/// Assembles `target/demo/` from `www/` and the already built `crates/grafx-wasm/pkg/`.
pub(crate) fn assemble_site(root: &Path) -> Result<PathBuf> {
    let site = root.join("target/demo");
    if site.exists() {
        std::fs::remove_dir_all(&site).context("clearing target/demo")?;
    }
    copy_dir(&root.join("www"), &site)?;
    copy_dir(&root.join("crates/grafx-wasm/pkg"), &site.join("pkg"))?;
    // The Studio SDK's own code, from the npm package the test command installs (`npm ci`), so
    // the Studio page runs it offline.
    let sdk = root.join("node_modules/@chili-publish/studio-sdk/_bundles/main.js");
    std::fs::create_dir_all(site.join("vendor"))?;
    std::fs::copy(&sdk, site.join("vendor/studio-sdk.js")).with_context(|| {
        format!(
            "copying the Studio SDK bundle from {} (npm ci installs it)",
            sdk.display()
        )
    })?;
    Ok(site)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The demo's signed-in user: what the app's session names, and so the owner of the projects
/// and renders the demo makes through the API proxy.
pub(crate) const DEMO_USER: &str = "demo-user@example.com";

/// The audience of the demo's session tokens.
const DEMO_SESSION_AUDIENCE: &str = "grafx-demo";

/// Signs the demo user in: a session JWT (HS256, `secret`) written to `session.txt` in the site,
/// where the demo's pages read it (an app sends its own users' sessions).
fn sign_in(site: &Path, secret: &str) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = serde_json::json!({
        "sub": DEMO_USER,
        "aud": DEMO_SESSION_AUDIENCE,
        "iat": now,
        "exp": now + 7 * 24 * 3600,
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())?,
    )?;
    std::fs::write(site.join("session.txt"), token).context("writing the demo session")?;
    Ok(())
}

/// The `writer` integration behind the API proxy, for the signed-in demo user: each user's
/// projects and renders are theirs, recorded in `data_dir`.
fn demo_writer(
    emulator: &RunningEmulator,
    origins: &str,
    session_secret: &str,
) -> Result<grafx_signer::Integration> {
    let mut writer =
        grafx_testkit::emulator_integration(emulator.emulator(), "writer", "demo-writer", None);
    writer.caller = Some(
        grafx_signer::CallerConfig::new(grafx_signer::CallerMethod::JwtSecret(
            grafx_signer::SessionKey::new(session_secret.to_owned()),
        ))
        .with_audience(DEMO_SESSION_AUDIENCE),
    );
    writer.proxy = Some(grafx_signer::ProxyPolicy {
        // What the demo's pages do through the proxy: make, read and edit projects, list
        // them, show previews and render (grafx_testkit's lists, shared with the tests).
        allow: grafx_signer::ProxyAllowList::parse(
            grafx_testkit::PROXY_ALLOW
                .into_iter()
                .chain(grafx_testkit::PROXY_ALLOW_PREVIEWS),
        )?,
        allowed_origins: grafx_signer::OriginPolicy::parse_list(origins)?,
        quotas: vec![grafx_signer::ProxyQuota {
            rule: grafx_signer::ProxyRule::parse("POST output/*")?,
            per_hour: std::num::NonZeroU32::new(120).context("a quota")?,
        }],
        max_request_bytes: grafx_signer::DEFAULT_PROXY_MAX_REQUEST_BYTES,
        require_caller: true,
        shared_identity: false,
    });
    Ok(writer)
}

/// A running demo.
pub(crate) struct DemoStack {
    stack: grafx_testkit::Stack,
    /// The page URL.
    pub(crate) url: String,
    /// The emulator's base URL (none with `--chili`).
    pub(crate) emulator_url: Option<String>,
}

/// Reads the signer's environment variables (GRAFX_*, SIGNER_*) as the signer binary would.
#[derive(Parser)]
struct FromEnv {
    #[command(flatten)]
    config: ConfigArgs,
}

/// The demo's signer configuration, against real CHILI: the signer's environment variables, with
/// the demo's origins and site.
fn chili_config(origins: String, site: PathBuf) -> Result<SignerConfig> {
    let mut args = FromEnv::parse_from(["demo"]).config;
    args.allowed_origins = Some(origins);
    args.static_dir = Some(site);
    args.load()
        .context("the signer's configuration (GRAFX_* environment variables)")
}

/// The demo's signer configuration on the emulator: a read-only `default` for the pages, and
/// the `writer` behind the API proxy for the signed-in demo user.
fn emulator_config(
    emulator: &RunningEmulator,
    origins: &str,
    site: PathBuf,
) -> Result<SignerConfig> {
    let reader = grafx_testkit::read_only_integration(
        emulator.emulator(),
        "default",
        "demo-reader",
        origins,
    )?;
    let mut config = SignerConfig::single(reader);
    // "New project" and "Render" write, which the page's read-only token cannot: they go
    // through the signer's API proxy with the `writer` integration, whose token stays on the
    // server, as the signed-in demo user.
    let secret = format!("demo-session-{:032x}", rand::random::<u128>());
    sign_in(&site, &secret)?;
    let writer = demo_writer(emulator, origins, &secret)?;
    config.data_dir = Some(std::env::temp_dir().join(format!("grafx-demo-{}", std::process::id())));
    config.integrations.insert("writer".into(), writer);
    config.static_dir = Some(site);
    config.rate_limit_per_minute = 600;
    Ok(config)
}

impl DemoStack {
    /// Starts the demo on `listen` (port 0: any free port).
    pub(crate) fn start(site: PathBuf, listen: SocketAddr, chili: bool) -> Result<Self> {
        let runtime = grafx_testkit::Stack::runtime()?;
        let (emulator, state, listener) = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| {
                    format!("cannot listen on {listen}; pick another address with --listen")
                })?;
            let port = listener.local_addr()?.port();
            let origins = format!("http://127.0.0.1:{port},http://localhost:{port}");
            let (emulator, config) = if chili {
                (None, chili_config(origins, site)?)
            } else {
                let emulator = start(EmulatorConfig::default(), "127.0.0.1:0".parse()?).await?;
                let config = emulator_config(&emulator, &origins, site)?;
                (Some(emulator), config)
            };
            let state = AppState::new(config)?;
            state.start_refreshers();
            anyhow::Ok((emulator, state, listener))
        })?;
        let url = format!("http://127.0.0.1:{}/", listener.local_addr()?.port());
        let emulator_url = emulator.as_ref().map(|e| e.base_url().to_owned());
        // What the binary serves: the router behind the token fast path.
        let service = grafx_signer::SignerService::new(state.clone());
        let stack = grafx_testkit::Stack::serve(runtime, emulator, state, service, listener);
        Ok(Self {
            stack,
            url,
            emulator_url,
        })
    }

    /// Runs until Ctrl-C.
    pub(crate) fn wait_for_ctrl_c(&self) {
        self.stack.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
    }

    /// Stops everything.
    pub(crate) fn stop(self) {
        self.stack.stop();
    }
}

/// `cargo xtask demo`.
pub(crate) fn run(root: &Path, install: bool, listen: SocketAddr, chili: bool) -> Result<bool> {
    let toolchain = crate::bootstrap::ensure(root, install)?;
    let site = build_site(root, &toolchain)?;
    let demo = DemoStack::start(site, listen, chili)?;
    match &demo.emulator_url {
        Some(e) => println!("\nxtask: demo on the built-in GraFx emulator ({e}); Ctrl-C stops it"),
        None => {
            println!("\nxtask: demo on CHILI GraFx (credentials from GRAFX_*); Ctrl-C stops it")
        }
    }
    println!("\n    Open {}\n", demo.url);
    demo.wait_for_ctrl_c();
    println!("xtask: shutting down");
    demo.stop();
    Ok(true)
}
