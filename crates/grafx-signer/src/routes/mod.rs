//! HTTP routes.

pub(crate) mod ops;
pub(crate) mod token;
