//! The one error type of grafx-emulator.

/// What can go wrong configuring or starting the emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `--client` value that is not `ID:SECRET[:SCOPES]`.
    #[error("invalid client: {0}")]
    InvalidClient(String),
    /// Settings out of range.
    #[error("invalid settings: {0}")]
    InvalidSettings(String),
    /// The environment name is not a valid DNS label.
    #[error(transparent)]
    Core(#[from] grafx_core::Error),
    /// Binding or serving the socket failed.
    #[error("cannot serve: {0}")]
    Io(#[from] std::io::Error),
}
