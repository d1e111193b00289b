//! The binary's log sink: lines go into memory, and a background thread writes them out in
//! batches, so a request never waits on the log's destination (a pipe, a disk), and a busy
//! signer makes one `write` per batch of lines rather than one per line.
//!
//! It replaces `tracing-appender`'s non-blocking writer, whose log thread, woken for every
//! line, spun in its channel's backoff (a `sched_yield` per line or so) and wrote each line by
//! itself: under the API proxy's load about two system calls per audit line on the core the
//! requests ran on (BENCHMARKS.md, issue #28).
//!
//! - **Not lossy.** Past [`PENDING_LIMIT`] bytes waiting, a logging thread waits for the writer
//!   rather than a line being dropped.
//! - **Prompt.** A line is written within [`BATCH_WINDOW`] of being logged; sooner once half the
//!   limit is waiting.
//! - **Flushed on exit.** Dropping the [`LogSinkGuard`] writes what is pending and stops the
//!   thread; lines logged after that are written straight away.
//!
//! ```no_run
//! let (sink, _flush_on_exit) = grafx_signer::LogSink::spawn(std::io::stderr());
//! tracing_subscriber::fmt().with_writer(sink).init();
//! ```

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer gathers lines after the first of a batch before writing them.
pub const BATCH_WINDOW: Duration = Duration::from_millis(2);

/// Bytes waiting past which a logging thread waits for the writer (1 MiB).
pub const PENDING_LIMIT: usize = 1 << 20;

/// A [`tracing_subscriber::fmt::MakeWriter`] whose lines a background thread writes out in
/// batches (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

/// Stops the sink's thread when dropped, after it has written every pending line.
#[must_use = "dropping the guard stops the log thread"]
pub struct LogSinkGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// What the loggers and the writer share.
struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer: the first line of a batch, half the limit reached, the guard dropped.
    to_writer: Condvar,
    /// Wakes loggers waiting for room.
    to_loggers: Condvar,
    /// Where lines go: the writer's batches, and lines logged once it has stopped.
    out: Mutex<Box<dyn Write + Send>>,
}

/// The lines not yet written.
struct Pending {
    lines: Vec<u8>,
    /// Loggers waiting for room.
    waiting: usize,
    /// The guard was dropped: the writer writes what is left and stops.
    closed: bool,
}

impl LogSink {
    /// A sink writing to `out` from a thread of its own (named `log-writer`), and the guard that
    /// flushes and stops it. Should the thread fail to start, lines are written straight to `out`.
    pub fn spawn<W: Write + Send + 'static>(out: W) -> (Self, LogSinkGuard) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                lines: Vec::new(),
                waiting: 0,
                closed: false,
            }),
            to_writer: Condvar::new(),
            to_loggers: Condvar::new(),
            out: Mutex::new(Box::new(out)),
        });
        let writer = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer.write_batches());
        let thread = match thread {
            Ok(thread) => Some(thread),
            Err(_) => {
                shared.lock().closed = true;
                None
            }
        };
        let guard = LogSinkGuard {
            shared: Arc::clone(&shared),
            thread,
        };
        (Self { shared }, guard)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_out(&self, bytes: &[u8]) -> io::Result<()> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        out.write_all(bytes).and_then(|()| out.flush())
    }

    /// Queues one formatted line (or a part of one), waiting while the queue is full.
    fn push(&self, bytes: &[u8]) -> io::Result<()> {
        let mut pending = self.lock();
        while pending.lines.len() >= PENDING_LIMIT && !pending.closed {
            pending.waiting += 1;
            pending = self
                .to_loggers
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
            pending.waiting -= 1;
        }
        if pending.closed {
            drop(pending);
            return self.write_out(bytes);
        }
        let before = pending.lines.len();
        pending.lines.extend_from_slice(bytes);
        let half = PENDING_LIMIT / 2;
        let wake = before == 0 || (before < half && pending.lines.len() >= half);
        drop(pending);
        if wake {
            self.to_writer.notify_one();
        }
        Ok(())
    }

    /// The writer thread: waits for a first line, gathers for [`BATCH_WINDOW`], writes the batch.
    fn write_batches(&self) {
        let mut batch = Vec::new();
        loop {
            let mut pending = self.lock();
            while pending.lines.is_empty() && !pending.closed {
                pending = self
                    .to_writer
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if !pending.closed && pending.lines.len() < PENDING_LIMIT / 2 {
                pending = self
                    .to_writer
                    .wait_timeout(pending, BATCH_WINDOW)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut pending.lines, &mut batch);
            let (closed, waiting) = (pending.closed, pending.waiting);
            drop(pending);
            if waiting > 0 {
                self.to_loggers.notify_all();
            }
            // Nowhere to report a failed write to but the log itself: the lines are dropped.
            let _ = self.write_out(&batch);
            if closed && batch.is_empty() {
                return;
            }
            batch.clear();
            // A burst's buffer is not kept for ever.
            batch.shrink_to(PENDING_LIMIT);
        }
    }
}

impl Drop for LogSinkGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.to_writer.notify_one();
        self.shared.to_loggers.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Write for &LogSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.shared.push(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = &'a LogSink;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    /// Records every `write` call the sink makes, optionally held shut until opened.
    #[derive(Clone, Default)]
    struct Recorder {
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        shut: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Recorder {
        fn bytes(&self) -> Vec<u8> {
            self.writes.lock().unwrap().concat()
        }
        fn write_calls(&self) -> usize {
            self.writes.lock().unwrap().len()
        }
        fn set_shut(&self, shut: bool) {
            *self.shut.0.lock().unwrap() = shut;
            self.shut.1.notify_all();
        }
    }

    impl Write for Recorder {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut shut = self.shut.0.lock().unwrap();
            while *shut {
                shut = self.shut.1.wait(shut).unwrap();
            }
            self.writes.lock().unwrap().push(bytes.to_vec());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn log(sink: &LogSink, line: &str) {
        (&mut &*sink).write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn every_line_from_every_thread_is_written_whole_and_in_order_in_few_writes() {
        let out = Recorder::default();
        let (sink, guard) = LogSink::spawn(out.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        log(
                            &sink,
                            &format!("thread {t} line {i:04} {}\n", "x".repeat(100)),
                        );
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        drop(guard);
        let text = String::from_utf8(out.bytes()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8_000, "no line lost or split");
        for t in 0..4 {
            let own: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            let expected: Vec<String> = (0..2_000)
                .map(|i| format!("thread {t} line {i:04} {}", "x".repeat(100)))
                .collect();
            assert_eq!(own, expected, "thread {t}'s lines whole and in order");
        }
        // Batches, not a write per line.
        assert!(out.write_calls() < 800, "{} writes", out.write_calls());
    }

    #[test]
    fn a_lone_line_is_written_promptly_without_more_lines_or_the_guard() {
        let out = Recorder::default();
        let (sink, _guard) = LogSink::spawn(out.clone());
        log(&sink, "alone\n");
        let start = Instant::now();
        while out.bytes().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(5), "never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(out.bytes(), b"alone\n");
    }

    #[test]
    fn a_full_queue_makes_loggers_wait_and_loses_nothing() {
        let out = Recorder::default();
        out.set_shut(true);
        let (sink, guard) = LogSink::spawn(out.clone());
        let line = format!("{}\n", "y".repeat(1023));
        let count = 3 * PENDING_LIMIT / line.len();
        let (done_tx, done_rx) = mpsc::channel();
        let logger = {
            let (sink, line) = (sink.clone(), line.clone());
            std::thread::spawn(move || {
                for _ in 0..count {
                    log(&sink, &line);
                }
                done_tx.send(()).unwrap();
            })
        };
        // The writer holds one batch in a shut write; the queue fills behind it.
        assert!(
            done_rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "the logger was not held back"
        );
        assert!(sink.shared.lock().lines.len() >= PENDING_LIMIT);
        out.set_shut(false);
        done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        logger.join().unwrap();
        drop(guard);
        assert_eq!(out.bytes(), line.repeat(count).into_bytes());
    }

    #[test]
    fn the_guard_flushes_what_is_pending_and_later_lines_go_straight_out() {
        let out = Recorder::default();
        let (sink, guard) = LogSink::spawn(out.clone());
        for i in 0..100 {
            log(&sink, &format!("before {i}\n"));
        }
        drop(guard);
        let before: String = (0..100).map(|i| format!("before {i}\n")).collect();
        assert_eq!(
            out.bytes(),
            before.as_bytes(),
            "all pending lines out on drop"
        );
        log(&sink, "after\n");
        assert_eq!(out.bytes(), format!("{before}after\n").as_bytes());
    }
}
