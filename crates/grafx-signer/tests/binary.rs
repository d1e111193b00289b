//! The `grafx-signer` binary: secret hygiene at trace level, graceful shutdown, sub-commands and
//! fail-fast configuration errors.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use grafx_emulator::{start, ClientSpec, EmulatorConfig, RunningEmulator, Settings};

const SECRET: &str = "S3CR3T-do-not-leak-7f1e9a";
const ORIGIN: &str = "http://app.test:3000";

async fn emulator() -> RunningEmulator {
    let config = EmulatorConfig::default()
        .with_clients(vec![ClientSpec::new(
            "hygiene",
            SECRET,
            ClientSpec::read_scopes(),
        )])
        .with_settings(Settings {
            token_rate_limit: 0,
            ..Settings::default()
        });
    start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn signer(em: &RunningEmulator, secret: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_grafx-signer"));
    c.args(args)
        .env_clear()
        .env("GRAFX_CLIENT_ID", "hygiene")
        .env("GRAFX_CLIENT_SECRET", secret)
        .env("GRAFX_ENVIRONMENT", "demo")
        .env(
            "GRAFX_ENVIRONMENT_API_URL",
            em.emulator().environment_api_url(),
        )
        .env("GRAFX_AUTH_URL", em.emulator().token_url())
        .env("SIGNER_ALLOWED_ORIGINS", ORIGIN)
        .env("SIGNER_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// A fresh directory for one test's files (`tag` and this process's id), holding the client
/// secret in `secret`.
fn dir_with_secret(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("grafx-signer-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    dir
}

/// Starts `serve` and returns the child and its base URL (the first stdout line).
fn serve(mut cmd: Command) -> (Child, String, BufReader<std::process::ChildStdout>) {
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("http://127.0.0.1:"),
        "first line: {line:?}"
    );
    (child, line.trim().to_owned(), out)
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn wait_exit(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    for _ in 0..secs * 20 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("did not exit within {secs}s");
}

/// Stops the signer with SIGTERM and returns how it exited and what it wrote: `stdout` (when
/// given), then stderr (the log).
fn stop_and_read_logs(
    child: &mut Child,
    stdout: Option<BufReader<std::process::ChildStdout>>,
) -> (std::process::ExitStatus, String) {
    sigterm(child);
    let status = wait_exit(child, 10);
    let mut logs = String::new();
    if let Some(mut out) = stdout {
        out.read_to_string(&mut logs).unwrap();
    }
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    (status, logs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_never_appears_in_logs_responses_or_metrics_even_at_trace() {
    let em = emulator().await;
    let mut cmd = signer(&em, SECRET, &["serve"]);
    cmd.env("RUST_LOG", "trace");
    let (mut child, url, stdout) = serve(cmd);
    let http = reqwest::Client::new();
    let mut seen = String::new();
    let post = |origin: &str, csrf: bool| {
        let mut r = http.post(format!("{url}/token")).header("origin", origin);
        if csrf {
            r = r.header("x-csrf", "1");
        }
        r.send()
    };
    let ok = post(ORIGIN, true).await.unwrap();
    assert_eq!(ok.status(), 200);
    let issued = ok.text().await.unwrap();
    let access_token = serde_json::from_str::<grafx_core::SignerToken>(&issued)
        .unwrap()
        .access_token
        .secret()
        .to_owned();
    seen += &issued;
    seen += &post("https://evil.example", true)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    seen += &post(ORIGIN, false).await.unwrap().text().await.unwrap();
    for path in ["/readyz", "/healthz", "/metrics", "/nope"] {
        seen += &http
            .get(format!("{url}{path}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    }
    assert!(seen.contains("grafx_signer_upstream_requests_total"));
    let (status, logs) = stop_and_read_logs(&mut child, Some(stdout));
    assert!(status.success(), "graceful exit 0 on SIGTERM, got {status}");
    assert!(logs.contains("TRACE"), "trace logging was really on");
    assert!(logs.contains("obtained a token"));
    assert!(!logs.contains(SECRET), "secret leaked into logs");
    // The audit trail names who got a token for what, and never the token itself.
    let audit = logs
        .lines()
        .find(|l| l.contains("grafx_signer::audit") && l.contains("token issued"))
        .expect("an audit line for the token handed out");
    assert!(
        audit.contains("integration") && audit.contains(ORIGIN),
        "{audit}"
    );
    assert!(
        !logs.contains(&access_token),
        "a token leaked into the logs"
    );
    assert!(
        logs.contains("WARN")
            && logs.contains("integration `default`: a browser token with an output:* scope")
            && logs.contains("browser_scopes = ["),
        "the banner says browsers may start renders, and how to refuse them: {logs}"
    );
    assert!(
        !seen.contains(SECRET),
        "secret leaked into a response or metrics"
    );

    // A rejected secret (wrong, but also distinctive) is not echoed either.
    let wrong = "WRONG-s3cret-also-private-42";
    let mut cmd = signer(&em, wrong, &["serve"]);
    cmd.env("RUST_LOG", "trace");
    let (mut child, url, stdout) = serve(cmd);
    let res = reqwest::Client::new()
        .post(format!("{url}/token"))
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    let body = res.text().await.unwrap();
    let (_, logs) = stop_and_read_logs(&mut child, Some(stdout));
    assert!(!logs.contains(wrong) && !body.contains(wrong));
    assert!(
        logs.contains("upstream_rejected") || logs.contains("refused integration"),
        "the failure is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_origin_is_logged_once_at_the_default_level() {
    // README's troubleshooting row: browsers hide a refused preflight, so the log must say which
    // origin to add. A page retrying writes one line, not one per request; another wrong origin
    // still gets its own line (a flood of one origin cannot hide the next).
    let em = emulator().await;
    let (mut child, url, _out) = serve(signer(&em, SECRET, &["serve"]));
    let http = reqwest::Client::new();
    for origin in ["https://wrong.example"; 5]
        .into_iter()
        .chain(["https://other.example"; 2])
    {
        let res = http
            .request(reqwest::Method::OPTIONS, format!("{url}/token"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
    }
    let ok = http
        .post(format!("{url}/token"))
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let (_, logs) = stop_and_read_logs(&mut child, None);
    let refused: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("refused: origin"))
        .collect();
    assert_eq!(refused.len(), 2, "one line per refused origin:\n{logs}");
    for (line, origin) in refused
        .iter()
        .zip(["https://wrong.example", "https://other.example"])
    {
        assert!(
            line.contains("INFO") && line.contains(origin) && line.contains("/token"),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_right_after_the_url_is_printed_still_shuts_down_gracefully() {
    // An orchestrator may stop the signer the moment it starts: the handler must already be
    // installed when the URL is printed, or the default action kills the process (no drain).
    let em = emulator().await;
    for _ in 0..5 {
        let (mut child, _url, stdout) = serve(signer(&em, SECRET, &["serve"]));
        let (status, logs) = stop_and_read_logs(&mut child, Some(stdout));
        assert!(
            status.success(),
            "exit after an early SIGTERM: {status}\n{logs}"
        );
        assert!(logs.contains("shutting down"), "{logs}");
    }
}

#[test]
fn version_names_the_release_and_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_grafx-signer"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let said = String::from_utf8(out.stdout).unwrap();
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let expected = format!(
        "grafx-signer {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        commit.as_deref().unwrap_or("unknown")
    );
    assert_eq!(said.trim(), expected);
}

#[test]
fn help_never_shows_the_redis_password() {
    // clap prints `[env: NAME=value]` for a set variable unless told not to.
    let help = Command::new(env!("CARGO_BIN_EXE_grafx-signer"))
        .arg("--help")
        .env("SIGNER_REDIS_URL", "redis://:hunter2@cache.internal:6379/0")
        .env("SIGNER_LISTEN", "127.0.0.1:9999")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[env: SIGNER_REDIS_URL"), "{help}");
    assert!(!help.contains("hunter2"), "{help}");
    // The guard: other variables' values are shown, so the test reads what clap prints.
    assert!(help.contains("SIGNER_LISTEN=127.0.0.1:9999"), "{help}");
}

#[test]
fn the_compose_example_sets_only_variables_the_signer_reads() {
    let help = Command::new(env!("CARGO_BIN_EXE_grafx-signer"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let compose = include_str!("../../../deploy/compose.yaml");
    let names: Vec<&str> = compose
        .lines()
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k))
        .filter(|k| k.starts_with("GRAFX_") || k.starts_with("SIGNER_"))
        .collect();
    assert!(names.len() >= 6, "{names:?}");
    for name in names {
        assert!(
            help.contains(&format!("[env: {name}")),
            "deploy/compose.yaml sets {name}, which the signer does not read"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_ssl_cert_file_stops_the_start_naming_the_variable() {
    let em = emulator().await;
    let dir = std::env::temp_dir().join(format!("grafx-signer-ssl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "no certificate here\n").unwrap();
    let not_a_cert = dir.join("garbage.pem");
    std::fs::write(
        &not_a_cert,
        "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for (file, says) in [
        (dir.join("missing.pem"), "cannot read"),
        (not_pem, "holds no PEM certificate"),
        (not_a_cert, "not valid"),
    ] {
        let mut cmd = signer(&em, SECRET, &["check"]);
        cmd.env("SSL_CERT_FILE", &file);
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains("SSL_CERT_FILE") && err.contains(says), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_on_request() {
    let em = emulator().await;
    let (mut child, url, _out) = serve(signer(&em, SECRET, &["--log-format", "json"]));
    reqwest::get(format!("{url}/healthz")).await.unwrap();
    let (_, logs) = stop_and_read_logs(&mut child, None);
    let first = logs.lines().next().unwrap();
    let v: serde_json::Value = serde_json::from_str(first).unwrap();
    assert!(
        v["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("listening"),
        "{first}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_check_subcommands() {
    let em = emulator().await;
    let out = signer(&em, SECRET, &["token"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let api = reqwest::Client::new()
        .get(format!("{}templates", em.emulator().environment_api_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200, "the printed token works");

    let out = signer(&em, SECRET, &["check"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("default: OK") && text.contains("template:read"),
        "{text}"
    );
    // CHILI's read-only token carries output:*: it can start renders, and check says how to
    // refuse them.
    assert!(
        text.contains("WARNING: browsers can obtain this token and it can start renders (output:animated output:static)")
            && text.contains("browser_scopes = [")
            && !text.contains("it can write"),
        "{text}"
    );
    let out = signer(&em, SECRET, &["check"])
        .env(
            "SIGNER_BROWSER_SCOPES",
            "template:list,template:read,media:list,media:read,font:list,font:read,myproject:list,myproject:read,template_collection:list,template_collection:read",
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("refuses output:animated output:static") && !text.contains("start renders"),
        "{text}"
    );
    let out = signer(&em, SECRET, &["check"])
        .env_remove("SIGNER_ALLOWED_ORIGINS")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!text.contains("WARNING"), "server-side only: {text}");

    // A browser-facing integration that can write gets a warning; with read-only, a refusal note.
    em.emulator().upsert_client(ClientSpec::new(
        "hygiene-writer",
        SECRET,
        ClientSpec::read_write_scopes(),
    ));
    let out = signer(&em, SECRET, &["check"])
        .env("GRAFX_CLIENT_ID", "hygiene-writer")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("WARNING: browsers can obtain this token and it can write")
            && text.contains("myproject:write")
            && text.contains("read-only"),
        "{text}"
    );
    let out = signer(&em, SECRET, &["check"])
        .env("GRAFX_CLIENT_ID", "hygiene-writer")
        .env("SIGNER_BROWSER_SCOPES", "read-only")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("WARNING: browser_scopes (read-only) refuses")
            && text.contains("scope_not_allowed"),
        "{text}"
    );

    let out = signer(&em, "wrong", &["check"]).output().unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("FAILED") && text.contains("client id"),
        "{text}"
    );

    let out = signer(&em, SECRET, &["token", "--integration", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--integration"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_fails_fast_naming_the_field() {
    let em = emulator().await;
    let cases: [(&str, Option<&str>, &str); 4] = [
        ("SIGNER_ALLOWED_ORIGINS", None, "SIGNER_ALLOWED_ORIGINS"),
        (
            "SIGNER_ALLOWED_ORIGINS",
            Some("*"),
            "--dev-allow-any-origin",
        ),
        ("GRAFX_CLIENT_ID", None, "GRAFX_CLIENT_ID"),
        ("SIGNER_LISTEN", Some("not-an-address"), "--listen"),
    ];
    for (var, value, expect) in cases {
        let mut cmd = signer(&em, SECRET, &["serve"]);
        match value {
            Some(v) => cmd.env(var, v),
            None => cmd.env_remove(var),
        };
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{var}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{var}: {err}");
        assert!(!err.contains(SECRET));
    }
    // The development wildcard works, loudly.
    let mut cmd = signer(&em, SECRET, &["serve", "--dev-allow-any-origin"]);
    cmd.env_remove("SIGNER_ALLOWED_ORIGINS");
    let (mut child, url, _out) = serve(cmd);
    let res = reqwest::Client::new()
        .post(format!("{url}/token"))
        .header("origin", "http://anything.test:1")
        .header("x-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, logs) = stop_and_read_logs(&mut child, None);
    assert!(logs.contains("ANY website"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_config_and_keeps_unchanged_tokens() {
    let em = emulator().await;
    let dir = dir_with_secret("hup");
    let mut cmd = signer(&em, SECRET, &["serve"]);
    cmd.env_remove("GRAFX_CLIENT_SECRET")
        .env("GRAFX_CLIENT_SECRET_FILE", dir.join("secret"));
    let (mut child, url, _out) = serve(cmd);
    let post = || {
        reqwest::Client::new()
            .post(format!("{url}/token"))
            .header("origin", ORIGIN)
            .header("x-csrf", "1")
            .send()
    };
    let first: serde_json::Value = post().await.unwrap().json().await.unwrap();
    let calls = em.emulator().stats().token_requests;
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second: serde_json::Value = post().await.unwrap().json().await.unwrap();
    assert_eq!(first["access_token"], second["access_token"]);
    assert_eq!(
        em.emulator().stats().token_requests,
        calls,
        "the reload kept the cached token"
    );
    // A rotated secret file takes effect on the next SIGHUP (a new token is obtained with it).
    em.emulator().upsert_client(ClientSpec::new(
        "hygiene",
        "rotated-secret",
        ClientSpec::read_scopes(),
    ));
    std::fs::write(dir.join("secret"), "rotated-secret").unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let res = post().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(em.emulator().stats().token_requests > calls);
    let (status, logs) = stop_and_read_logs(&mut child, None);
    assert!(status.success());
    assert!(logs.contains("configuration reloaded"), "{logs}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `SIGNER_OPS_LISTEN`: health, readiness and metrics on their own listener, and not on the public
/// one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_endpoints_can_live_on_their_own_listener() {
    let em = emulator().await;
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ops = free.local_addr().unwrap();
    drop(free);
    let mut cmd = signer(&em, SECRET, &["serve"]);
    cmd.env("SIGNER_OPS_LISTEN", ops.to_string());
    let (mut child, url, _out) = serve(cmd);
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz", "/metrics"] {
        let public = client.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(public.status(), 404, "{path} is not on the public listener");
        let mut status = 0;
        for _ in 0..50 {
            match client.get(format!("http://{ops}{path}")).send().await {
                Ok(r) => {
                    status = r.status().as_u16();
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        assert!(
            status == 200 || (path == "/readyz" && status == 503),
            "{path}: {status}"
        );
    }
    let token = client
        .post(format!("http://{ops}/token"))
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 404, "no tokens on the ops listener");
    sigterm(&child);
    assert!(wait_exit(&mut child, 10).success());
}

/// SIGHUP on a TOML config: every policy change of an integration whose credentials stay the
/// same applies at once (removed origin, caller auth added and removed, tightened scopes), and the
/// cached token is kept throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_every_policy_change_and_keeps_the_token() {
    const OTHER: &str = "http://other.test:3000";
    let em = emulator().await;
    // A client that can write, so that tightening the scopes has something to refuse.
    em.emulator().upsert_client(ClientSpec::new(
        "policy",
        SECRET,
        ClientSpec::read_write_scopes(),
    ));
    let dir = dir_with_secret("policy");
    std::fs::write(
        dir.join("session-key"),
        "a-session-key-of-at-least-32-bytes!!",
    )
    .unwrap();
    let file = dir.join("signer.toml");
    let write = |origins: &str, extra: &str| {
        let text = format!(
            r#"
allowed_origins = [{origins}]
[integrations.reader]
client_id = "policy"
client_secret_file = "{secret}"
environment = "demo"
environment_api_url = "{api}"
auth_url = "{auth}"
{extra}
"#,
            secret = dir.join("secret").display(),
            api = em.emulator().environment_api_url(),
            auth = em.emulator().token_url(),
        );
        std::fs::write(&file, text).unwrap();
    };
    let caller = format!(
        "[integrations.reader.caller]
jwt_secret_file = \"{}\"",
        dir.join("session-key").display()
    );
    write(&format!("\"{ORIGIN}\", \"{OTHER}\""), "");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_grafx-signer"));
    cmd.args(["--config", &file.display().to_string(), "serve"])
        .env_clear()
        .env("SIGNER_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (mut child, url, _out) = serve(cmd);
    let post = |origin: &'static str| {
        reqwest::Client::new()
            .post(format!("{url}/token"))
            .header("origin", origin)
            .header("x-csrf", "1")
            .send()
    };
    let hup = || {
        Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap();
    };
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(post(ORIGIN).await.unwrap()), 200);
    assert_eq!(status(post(OTHER).await.unwrap()), 200);
    let calls = em.emulator().stats().token_requests;

    // The other origin is removed (compromised), and caller authentication is added.
    write(&format!("\"{ORIGIN}\""), &caller);
    hup();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(status(post(OTHER).await.unwrap()), 403, "removed origin");
    assert_eq!(
        status(post(ORIGIN).await.unwrap()),
        401,
        "caller auth added"
    );

    // Caller authentication is removed again: tokens flow, not 503s.
    write(&format!("\"{ORIGIN}\""), "");
    hup();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status(post(ORIGIN).await.unwrap()),
        200,
        "caller auth removed"
    );

    // Scopes are tightened: the cached write token is no longer handed out.
    write(&format!("\"{ORIGIN}\""), "browser_scopes = \"read-only\"");
    hup();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let res = post(ORIGIN).await.unwrap();
    assert_eq!(status(res), 403, "tightened scopes");
    assert_eq!(
        em.emulator().stats().token_requests,
        calls,
        "every reload kept the cached token"
    );
    sigterm(&child);
    assert!(wait_exit(&mut child, 10).success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_zero() {
    let em = emulator().await;
    // A slow upstream keeps requests in flight: the cold token takes 1.5 s to arrive.
    em.emulator()
        .arm_fault(grafx_emulator::FaultSpec {
            target: grafx_emulator::FaultTarget::Token,
            times: 1,
            fault: grafx_emulator::Fault::Delay { ms: 1500 },
        })
        .unwrap();
    let mut cmd = signer(&em, SECRET, &["serve"]);
    cmd.env("SIGNER_RATE_LIMIT_PER_MINUTE", "0"); // 20 requests from one client at once
    let (mut child, url, _out) = serve(cmd);
    let client = reqwest::Client::new();
    let in_flight: Vec<_> = (0..20)
        .map(|_| {
            let req = client
                .post(format!("{url}/token"))
                .header("origin", ORIGIN)
                .header("x-csrf", "1");
            tokio::spawn(async move { req.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    sigterm(&child);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The listener is closed: a new connection is refused while the old requests finish.
    let fresh = reqwest::Client::new()
        .post(format!("{url}/token"))
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        fresh.is_err(),
        "a new request after SIGTERM must not be served: {fresh:?}"
    );
    for r in in_flight {
        assert_eq!(
            r.await.unwrap().unwrap(),
            200,
            "every in-flight request completes"
        );
    }
    let status = wait_exit(&mut child, 10);
    assert!(
        status.success(),
        "exit 0 after a graceful shutdown, got {status}"
    );
}

/// At the shipped log level, every token handed to a signed-in user writes an audit line naming
/// them; anonymous issuance is counted in the metrics instead of writing a line per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lines_name_identified_callers_and_anonymous_issuance_is_counted() {
    let em = emulator().await;
    let key_file = std::env::temp_dir().join(format!("audit-key-{}", std::process::id()));
    let key = "an-hs256-session-key-of-at-least-32-bytes";
    std::fs::write(&key_file, key).unwrap();
    let http = reqwest::Client::new();
    let request = |url: &str, session: Option<&str>| {
        let mut r = http
            .post(format!("{url}/token"))
            .header("origin", ORIGIN)
            .header("x-csrf", "1");
        if let Some(s) = session {
            r = r.bearer_auth(s);
        }
        r.send()
    };
    let logs_of = |mut child: Child, stdout: BufReader<std::process::ChildStdout>| {
        let (status, logs) = stop_and_read_logs(&mut child, Some(stdout));
        assert!(status.success(), "exit after SIGTERM: {status}\n{logs}");
        logs
    };

    // Anonymous callers, at the default level (no RUST_LOG).
    let (child, url, stdout) = serve(signer(&em, SECRET, &["serve"]));
    for _ in 0..5 {
        assert_eq!(request(&url, None).await.unwrap().status(), 200);
    }
    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"grafx_signer_http_requests_total{route="/token",status="200"} 5"#),
        "{metrics}"
    );
    let logs = logs_of(child, stdout);
    assert!(logs.contains("listening"), "the log is there: {logs}");
    assert!(
        !logs.contains("token issued"),
        "no line per anonymous token: {logs}"
    );

    // At debug level every request writes its debug lines, cached ones too: the fast path steps
    // aside for the router's request span and the anonymous audit line.
    let mut cmd = signer(&em, SECRET, &["serve"]);
    cmd.env("RUST_LOG", "info,grafx_signer::audit=debug");
    let (child, url, stdout) = serve(cmd);
    for _ in 0..3 {
        assert_eq!(request(&url, None).await.unwrap().status(), 200);
    }
    let logs = logs_of(child, stdout);
    assert_eq!(
        logs.lines().filter(|l| l.contains("token issued")).count(),
        3,
        "a debug audit line for each anonymous token, cached or not: {logs}"
    );

    // A signed-in user: one audit line per token, naming them.
    let mut cmd = signer(&em, SECRET, &["serve"]);
    cmd.env("SIGNER_CALLER_JWT_SECRET_FILE", &key_file);
    let (child, url, stdout) = serve(cmd);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({ "sub": "alice@example.com", "iat": now, "exp": now + 600 });
    let session = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(request(&url, Some(&session)).await.unwrap().status(), 200);
    let logs = logs_of(child, stdout);
    let _ = std::fs::remove_file(&key_file);
    let audit = logs
        .lines()
        .find(|l| l.contains("token issued"))
        .unwrap_or_else(|| panic!("an audit line for alice: {logs}"));
    assert!(
        audit.contains("grafx_signer::audit") && audit.contains("alice@example.com"),
        "{audit}"
    );
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_download_streams_through_the_proxy_without_being_held() {
    const SIZE: u64 = 128 * 1024 * 1024;
    let em = emulator().await;
    em.emulator().upsert_client(ClientSpec::new(
        "writer",
        SECRET,
        ClientSpec::read_write_scopes(),
    ));
    em.emulator()
        .set_settings(Settings {
            token_rate_limit: 0,
            output_render_ms: 10,
            output_min_bytes: SIZE,
            ..Settings::default()
        })
        .unwrap();
    let dir = dir_with_secret("stream");
    const SESSION_KEY: &str = "a-proxy-session-key-of-at-least-32-bytes";
    std::fs::write(dir.join("session-key"), SESSION_KEY).unwrap();
    let file = dir.join("signer.toml");
    std::fs::write(
        &file,
        format!(
            r#"
listen = "127.0.0.1:0"
allowed_origins = ["{ORIGIN}"]
data_dir = "{data}"
[integrations.writer]
client_id = "writer"
client_secret_file = "{secret}"
environment = "demo"
environment_api_url = "{api}"
auth_url = "{auth}"
[integrations.writer.proxy]
allow = ["POST output/*", "GET output/tasks/*", "GET output/tasks/*/download"]
[integrations.writer.caller]
jwt_secret_file = "{key}"
audience = "app"
"#,
            secret = dir.join("secret").display(),
            key = dir.join("session-key").display(),
            data = dir.join("data").display(),
            api = em.emulator().environment_api_url(),
            auth = em.emulator().token_url(),
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_grafx-signer"));
    cmd.arg("--config")
        .arg(&file)
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (mut child, url, out) = serve(cmd);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let session = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({ "sub": "bob@example.com", "aud": "app", "exp": now + 600 }),
        &jsonwebtoken::EncodingKey::from_secret(SESSION_KEY.as_bytes()).unwrap(),
    )
    .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {session}").parse().unwrap(),
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let api = |path: &str| format!("{url}/api/writer/{path}");
    let task: serde_json::Value = http
        .post(api("output/pdf"))
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .json(&serde_json::json!({ "templateId": "7a1c0e4d-0000-4000-8000-000000000001" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = task["data"]["taskId"].as_str().unwrap().to_owned();
    // Polled for at most 10 s: a render that never finishes fails the test, not hangs it.
    let mut done = None;
    for _ in 0..500 {
        let res = http
            .get(api(&format!("output/tasks/{id}")))
            .header("origin", ORIGIN)
            .header("x-csrf", "1")
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            done = Some(res);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = done.expect("the render finished within 10 s");
    let base = done.url().clone();
    let done: serde_json::Value = done.json().await.unwrap();
    let download = base
        .join(done["links"]["download"].as_str().unwrap())
        .unwrap();
    let pid = child.id();
    let before = rss_kib(pid);
    let mut res = http
        .get(download)
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.content_length(), Some(SIZE));
    let (mut received, mut peak) = (0u64, before);
    while let Some(chunk) = res.chunk().await.unwrap() {
        received += chunk.len() as u64;
        peak = peak.max(rss_kib(pid));
    }
    assert_eq!(received, SIZE);
    let growth_mib = peak.saturating_sub(before) / 1024;
    // Holding the file would add 128 MiB; streaming adds buffers only.
    assert!(
        growth_mib < 32,
        "the signer grew {growth_mib} MiB (from {} MiB) for a 128 MiB download",
        before / 1024
    );
    let (status, logs) = stop_and_read_logs(&mut child, Some(out));
    assert!(status.success(), "{logs}");
    assert!(!logs.contains(SECRET));
    // The render is on record twice, naming the user and the client's address: when it was
    // forwarded, and with CHILI's status.
    for what in ["forwarding write", "proxied write"] {
        let line = logs
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("{what}: {logs}"));
        assert!(
            line.contains("bob@example.com")
                && line.contains("output/pdf")
                && line.contains("client_ip=127.0.0.1"),
            "{line}"
        );
    }
    println!(
        "RSS {} MiB before, peak {} MiB during a 128 MiB download",
        before / 1024,
        peak / 1024
    );
}

/// A TLS front on 127.0.0.1 for `upstream`, with the private CA's server certificate: its port
/// and how many TLS handshakes it completed.
async fn tls_front(
    ca: &grafx_testkit::PrivateCa,
    upstream: String,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(ca.server_pem())
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(ca.server_key()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, upstream, counted) =
                (acceptor.clone(), upstream.clone(), counted.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut up = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (port, handshakes)
}

/// An HTTP egress proxy that only tunnels (`CONNECT host:port`): its port and the targets it
/// was asked for, one per tunnel.
async fn connect_proxy() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let targets = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = targets.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let mut words = head.split_whitespace();
                let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
                    let _ = client.write_all(b"HTTP/1.1 405 Tunnels only\r\n\r\n").await;
                    return;
                };
                seen.lock().unwrap().push(target.to_owned());
                let mut up = tokio::net::TcpStream::connect(target).await.unwrap();
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
            });
        }
    });
    (port, targets)
}

#[tokio::test]
async fn the_api_proxy_reaches_an_https_api_through_the_egress_proxy_trusting_ssl_cert_file() {
    let em = emulator().await;
    let dir = std::env::temp_dir().join(format!("grafx-signer-egress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = grafx_testkit::PrivateCa::create(&dir).unwrap();
    let api = em.emulator().environment_api_url();
    let emulator_addr = api
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once('/'))
        .unwrap()
        .0
        .to_owned();
    let (tls_port, handshakes) = tls_front(&ca, emulator_addr).await;
    let (proxy_port, tunnels) = connect_proxy().await;
    // The same egress proxy spoken to over TLS (an `https://` proxy).
    let (proxy_tls_port, proxy_handshakes) =
        tls_front(&ca, format!("127.0.0.1:{proxy_port}")).await;
    // A proxy that takes connections and never answers: the connect timeout ends the wait.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            held.push(tcp);
        }
    });
    let https_api = format!("https://127.0.0.1:{tls_port}/grafx/api/v1/environment/demo/");
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    let file = dir.join("signer.toml");
    std::fs::write(
        &file,
        format!(
            r#"
listen = "127.0.0.1:0"
allowed_origins = ["{ORIGIN}"]
# The connect timeout is this, 5 s at most; the wait for CHILI's reply is 60 s.
upstream_timeout_secs = 2
[integrations.reader]
client_id = "hygiene"
client_secret_file = "{secret}"
environment = "demo"
environment_api_url = "{https_api}"
auth_url = "{auth}"
[integrations.reader.proxy]
allow = ["GET output/settings"]
require_caller = false
shared_identity = true
"#,
            secret = dir.join("secret").display(),
            auth = em.emulator().token_url(),
        ),
    )
    .unwrap();
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    let proxy_tls_url = format!("https://127.0.0.1:{proxy_tls_port}");
    let silent_url = format!("http://127.0.0.1:{silent_port}");
    let ca_file = ca.ca_pem().display().to_string();
    // What, the environment, and what to expect: the status, whether a tunnel was opened, and
    // what the reply says.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, bool, &'a [&'a str]);
    let cases: [Case<'_>; 6] = [
        (
            "through the egress proxy, trusting the private CA",
            vec![("HTTPS_PROXY", &proxy_url), ("SSL_CERT_FILE", &ca_file)],
            200,
            true,
            &["\"Print PDF\""],
        ),
        (
            "straight, trusting the private CA",
            vec![("SSL_CERT_FILE", &ca_file)],
            200,
            false,
            &["\"Print PDF\""],
        ),
        (
            "NO_PROXY names the host",
            vec![
                ("HTTPS_PROXY", &proxy_url),
                ("NO_PROXY", "127.0.0.1"),
                ("SSL_CERT_FILE", &ca_file),
            ],
            200,
            false,
            &["\"Print PDF\""],
        ),
        (
            "through an https:// egress proxy, trusting the private CA",
            vec![("HTTPS_PROXY", &proxy_tls_url), ("SSL_CERT_FILE", &ca_file)],
            200,
            true,
            &["\"Print PDF\""],
        ),
        (
            "through the egress proxy, trusting Mozilla's roots only",
            vec![("HTTPS_PROXY", &proxy_url)],
            502,
            true,
            &["proxy_upstream_failed", "certificate"],
        ),
        (
            "through an egress proxy that never answers",
            vec![("HTTPS_PROXY", &silent_url), ("SSL_CERT_FILE", &ca_file)],
            504,
            false,
            &[
                "proxy_upstream_timeout",
                "no connection within 2 s",
                "HTTPS_PROXY",
            ],
        ),
    ];
    let http = reqwest::Client::new();
    for (what, env, status, tunnelled, says) in cases {
        let before = tunnels.lock().unwrap().len();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_grafx-signer"));
        cmd.arg("--config")
            .arg(&file)
            .env_clear()
            .envs(env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (mut child, url, _out) = serve(cmd);
        // Twice: the second request reuses the pooled connection (no second tunnel).
        for _ in 0..2 {
            let res = http
                .get(format!("{url}/api/reader/output/settings"))
                .header("origin", ORIGIN)
                .header("x-csrf", "1")
                .send()
                .await
                .unwrap();
            let got = res.status().as_u16();
            let body = res.text().await.unwrap();
            assert_eq!(got, status, "{what}: {body}");
            for said in says {
                assert!(body.contains(said), "{what}: {said}? {body}");
            }
        }
        let opened: Vec<String> = tunnels.lock().unwrap()[before..].to_vec();
        let expected = if !tunnelled {
            Vec::new()
        } else if status == 200 {
            vec![format!("127.0.0.1:{tls_port}")]
        } else {
            // A refused handshake leaves nothing to pool: each request tunnels again.
            vec![format!("127.0.0.1:{tls_port}"); 2]
        };
        assert_eq!(opened, expected, "{what}: tunnels");
        sigterm(&child);
        wait_exit(&mut child, 10);
    }
    assert!(
        handshakes.load(std::sync::atomic::Ordering::SeqCst) >= 4,
        "TLS was spoken"
    );
    assert_eq!(
        proxy_handshakes.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "TLS to the https:// proxy, once for both requests"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// With one CPU (its affinity, as `taskset -c 0` sets it, or a container's quota) the signer
/// runs on tokio's single-threaded runtime, and everything still works on it: a read and a
/// write through the API proxy (a token fetched, the write's audit lines), a graceful stop. With more
/// CPUs (the test machine's) it runs the multi-threaded one.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_cpu_the_signer_runs_on_one_thread_and_serves_the_proxy() {
    // util-linux's `taskset`, found before the signer's environment is cleared, and a CPU this
    // process may use.
    let Some(taskset) = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("taskset"))
            .find(|p| p.is_file())
    }) else {
        println!("skipped: no taskset on PATH (util-linux)");
        return;
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let cpu: String = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(!cpu.is_empty(), "{status}");
    let em = emulator().await;
    em.emulator().upsert_client(ClientSpec::new(
        "writer",
        SECRET,
        ClientSpec::read_write_scopes(),
    ));
    let dir = dir_with_secret("one-cpu");
    let file = dir.join("signer.toml");
    std::fs::write(
        &file,
        format!(
            r#"
listen = "127.0.0.1:0"
allowed_origins = ["{ORIGIN}"]
[integrations.writer]
client_id = "writer"
client_secret_file = "{secret}"
environment = "demo"
environment_api_url = "{api}"
auth_url = "{auth}"
[integrations.writer.proxy]
allow = ["GET output/settings", "POST projects"]
require_caller = false
shared_identity = true
"#,
            secret = dir.join("secret").display(),
            api = em.emulator().environment_api_url(),
            auth = em.emulator().token_url(),
        ),
    )
    .unwrap();
    let signer_on = |cpu: Option<&str>| {
        let mut cmd = match cpu {
            Some(cpu) => {
                let mut c = Command::new(&taskset);
                c.args(["-c", cpu, env!("CARGO_BIN_EXE_grafx-signer")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_grafx-signer")),
        };
        cmd.arg("--config")
            .arg(&file)
            .env_clear()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    };
    let (mut child, url, out) = serve(signer_on(Some(&cpu)));
    let http = reqwest::Client::new();
    let settings = http
        .get(format!("{url}/api/writer/output/settings"))
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status(), 200);
    assert!(settings.text().await.unwrap().contains("\"data\""));
    let created = http
        .post(format!("{url}/api/writer/projects"))
        .header("origin", ORIGIN)
        .header("x-csrf", "1")
        .json(&serde_json::json!({"template": {"id": "7a1c0e4d-0000-4000-8000-000000000002"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let (status, logs) = stop_and_read_logs(&mut child, Some(out));
    assert!(status.success(), "{logs}");
    assert!(
        logs.contains("async runtime: one thread (this process may use one CPU)"),
        "{logs}"
    );
    for what in ["forwarding write", "proxied write"] {
        assert!(
            logs.lines()
                .any(|l| l.contains(what) && l.contains("path=projects")),
            "{what}: {logs}"
        );
    }
    if std::thread::available_parallelism().map_or(1, std::num::NonZero::get) > 1 {
        let (mut child, _, out) = serve(signer_on(None));
        let (status, logs) = stop_and_read_logs(&mut child, Some(out));
        assert!(status.success(), "{logs}");
        assert!(
            logs.contains("async runtime: ") && logs.contains(" worker threads"),
            "{logs}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
