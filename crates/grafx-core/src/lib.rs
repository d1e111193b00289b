//! The pure core of the GraFx token broker: what CHILI GraFx's token reply looks like, when a token
//! must be refreshed, what the signer sends to the browser, and where the Environment API lives.
//!
//! Nothing here performs I/O or reads a clock: every time-dependent function takes `now` as an
//! argument, so the same policy runs (and is tested) on the server and in the browser (wasm32).
//!
//! ```
//! use std::time::Duration;
//! use grafx_core::{Expiry, Freshness, RefreshPolicy, Timestamp, TokenGrant};
//!
//! let grant = TokenGrant::from_json(
//!     br#"{"access_token":"eyJ.abc","token_type":"Bearer","expires_in":86400,"scope":"template:read"}"#,
//! )?;
//! let received = Timestamp::from_millis(1_700_000_000_000);
//! let expiry = Expiry::stamp(received, grant.expires_in());
//! let policy = RefreshPolicy::new(Duration::from_secs(300));
//! assert_eq!(expiry.freshness(received, &policy), Freshness::Fresh);
//! # Ok::<(), grafx_core::Error>(())
//! ```

mod environment;
mod error;
mod error_code;
#[cfg(test)]
mod exact_values;
mod expiry;
mod grant;
mod items;
mod scope;
mod wire;

pub use environment::{EnvironmentApiUrl, EnvironmentName, PlatformApiUrl, PLATFORM_API_URL};
pub use error::Error;
pub use error_code::ErrorCode;
pub use expiry::{Expiry, Freshness, RefreshPolicy, Timestamp};
pub use grant::{AccessToken, TokenGrant, MAX_EXPIRES_IN};
pub use items::{Extra, Media, OutputFormat, OutputSetting, Project, Template, TemplateRef};
pub use scope::Scopes;
pub use wire::{ErrorBody, ExpiresIn, SignerToken, TokenType, CSRF_HEADER, CSRF_HEADER_VALUE};

/// The refresh leeway the signer uses by default: well below CHILI's one-hour re-issue window, so
/// that a refresh inside the leeway gets a genuinely new token rather than the cached one.
pub const SIGNER_DEFAULT_LEEWAY: std::time::Duration = std::time::Duration::from_secs(300);

/// The refresh leeway the browser uses by default; smaller than the signer's, so that the browser
/// asks for a new token only after the signer has already refreshed its own.
pub const BROWSER_DEFAULT_LEEWAY: std::time::Duration = std::time::Duration::from_secs(60);

// On wasm32 the unit tests run in headless Chromium (`cargo xtask test`), not in Node.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
