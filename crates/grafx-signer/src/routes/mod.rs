//! HTTP routes.

pub(crate) mod gates;
pub(crate) mod ops;
pub(crate) mod proxy;
pub(crate) mod token;
