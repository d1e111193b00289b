//! Serving the router on a TCP listener, with the protections `axum::serve` leaves out.
//!
//! - **Header read timeout** (slowloris): a connection must deliver a request's complete headers
//!   within `header_read_timeout` of the server starting to wait for them, and an idle keep-alive
//!   connection is closed after the same time. Without it one client can hold thousands of
//!   sockets open by trickling a header byte every few seconds.
//! - **Write stall timeout**: a connection whose reply makes no progress for `write_timeout` (the
//!   client stopped reading) is closed, and with it the reply's source: an API proxy download
//!   stops reading from CHILI.
//! - **Connection cap**: at most `max_connections` at once; further clients wait in the kernel's
//!   accept queue instead of exhausting file descriptors.
//! - **Graceful shutdown**: when `shutdown` resolves the listener closes (new connections are
//!   refused), in-flight requests finish, idle connections close, and after `grace` the rest are
//!   dropped.
//!
//! HTTP/1.1 only: browsers reach the signer over HTTP/1.1 or through a TLS-terminating proxy,
//! and an HTTP/2 preface sniff would let a silent connection wait forever.
//!
//! ```no_run
//! # async fn run(state: grafx_signer::AppState) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8787").await?;
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! let service = grafx_signer::SignerService::new(state); // what the binary serves
//! grafx_signer::serve(listener, service, grafx_signer::ServeOptions::default(), shutdown).await
//! # }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::convert::Infallible;

use crate::fast_path::SignerFuture;
use crate::write_stall::WriteStallGuard;
use crate::SignerService;
use axum::http::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connection-level limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// Time allowed to receive a request's headers, and to idle between keep-alive requests.
    pub header_read_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// A connection whose writes make no progress for this long is closed (a client that stopped
    /// reading a reply), and the reply's source (an API proxy download) with it.
    pub write_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: crate::config::defaults::DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: crate::config::defaults::DEFAULT_MAX_CONNECTIONS,
            write_timeout: crate::config::defaults::DEFAULT_WRITE_TIMEOUT,
            grace: crate::config::defaults::DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// Serves `service` (a [`SignerService`], or any `Router`) on `listener` until `shutdown`
/// resolves, then drains (see the module docs). Handlers see the peer address as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    service: SignerService,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // the semaphore is never closed
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Per-connection errors (reset before accept) are routine; running out of
                    // file descriptors is not, and a short pause lets connections close.
                    if !is_connection_error(&e) {
                        tracing::error!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_read_timeout)
            .serve_connection(
                TokioIo::new(WriteStallGuard::new(stream, options.write_timeout)),
                Connection {
                    service: service.clone(),
                    remote,
                },
            );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(peer = %remote, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.grace) => {
            tracing::warn!("in-flight requests did not finish within {:?}; exiting", options.grace);
        }
    }
    Ok(())
}

/// One connection's service: the fast path first, then the router with the peer address.
struct Connection {
    service: SignerService,
    remote: SocketAddr,
}

impl hyper::service::Service<Request<Incoming>> for Connection {
    type Response = Response;
    type Error = Infallible;
    type Future = SignerFuture<Incoming>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.service.dispatch(req, self.remote)
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}
