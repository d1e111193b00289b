//! A running emulator and signer on a runtime of their own, for callers without one (the task
//! runner's demo, its browser suites and its benchmarks): stopped by [`Stack::stop`] or on drop,
//! whatever the outcome (also on panic).
//!
//! ```no_run
//! # fn run() -> anyhow::Result<()> {
//! use grafx_testkit::Stack;
//! let runtime = Stack::runtime()?;
//! let (emulator, state, listener) = runtime.block_on(async {
//!     let em = grafx_emulator::start(Default::default(), "127.0.0.1:0".parse()?).await?;
//!     let reader = grafx_testkit::emulator_integration(em.emulator(), "default", "demo-reader", None);
//!     let state = grafx_signer::AppState::new(grafx_signer::SignerConfig::single(reader))?;
//!     anyhow::Ok((em, state, tokio::net::TcpListener::bind("127.0.0.1:0").await?))
//! })?;
//! let service = grafx_signer::SignerService::new(state.clone());
//! let stack = Stack::serve(runtime, Some(emulator), state, service, listener);
//! stack.stop();
//! # Ok(()) }
//! ```

use std::future::Future;

use grafx_emulator::RunningEmulator;
use grafx_signer::{AppState, SignerService};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// The runtime, the emulator (none against real CHILI), the signer's state and its server task.
pub struct Stack {
    runtime: Option<Runtime>,
    emulator: Option<RunningEmulator>,
    server: Option<JoinHandle<()>>,
    state: Option<AppState>,
}

impl Stack {
    /// The runtime a stack runs on: two worker threads, I/O and timers.
    pub fn runtime() -> std::io::Result<Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    }

    /// Serves `service` on `listener` (both made on `runtime`), as the binary serves: with the
    /// configuration's serve options and no shutdown until [`stop`](Self::stop).
    pub fn serve(
        runtime: Runtime,
        emulator: Option<RunningEmulator>,
        state: AppState,
        service: SignerService,
        listener: tokio::net::TcpListener,
    ) -> Self {
        let options = state.config().serve_options();
        let server = runtime.spawn(async move {
            let _ = grafx_signer::serve(listener, service, options, std::future::pending()).await;
        });
        Self {
            runtime: Some(runtime),
            emulator,
            server: Some(server),
            state: Some(state),
        }
    }

    /// The emulator, unless the stack runs against real CHILI.
    pub fn emulator(&self) -> Option<&RunningEmulator> {
        self.emulator.as_ref()
    }

    /// Runs `f` to completion on the stack's runtime.
    ///
    /// # Panics
    /// After [`stop`](Self::stop) (which consumes the stack, so never in safe use).
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        match &self.runtime {
            Some(rt) => rt.block_on(f),
            None => unreachable!("a stopped stack is consumed"),
        }
    }

    /// Stops the refreshers, the server, the emulator and the runtime.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(state) = self.state.take() {
            state.stop_refreshers();
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if let Some(rt) = self.runtime.take() {
            if let Some(em) = self.emulator.take() {
                rt.block_on(em.stop());
            }
            rt.shutdown_background();
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown();
    }
}
