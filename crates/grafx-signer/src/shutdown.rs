//! The binaries' stop signal: SIGTERM (what orchestrators send) or SIGINT (Ctrl-C).
//!
//! The handlers are installed when [`shutdown_signal`] is called, not when its future is first
//! polled: a SIGTERM that arrives right after a server printed its URL, while it serves its first
//! requests, must start a graceful shutdown, not kill the process (a serve loop may poll its
//! shutdown future only after accepting a connection).
//!
//! ```no_run
//! # async fn run(state: grafx_signer::AppState) -> std::io::Result<()> {
//! let stop = grafx_signer::shutdown_signal(); // before the address is announced
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8787").await?;
//! println!("http://{}", listener.local_addr()?);
//! let service = grafx_signer::SignerService::new(state);
//! grafx_signer::serve(listener, service, grafx_signer::ServeOptions::default(), stop).await
//! # }
//! ```
//!
//! Written once for both binaries: grafx-emulator's `main.rs` includes this file by path (it has
//! no dependency on the signer), so it must use nothing but `std` and `tokio`.

/// Resolves on SIGTERM or SIGINT (Ctrl-C elsewhere than Unix); the handlers are installed now.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! { () = wait(term) => {}, () = wait(int) => {} }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
