//! What the browser suites need from the task runner: a free port for the test page. The stack
//! they talk to (emulator, signer, fixture integrations, `/_test/*` routes) is
//! `grafx_testkit::BrowserStack`, shared with the demo's and the benchmarks' stacks.

use anyhow::Result;

/// A free loopback port (bound and released; good enough for a test harness on one machine).
pub(crate) fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
