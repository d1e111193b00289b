//! `bench-baseline LISTEN BODY_FILE [signer-loop]`: answers `POST /token` with the file's bytes as
//! JSON, and nothing else. No origin check, no cache lookup, no metrics: the ceiling the signer is
//! compared with. Served the way a user writes it, `axum::serve` with a `Router`; with
//! `signer-loop`, the same router on the signer's own accept loop (`grafx_signer::serve`), so the
//! bench shows what the loop and what the handler contribute. Prints its address on the first line
//! of standard output.

use std::net::SocketAddr;

use axum::http::header;
use axum::routing::post;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()
        .map_err(std::io::Error::other)?;
    let body: &'static str = match args.next() {
        Some(path) => Box::leak(std::fs::read_to_string(path)?.into_boxed_str()),
        None => r#"{"access_token":"x","token_type":"Bearer","expires_in":3600}"#,
    };
    let app = Router::new().route(
        "/token",
        post(move || async move {
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-store"),
                    (header::VARY, "Origin"),
                ],
                body,
            )
        }),
    );
    let signer_loop = args.next().as_deref() == Some("signer-loop");
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("http://{}", listener.local_addr()?);
    if signer_loop {
        grafx_signer::serve(
            listener,
            grafx_signer::SignerService::router_only(app),
            grafx_signer::ServeOptions::default(),
            std::future::pending(),
        )
        .await
    } else {
        axum::serve(listener, app).await
    }
}
