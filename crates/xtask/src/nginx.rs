//! The benchmark's nginx: Debian's, one worker pinned to the servers' core, one server that
//! passes `/api/writer/` to the Environment API with the bearer added by `proxy_set_header`, as
//! its documentation advises for a proxy in front of one upstream (see `proxy_bench.rs`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The proxied integration's name in the signer's URL (`/api/writer/`), mirrored by nginx.
const WRITER: &str = crate::proxy_bench::WRITER;

/// nginx with one server: `/api/writer/` passed to the Environment API with the bearer added.
pub(crate) struct Nginx {
    child: Child,
    /// Its base URL.
    pub(crate) url: String,
    /// `nginx -v`'s version.
    pub(crate) version: String,
}

impl Drop for Nginx {
    /// SIGTERM to the master, which stops its workers (a SIGKILL would orphan them), then a
    /// SIGKILL for anything left after a few seconds.
    fn drop(&mut self) {
        let workers = self.pids();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in workers.into_iter().skip(1) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// Where Debian installs nginx.
pub(crate) const NGINX_BIN: &str = "/usr/sbin/nginx";

impl Nginx {
    /// The master and its workers.
    pub(crate) fn pids(&self) -> Vec<u32> {
        let master = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
            .unwrap_or_default();
        std::iter::once(master)
            .chain(children.split_whitespace().filter_map(|p| p.parse().ok()))
            .collect()
    }

    /// Starts nginx in `dir`, pinned to core 0, passing `/api/writer/` to `api` with `token`.
    pub(crate) fn start(dir: &Path, api: &str, token: &str) -> Result<Self> {
        std::fs::create_dir_all(dir.join("logs"))?;
        let port = crate::servers::free_port()?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, nginx_config(dir, port, api, token)?)?;
        let version = Command::new(NGINX_BIN).arg("-v").output()?;
        let version = String::from_utf8_lossy(&version.stderr)
            .trim()
            .trim_start_matches("nginx version: ")
            .to_owned();
        let child = Command::new("taskset")
            .args(["-c", "0", NGINX_BIN, "-p"])
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nginx")?;
        let ready = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if ready.elapsed() > Duration::from_secs(10) {
                bail!("nginx did not listen on {port} (see {})", dir.display());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let nginx = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            version,
        };
        if nginx.pids().len() < 2 {
            bail!("nginx started no worker (see {})", dir.display());
        }
        Ok(nginx)
    }
}

/// nginx's configuration: `location /api/writer/` → the Environment API root, with the token.
fn nginx_config(dir: &Path, port: u16, api: &str, token: &str) -> Result<String> {
    let rest = api.strip_prefix("http://").context("an http:// API URL")?;
    let (host, path) = rest.split_once('/').context("an API URL with a path")?;
    let dir = dir.display();
    Ok(format!(
        r#"worker_processes 1;
user root;
pid {dir}/nginx.pid;
error_log {dir}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {dir}/logs/access.log;
    keepalive_requests 1000000;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream grafx {{
        server {host};
        keepalive 512;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location /api/{WRITER}/ {{
            proxy_pass http://grafx/{path};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer {token}";
            proxy_max_temp_file_size 0;
        }}
    }}
}}
"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_passes_the_api_root_with_the_bearer() {
        let conf = nginx_config(
            Path::new("/tmp/n"),
            8080,
            "http://127.0.0.1:4010/grafx/api/v1/environment/demo/",
            "eyJ.t",
        )
        .unwrap();
        assert!(conf.contains("listen 127.0.0.1:8080 backlog=4096;"));
        assert!(conf.contains("server 127.0.0.1:4010;"));
        assert!(conf.contains("location /api/writer/ {"));
        assert!(conf.contains("proxy_pass http://grafx/grafx/api/v1/environment/demo/;"));
        assert!(conf.contains("proxy_set_header Authorization \"Bearer eyJ.t\";"));
        assert!(conf.contains("keepalive 512;") && conf.contains("keepalive_requests 1000000;"));
        // nginx itself, where the bench installed it, accepts the file.
        if Path::new(NGINX_BIN).exists() {
            let dir =
                std::env::temp_dir().join(format!("proxy-bench-nginx-{}", std::process::id()));
            std::fs::create_dir_all(dir.join("logs")).unwrap();
            let conf = nginx_config(&dir, 8080, "http://127.0.0.1:4010/a/", "t").unwrap();
            std::fs::write(dir.join("nginx.conf"), conf).unwrap();
            let test = Command::new(NGINX_BIN)
                .arg("-t")
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .output()
                .unwrap();
            assert!(
                test.status.success(),
                "{}",
                String::from_utf8_lossy(&test.stderr)
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
        assert!(nginx_config(Path::new("/tmp/n"), 1, "https://x/y/", "t").is_err());
    }
}
