//! A connection whose writes stop making progress is closed: a client that stopped reading a
//! reply (a download left half-read, a slow-read attack) would otherwise hold its socket, and the
//! API proxy's connection to CHILI behind it, for as long as it likes. hyper times out slow
//! request headers but never a stalled write.
//!
//! ```ignore
//! let io = WriteStallGuard::new(tcp_stream, Duration::from_secs(30));
//! // hyper serves `TokioIo::new(io)`; a write pending for 30 s fails with `TimedOut`, hyper
//! // drops the connection and the reply's body (and so the upstream request) with it.
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// An I/O stream whose writes fail with `TimedOut` once one has been pending for `limit`.
pub(crate) struct WriteStallGuard<T> {
    io: T,
    limit: Duration,
    /// Armed when a write first returns `Pending`, cleared by any write that completes.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteStallGuard<T> {
    pub(crate) fn new(io: T, limit: Duration) -> Self {
        Self {
            io,
            limit,
            stalled: None,
        }
    }

    /// Passes a completed write on and disarms; on `Pending`, arms (once) and fails once the
    /// timer has run out.
    fn guard<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client took no data for {} s", limit.as_secs_f32()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteStallGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteStallGuard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.guard(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.guard(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_flush(cx);
        this.guard(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_shutdown(cx);
        this.guard(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_write_pending_past_the_limit_fails_and_progress_disarms_it() {
        // A pipe with room for 8 bytes: the reader decides when writes make progress.
        let (a, mut b) = tokio::io::duplex(8);
        let mut guarded = WriteStallGuard::new(a, Duration::from_secs(30));
        guarded.write_all(b"12345678").await.unwrap();
        // The reader takes a byte every 20 s: slow, but never 30 s without progress.
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..8 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                let mut one = [0u8; 1];
                tokio::io::AsyncReadExt::read_exact(&mut b, &mut one)
                    .await
                    .unwrap();
                got.push(one[0]);
            }
            (b, got)
        });
        guarded.write_all(b"abcdefgh").await.unwrap();
        let (b, got) = reader.await.unwrap();
        assert_eq!(&got, b"12345678");
        // Now the reader stops: the next write that cannot proceed fails after 30 s.
        let started = tokio::time::Instant::now();
        let e = guarded.write_all(b"ijklmnop").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        drop(b);
    }
}
