//! The certificates the signer trusts for HTTPS: CHILI's auth server, the API proxy's calls, a
//! caller check's JWKS or forward-auth endpoint.
//!
//! Mozilla's root certificates are built into the binary (webpki-roots, through reqwest's
//! `rustls-tls`; the system's store is never read), so the static binary reaches CHILI from an empty image (`FROM scratch`) with no
//! CA bundle on disk. `SSL_CERT_FILE`, when set, names a PEM file of further roots for a private
//! CA (a TLS-inspecting egress proxy, a local HTTPS emulator), trusted besides Mozilla's. A file
//! that cannot be read, or holds no certificate, stops the signer at start naming the variable.
//!
//! ```ignore
//! let http = tls::client_builder()?.timeout(timeout).build()?;
//! ```

use crate::Error;

/// The variable naming extra root certificates (OpenSSL's name, which tools already set).
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// The certificates of `SSL_CERT_FILE` as DER, for the API proxy's rustls client
/// ([`crate::proxy_client`]); none when it is unset. The file is the one [`client_builder`]
/// checked at start.
pub(crate) fn extra_root_ders() -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, Error> {
    use rustls::pki_types::pem::PemObject;
    let Some(path) = std::env::var_os(SSL_CERT_FILE).filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    let shown = std::path::Path::new(&path).display().to_string();
    let pem = std::fs::read(&path)
        .map_err(|e| Error::env(SSL_CERT_FILE, format!("cannot read {shown}: {e}")))?;
    rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::env(
                SSL_CERT_FILE,
                format!("{shown} is not a PEM certificate bundle: {e}"),
            )
        })
}

/// A reqwest client builder that trusts Mozilla's roots and those of `SSL_CERT_FILE`.
pub(crate) fn client_builder() -> Result<reqwest::ClientBuilder, Error> {
    let mut builder = with_built_in_roots(reqwest::Client::builder());
    for cert in extra_roots()? {
        builder = builder.add_root_certificate(cert);
    }
    Ok(builder)
}

/// Mozilla's roots compiled in, and never the system's store (reqwest is built without its
/// native-roots feature): an empty image has none, and the same binary must trust the same roots
/// everywhere.
fn with_built_in_roots(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder
        .tls_built_in_root_certs(true)
        .tls_built_in_webpki_certs(true)
}

/// The certificates of `SSL_CERT_FILE`, none when it is unset.
fn extra_roots() -> Result<Vec<reqwest::Certificate>, Error> {
    let Some(path) = std::env::var_os(SSL_CERT_FILE).filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    let shown = std::path::Path::new(&path).display().to_string();
    let pem = std::fs::read(&path)
        .map_err(|e| Error::env(SSL_CERT_FILE, format!("cannot read {shown}: {e}")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        Error::env(
            SSL_CERT_FILE,
            format!("{shown} is not a PEM certificate bundle: {e}"),
        )
    })?;
    if certs.is_empty() {
        return Err(Error::env(
            SSL_CERT_FILE,
            format!("{shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
        ));
    }
    // A PEM block whose contents are not a certificate is found only when a client is built:
    // found here, it is reported with the variable's name.
    certs
        .iter()
        .fold(with_built_in_roots(reqwest::Client::builder()), |b, c| {
            b.add_root_certificate(c.clone())
        })
        .build()
        .map_err(|e| {
            Error::env(
                SSL_CERT_FILE,
                format!("{shown} holds a certificate that is not valid: {e}"),
            )
        })?;
    Ok(certs)
}
