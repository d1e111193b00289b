//! A real redis-server (the Debian package) as a child process, on a free loopback port.
#![allow(dead_code, clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use grafx_testkit::REDIS_SERVER;

/// Waits (at most 10 s) until something accepts connections on `port`, and panics otherwise.
pub fn wait_until_listening(port: u16) {
    for _ in 0..500 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server did not listen on port {port} within 10 s");
}

/// Waits (at most 10 s) until the plain-TCP redis-server on `port` answers `PING`: a replica
/// that started while it did not would refresh alone, and the upstream counts would be off.
pub fn wait_until_answering(port: u16) {
    use std::io::{Read, Write};
    for _ in 0..500 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let mut reply = [0u8; 7];
            if s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut reply).is_ok()
                && &reply == b"+PONG\r\n"
            {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server on port {port} did not answer PING within 10 s");
}

/// A redis-server child process, killed on drop.
pub struct Redis {
    child: Option<Child>,
    port: u16,
}

impl Redis {
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, &["--save", "", "--appendonly", "no"])
    }

    /// A redis-server that persists what it holds in `dir` (`appendonly yes`, `appendfsync
    /// always`), as the README asks of a Redis holding ownership records: a restart keeps them.
    pub fn start_persistent(port: u16, dir: &std::path::Path) -> Self {
        let dir = dir.display().to_string();
        Self::start_with(
            port,
            &[
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                &dir,
            ],
        )
    }

    fn start_with(port: u16, persistence: &[&str]) -> Self {
        assert!(
            std::path::Path::new(REDIS_SERVER).exists(),
            "redis-server is not installed: `cargo xtask test` installs it (Debian package redis-server)"
        );
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(persistence)
            .args(["--protected-mode", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until_answering(port);
        Self {
            child: Some(child),
            port,
        }
    }

    /// A TLS-only redis-server (`--port 0`) with a certificate for 127.0.0.1 from a private CA
    /// made in `dir` ([`grafx_testkit::PrivateCa`]); returns it and the CA's PEM.
    pub fn start_tls(dir: &std::path::Path) -> (Self, Vec<u8>) {
        let ca = grafx_testkit::PrivateCa::create(dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let file = |p: std::path::PathBuf| p.display().to_string();
        let child = Command::new(REDIS_SERVER)
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--tls-cert-file",
                &file(ca.server_pem()),
                "--tls-key-file",
                &file(ca.server_key()),
            ])
            .args([
                "--tls-ca-cert-file",
                &file(ca.ca_pem()),
                "--tls-auth-clients",
                "no",
            ])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until_listening(port);
        let ca = std::fs::read(ca.ca_pem()).unwrap();
        (
            Self {
                child: Some(child),
                port,
            },
            ca,
        )
    }

    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
