//! The static signer in an empty root: what a `FROM scratch` image holds, proven without a
//! container daemon (these machines have none).
//!
//! ```ignore
//! empty_root::check(root, &root.join("target/x86_64-unknown-linux-musl/release/grafx-signer"))?;
//! ```
//!
//! The root holds the binary and one PEM file (a private CA), nothing else: no libc, no loader,
//! no `/etc`, no CA bundle, no shell. In it, under `chroot` as the image's user 65532 (or
//! `unshare --map-root-user --root` when not root), the binary must carry Mozilla's roots, print
//! its version, pass `check` by fetching a token over TLS
//! from the emulator behind a local HTTPS front whose certificate that CA signed (trusted through
//! `SSL_CERT_FILE`), fail `check` without that variable (the built-in roots do not know the CA),
//! and serve `/healthz` and a token.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

use anyhow::{Context, Result};
use grafx_testkit::PrivateCa;
use tokio_rustls::rustls;

/// The page origin the signer in the root allows.
const ORIGIN: &str = "http://app.test";

/// An HTTPS front on a free loopback port that forwards each connection to `upstream`.
async fn https_front(ca: &PrivateCa, upstream: SocketAddr) -> Result<SocketAddr> {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(ca.server_pem())?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(ca.server_key())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake (the signer without the CA) just ends the connection.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    Ok(addr)
}

/// The user the image runs as (deploy/Dockerfile's `USER`).
const IMAGE_USER: &str = "65532:65532";

/// The command that runs `/grafx-signer args` inside `dir`, with exactly `env`, as the image's
/// non-root user when this process may switch users.
fn in_root(dir: &Path, args: &[&str], env: &[(String, String)]) -> Command {
    let mut cmd = if crate::bootstrap::is_root() {
        let mut c = Command::new(on_path("chroot", "/usr/sbin/chroot"));
        c.arg(format!("--userspec={IMAGE_USER}"))
            .arg(dir)
            .arg("/grafx-signer");
        c
    } else {
        let mut c = Command::new(on_path("unshare", "/usr/bin/unshare"));
        c.arg("--map-root-user")
            .arg(format!("--root={}", dir.display()))
            .arg("/grafx-signer");
        c
    };
    cmd.args(args).env_clear().envs(env.iter().cloned());
    cmd
}

/// `program`'s full path on this process's PATH, else `usual`: the command's own environment is
/// cleared, so it cannot be looked up there.
fn on_path(program: &str, usual: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(usual))
}

fn output(mut cmd: Command) -> Result<Output> {
    cmd.output().context("cannot start chroot/unshare")
}

/// Runs the checks described in the module header; `bin` is the static signer.
pub(crate) fn check(root: &Path, bin: &Path) -> Result<()> {
    let work = root.join("target/empty-root");
    let _ = std::fs::remove_dir_all(&work);
    let (certs, jail) = (work.join("certs"), work.join("root"));
    std::fs::create_dir_all(&certs)?;
    std::fs::create_dir_all(&jail)?;
    let ca = PrivateCa::create(&certs).map_err(anyhow::Error::msg)?;
    build_root(&work, &jail, bin, &ca)?;
    let rt = tokio::runtime::Runtime::new()?;
    let emulator = rt.block_on(grafx_emulator::start(
        grafx_emulator::EmulatorConfig::default(),
        "127.0.0.1:0".parse()?,
    ))?;
    let front = rt.block_on(https_front(&ca, emulator.addr()))?;
    let mut env = signer_env(&format!("https://{front}"));
    check_version(&jail)?;
    check_tls(&jail, &mut env)?;
    rt.block_on(serve_in_root(&jail, &env))?;
    anyhow::ensure!(
        emulator.emulator().stats().token_requests >= 2,
        "the tokens came from the emulator, through the TLS front"
    );
    Ok(())
}

/// The root: the binary (which must carry Mozilla's roots) and the private CA, nothing else, at
/// the image's modes whatever this process's umask.
fn build_root(work: &Path, jail: &Path, bin: &Path, ca: &PrivateCa) -> Result<()> {
    // Mozilla's roots are compiled in (webpki-roots): the root below has no CA bundle, and CHILI's
    // certificate chains to one of these.
    let image = std::fs::read(bin)?;
    anyhow::ensure!(
        image.windows(12).any(|w| w == b"ISRG Root X1"),
        "the binary does not carry Mozilla's root certificates (webpki-roots)"
    );
    std::fs::copy(bin, jail.join("grafx-signer"))?;
    std::fs::copy(ca.ca_pem(), jail.join("ca.pem"))?;
    // The user 65532 runs the binary and reads the CA, and owns neither.
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [
        (work, 0o755),
        (jail, 0o755),
        (&jail.join("grafx-signer"), 0o755),
        (&jail.join("ca.pem"), 0o644),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(jail)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(
        entries.len() == 2,
        "the root holds more than the binary and the CA"
    );
    Ok(())
}

/// The signer's environment against the emulator behind the HTTPS front at `base`.
fn signer_env(base: &str) -> Vec<(String, String)> {
    vec![
        ("GRAFX_CLIENT_ID".to_owned(), "demo-reader".to_owned()),
        ("GRAFX_CLIENT_SECRET".into(), "demo-reader-secret".into()),
        ("GRAFX_ENVIRONMENT".into(), "demo".into()),
        (
            "GRAFX_ENVIRONMENT_API_URL".into(),
            format!("{base}/grafx/api/v1/environment/demo/"),
        ),
        ("GRAFX_AUTH_URL".into(), format!("{base}/oauth/token")),
        ("SIGNER_ALLOWED_ORIGINS".into(), ORIGIN.into()),
        ("SIGNER_LISTEN".into(), "127.0.0.1:0".into()),
    ]
}

/// `--version` in the root.
fn check_version(jail: &Path) -> Result<()> {
    let version = output(in_root(jail, &["--version"], &[]))?;
    let said = String::from_utf8_lossy(&version.stdout);
    anyhow::ensure!(
        version.status.success() && said.starts_with("grafx-signer "),
        "--version in the empty root: {said}{}",
        String::from_utf8_lossy(&version.stderr)
    );
    println!("xtask: empty root: {}", said.trim());
    Ok(())
}

/// `check` in the root: refused on the private CA's certificate without `SSL_CERT_FILE`, OK with
/// it (which stays in `env` for `serve`).
fn check_tls(jail: &Path, env: &mut Vec<(String, String)>) -> Result<()> {
    let untrusted = output(in_root(jail, &["check"], env))?;
    let text = String::from_utf8_lossy(&untrusted.stdout);
    anyhow::ensure!(
        !untrusted.status.success() && text.contains("FAILED") && text.contains("UnknownIssuer"),
        "check without SSL_CERT_FILE must fail on the certificate (the built-in roots do not know the private CA): {text}"
    );
    println!("xtask: empty root: check without SSL_CERT_FILE fails, as it must");
    env.push(("SSL_CERT_FILE".into(), "/ca.pem".into()));
    let checked = output(in_root(jail, &["check"], env))?;
    let text = String::from_utf8_lossy(&checked.stdout);
    anyhow::ensure!(
        checked.status.success() && text.contains("OK, token valid"),
        "check with SSL_CERT_FILE: {text}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    println!("xtask: empty root: check over TLS with SSL_CERT_FILE: OK");
    Ok(())
}

/// `serve` in the root: `/healthz` answers and a browser origin gets a token.
async fn serve_in_root(jail: &Path, env: &[(String, String)]) -> Result<()> {
    let mut cmd = in_root(jail, &["serve"], env);
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child: Child = cmd.spawn().context("serve in the empty root")?;
    let stdout = child.stdout.take().context("stdout")?;
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let result = async {
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), first)
            .await
            .context("the signer printed no URL within 20 s")???;
        let url = line.trim().to_owned();
        anyhow::ensure!(url.starts_with("http://127.0.0.1:"), "first line: {line:?}");
        let http = reqwest::Client::new();
        let health = http.get(format!("{url}/healthz")).send().await?;
        anyhow::ensure!(health.status() == 200, "/healthz: {}", health.status());
        let token = http
            .post(format!("{url}/token"))
            .header("origin", ORIGIN)
            .header("x-csrf", "1")
            .send()
            .await?;
        let status = token.status();
        let body: serde_json::Value = token.json().await?;
        anyhow::ensure!(
            status == 200 && body["access_token"].as_str().is_some_and(|t| !t.is_empty()),
            "POST /token in the empty root: {status} {body}"
        );
        println!("xtask: empty root: serve: /healthz 200, POST /token 200");
        Ok(())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}
