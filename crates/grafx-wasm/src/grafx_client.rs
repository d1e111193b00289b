//! [`GraFxClient`] for Rust front-ends (Leptos, Yew, Dioxus): the same client the JavaScript
//! class wraps, with typed async methods.
//!
//! ```no_run
//! use grafx_wasm::{ClientOptions, GraFxClient, ListOptions};
//!
//! # async fn templates() -> Result<(), grafx_wasm::GraFxError> {
//! // Once per app, e.g. in a Leptos `provide_context` or a Yew `ContextProvider`.
//! let grafx = GraFxClient::new(ClientOptions::new("/"))?;
//! // In a Leptos `LocalResource::new(move || …)` or a Yew `use_future`:
//! let page = grafx.templates().list(&ListOptions { limit: Some(10), ..Default::default() }).await?;
//! let names: Vec<&str> = page.items.iter().map(|t| t.name.as_str()).collect();
//! # let _ = names;
//! let project = grafx.projects().create(&page.items[0].id, Some("Mine")).await?;
//! # let _ = project;
//! # Ok(()) }
//! ```

use std::rc::Rc;

use grafx_core::ErrorCode;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

use crate::client::Inner;
use crate::error::GraFxError;
use crate::options::ClientOptions;
use crate::token::Token;

/// A GraFx client for one signer and integration: tokens from the signer, refreshed early and
/// once, shared across tabs, and bearer-authenticated Environment API calls. Cloning is cheap and
/// shares the client; it stops when [`dispose`](Self::dispose) is called or the last clone drops.
#[derive(Clone)]
pub struct GraFxClient {
    pub(crate) inner: Rc<Inner>,
    /// The typed helpers' one implementation (`js/resources.js`), bound to this client.
    pub(crate) helpers: JsValue,
    /// The signer's API proxy base when this client was made by [`via`](Self::via).
    pub(crate) proxy: Option<Rc<str>>,
}

impl GraFxClient {
    /// Validates the options (an `invalid_options` error names the bad one).
    pub fn new(options: ClientOptions) -> Result<Self, GraFxError> {
        let inner = Inner::new(options.validate()?);
        let helpers = crate::resources::build(&Rc::downgrade(&inner));
        Ok(Self {
            inner,
            helpers,
            proxy: None,
        })
    }

    /// The same client with its typed helpers, `fetch` and `json` routed through the signer's API
    /// proxy for `integration` (`{signerUrl}/api/{integration}/…`): writes with a server-side
    /// token the page never sees. `access_token` and `token` still concern this client's own
    /// (read-only) integration.
    pub fn via(&self, integration: &str) -> Result<Self, GraFxError> {
        let base = crate::proxy::base(&self.inner, integration)?;
        let helpers = crate::resources::build_via(&Rc::downgrade(&self.inner), &base);
        Ok(Self {
            inner: Rc::clone(&self.inner),
            helpers,
            proxy: Some(base),
        })
    }

    /// The access token: cached unless inside the leeway, otherwise from the signer.
    pub async fn access_token(&self) -> Result<String, GraFxError> {
        Ok(self.inner.current(false).await?.access_token)
    }

    /// A token newer than the cached one, from the signer (what an editor's auth-expired hook
    /// wants).
    pub async fn refresh_token(&self) -> Result<Token, GraFxError> {
        self.inner.current(true).await
    }

    /// The current token, if there is one.
    pub fn token(&self) -> Option<Token> {
        self.inner.token()
    }

    /// `fetch` against the Environment API with the bearer token: a relative path resolves against
    /// the token's Environment API URL; an absolute URL must be on it or on the Platform API. On a
    /// 401 it gets a new token once and retries once.
    pub async fn fetch(
        &self,
        path_or_url: &str,
        init: Option<&web_sys::RequestInit>,
    ) -> Result<gloo_net::http::Response, GraFxError> {
        let init = init.map_or(JsValue::UNDEFINED, |i| i.clone().into());
        match &self.proxy {
            Some(base) => crate::proxy::fetch(&self.inner, base, path_or_url, &init).await,
            None => crate::api::fetch(&self.inner, path_or_url, &init).await,
        }
    }

    /// `GET path` (or `init`), then the JSON body as `T`; a non-2xx reply is an `api_error` (or
    /// `unauthorized`) with the problem's detail.
    pub async fn json<T: DeserializeOwned>(
        &self,
        path: &str,
        init: Option<&web_sys::RequestInit>,
    ) -> Result<T, GraFxError> {
        let init = init.map_or(JsValue::UNDEFINED, |i| i.clone().into());
        let value = match &self.proxy {
            Some(base) => crate::proxy::json(&self.inner, base, path, &init).await?,
            None => crate::api::json(&self.inner, path, &init).await?,
        };
        typed(value, path)
    }

    /// Signer requests made, token changes seen, and the time of the last signer call.
    pub fn stats(&self) -> crate::Stats {
        self.inner.stats.get()
    }

    /// Forgets the token here and in every instance of the same caller (other tabs and workers
    /// included): call it when the user signs out of the app.
    pub fn sign_out(&self) {
        self.inner.sign_out();
    }

    /// Stops background work and forgets the token; calls afterwards fail with `invalid_options`.
    pub fn dispose(&self) {
        self.inner.dispose();
    }
}

/// A JavaScript value read as `T`, or `invalid_response` saying where.
pub(crate) fn typed<T: DeserializeOwned>(value: JsValue, what: &str) -> Result<T, GraFxError> {
    serde_wasm_bindgen::from_value(value).map_err(|e| {
        GraFxError::new(
            ErrorCode::InvalidResponse,
            format!(
                "{what}: the reply does not have the expected shape ({})",
                crate::error::serde_message(e)
            ),
        )
    })
}
