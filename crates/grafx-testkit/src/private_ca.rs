//! A private certificate authority and a server certificate for 127.0.0.1 signed by it, made
//! with the openssl command: what TLS tests need to prove a private CA is trusted when given and
//! refused when not (the Redis `rediss://` tests, the static signer's empty-root check).
//!
//! ```no_run
//! let dir = std::env::temp_dir().join("ca-example");
//! std::fs::create_dir_all(&dir).unwrap();
//! let ca = grafx_testkit::PrivateCa::create(&dir).unwrap();
//! assert!(ca.ca_pem().ends_with("ca.pem"));
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files of a private CA in one directory: `ca.pem`, and `server.pem` with `server.key`
/// for 127.0.0.1 (ECDSA P-256, valid two days).
#[derive(Debug, Clone)]
pub struct PrivateCa {
    dir: PathBuf,
}

impl PrivateCa {
    /// Makes the CA and the server certificate in `dir` (which must exist).
    pub fn create(dir: &Path) -> Result<Self, String> {
        let openssl = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .map_err(|e| format!("cannot run openssl: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "openssl {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        };
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(key);
        ca.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]);
        ca.extend(["-subj", "/CN=grafx test CA"]);
        openssl(&ca)?;
        let mut csr = vec!["req"];
        csr.extend(key);
        csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
        csr.extend(["-subj", "/CN=127.0.0.1"]);
        openssl(&csr)?;
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| e.to_string())?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ])?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// The CA's certificate (PEM): what a client is told to trust.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server's certificate (PEM), for 127.0.0.1.
    pub fn server_pem(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// The server's private key (PEM).
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}
