//! The token lifecycle in the page: cache, single-flight, cross-tab sharing, auto-refresh.
//!
//! Expiry is judged when the token is read, with the local clock (`received + expires_in`), so a
//! tab that slept or was throttled never uses an expired token; timers only make refreshes early.
//!
//! Cross-tab: instances (in any tab of the origin) with the same signer and integration share one
//! Web Lock and one BroadcastChannel named by that pair. The lock elects one refresher; the channel
//! publishes its token to the others. Tokens live in memory only, never in storage or cookies.
//!
//! The parts: `flight` (single-flight, cross-tab election), `peers` (the channel and sign-out),
//! `timers` (auto-refresh), `listeners` (the token and its subscribers).

mod flight;
mod listeners;
mod peers;
mod timers;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use grafx_core::{Freshness, RefreshPolicy, Timestamp};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

use crate::clock::Clock;
use crate::error::GraFxError;
use crate::glue::clear_timeout;
use crate::options::Options;
use crate::token::Token;

/// The error of any call on a disposed client.
pub(crate) fn disposed() -> GraFxError {
    GraFxError::options("this GraFxClient was disposed")
}

type MessageHandler = Closure<dyn FnMut(web_sys::MessageEvent)>;

/// Counters for a token panel.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Requests this client sent to the signer.
    pub signer_requests: u32,
    /// Times its token changed (from the signer or a peer tab).
    pub refreshes: u32,
    /// When it last called the signer (milliseconds since the epoch).
    pub last_signer_call: Option<f64>,
}

/// The shared state of one `GraFxClient`.
pub(crate) struct Inner {
    pub(crate) opts: Options,
    /// The one clock (see `clock.rs`).
    pub(crate) clock: Clock,
    policy: RefreshPolicy,
    key: String,
    token: RefCell<Option<Token>>,
    /// The refresh in flight, and the token it was forced to replace (None: not forced).
    inflight: RefCell<Option<(Promise, Option<String>)>>,
    channel: Option<web_sys::BroadcastChannel>,
    token_listeners: RefCell<Vec<(u32, Function)>>,
    error_listeners: RefCell<Vec<(u32, Function)>>,
    next_id: Cell<u32>,
    pub(crate) stats: Cell<Stats>,
    timer: RefCell<Option<JsValue>>,
    // Kept alive while the client lives.
    on_message: RefCell<Option<MessageHandler>>,
    on_timer: RefCell<Option<Closure<dyn FnMut()>>>,
    stop_wake: RefCell<Option<Function>>,
    /// Releases this instance's presence lock (held while it has a token).
    release_presence: RefCell<Option<Function>>,
    disposed: Cell<bool>,
    /// The last token a forced refresh was asked to replace, and when it finished (`Date.now`).
    last_replaced: RefCell<Option<(String, f64)>>,
    /// Background refreshes that failed in a row (auto-refresh's backoff).
    failures: Cell<u32>,
    /// Bumped by a sign-out, so that a token fetched before it is not kept.
    epoch: Cell<u32>,
    /// The last failure a peer's refresh reported, and when it arrived (`Date.now`); cleared by
    /// any token.
    peer_failure: RefCell<Option<(GraFxError, f64)>>,
    /// The latest sign-out of this caller seen here (`Date.now`): tokens asked for before it are
    /// refused, wherever they come from.
    signed_out_at: Cell<f64>,
    /// The handler a call's `fetch` hands a 401, a redirect or a failure to (`api::after_sent`).
    pub(crate) after_fetch: RefCell<JsValue>,
}

#[cfg(feature = "testing")]
thread_local! {
    /// Clients not yet freed, for `live_clients`.
    static LIVE: Cell<u32> = const { Cell::new(0) };
}

/// How many clients exist and are not yet freed (disposing is not freeing): a leak test's probe
/// (feature `testing`).
#[cfg(feature = "testing")]
pub fn live_clients() -> u32 {
    LIVE.with(Cell::get)
}

/// How long a forced refresh's answer stands for later 401s on the same token: the signer hands
/// out the same token until shortly before expiry, so asking again at once only costs a call.
const REPLACED_RECENTLY_MS: f64 = 5_000.0;

impl Inner {
    pub(crate) fn new(opts: Options) -> Rc<Self> {
        let channel = if opts.cross_tab {
            web_sys::BroadcastChannel::new(&opts.dedup_key()).ok()
        } else {
            None
        };
        let inner = Rc::new(Self {
            policy: RefreshPolicy::new(opts.leeway),
            clock: Clock::new(opts.now.clone()),
            key: opts.dedup_key(),
            opts,
            token: RefCell::new(None),
            inflight: RefCell::new(None),
            channel,
            token_listeners: RefCell::new(Vec::new()),
            error_listeners: RefCell::new(Vec::new()),
            next_id: Cell::new(1),
            stats: Cell::new(Stats::default()),
            timer: RefCell::new(None),
            on_message: RefCell::new(None),
            on_timer: RefCell::new(None),
            stop_wake: RefCell::new(None),
            release_presence: RefCell::new(None),
            disposed: Cell::new(false),
            last_replaced: RefCell::new(None),
            failures: Cell::new(0),
            epoch: Cell::new(0),
            peer_failure: RefCell::new(None),
            signed_out_at: Cell::new(0.0),
            after_fetch: RefCell::new(JsValue::UNDEFINED),
        });
        let client = Rc::downgrade(&inner);
        *inner.after_fetch.borrow_mut() =
            Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |outcome, sent| {
                let after = crate::api::after_sent(client.clone(), outcome, sent);
                crate::resources::promise_of(Box::pin(after))
            })
            .into_js_value();
        #[cfg(feature = "testing")]
        LIVE.with(|n| n.set(n.get() + 1));
        inner.listen_to_peers();
        if inner.opts.auto_refresh {
            inner.watch_wakeups();
        }
        inner
    }

    /// The client's clock (the injected one, for tests).
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn token(&self) -> Option<Token> {
        self.token.borrow().clone()
    }

    /// `f` of the cached token while it needs no refresh, as [`current`](Self::current) answers
    /// at once; `None` without one, or once disposed.
    pub(crate) fn with_fresh_token<R>(&self, f: impl FnOnce(&Token) -> Option<R>) -> Option<R> {
        let token = self.token.borrow();
        let t = token.as_ref().filter(|_| !self.disposed.get())?;
        (t.expiry.freshness(self.now(), &self.policy) == Freshness::Fresh)
            .then(|| f(t))
            .flatten()
    }

    /// A usable token: cached unless inside the leeway (or `force`), else from the signer.
    /// With `force`, a token equal to the current one is not accepted from a peer tab.
    pub(crate) async fn current(self: &Rc<Self>, force: bool) -> Result<Token, GraFxError> {
        if self.disposed.get() {
            return Err(disposed());
        }
        let cached = self.token();
        if !force {
            if let Some(t) = &cached {
                match t.expiry.freshness(self.now(), &self.policy) {
                    Freshness::Fresh => return Ok(t.clone()),
                    Freshness::RefreshDue => {
                        return match self.refresh(None).await {
                            Ok(new) => Ok(new),
                            // Still valid: serve it while the signer is unhappy (not after
                            // dispose or a sign-out, which forgot it).
                            Err(_)
                                if !self.disposed.get()
                                    && self.token().as_ref() == Some(t)
                                    && t.expiry.freshness(self.now(), &self.policy)
                                        != Freshness::Expired =>
                            {
                                Ok(t.clone())
                            }
                            Err(e) => Err(e),
                        };
                    }
                    Freshness::Expired => {}
                }
            }
        }
        let reject = if force {
            cached.map(|t| t.access_token)
        } else {
            None
        };
        self.refresh(reject).await
    }

    /// A token to replace `refused`, which the API answered 401 to: the cached token if a refresh
    /// (here or in a peer) already replaced it, else a forced refresh that never hands `refused`
    /// back. Every caller refused at once shares that one refresh.
    pub(crate) async fn replace_refused(
        self: &Rc<Self>,
        refused: &str,
    ) -> Result<Token, GraFxError> {
        if self.disposed.get() {
            return Err(disposed());
        }
        let now = self.now().as_millis() as f64;
        let replaced_recently = self
            .last_replaced
            .borrow()
            .as_ref()
            .is_some_and(|(r, at)| r == refused && now - at < REPLACED_RECENTLY_MS);
        if let Some(t) = self.token() {
            if (t.access_token != refused || replaced_recently)
                && t.expiry.freshness(self.now(), &self.policy) != Freshness::Expired
            {
                return Ok(t);
            }
        }
        self.refresh(Some(refused.to_owned())).await
    }

    /// Stops timers and listeners; the token is dropped from memory.
    pub(crate) fn dispose(&self) {
        if self.disposed.replace(true) {
            return;
        }
        if let Some(id) = self.timer.take() {
            clear_timeout(&id);
        }
        if let Some(stop) = self.stop_wake.take() {
            let _ = stop.call0(&JsValue::NULL);
        }
        if let Some(release) = self.release_presence.take() {
            let _ = release.call0(&JsValue::NULL);
        }
        if let Some(ch) = &self.channel {
            ch.set_onmessage(None);
            ch.close();
        }
        self.token.replace(None);
        self.token_listeners.borrow_mut().clear();
        self.error_listeners.borrow_mut().clear();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.dispose();
        #[cfg(feature = "testing")]
        LIVE.with(|n| n.set(n.get().saturating_sub(1)));
    }
}
