//! The token lifecycle in the page: cache, single-flight, cross-tab sharing, auto-refresh.
//!
//! Expiry is judged when the token is read, with the local clock (`received + expires_in`), so a
//! tab that slept or was throttled never uses an expired token; timers only make refreshes early.
//!
//! Cross-tab: instances (in any tab of the origin) with the same signer and integration share one
//! Web Lock and one BroadcastChannel named by that pair. The lock elects one refresher; the channel
//! publishes its token to the others. Tokens live in memory only, never in storage or cookies.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use grafx_core::{Freshness, RefreshPolicy, Timestamp};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use crate::error::GraFxError;
use crate::glue::{
    clear_timeout, date_now, has_locks, hold_presence, on_wake, peers_present, set_timeout, sleep,
    with_lock,
};
use grafx_core::ErrorCode;

/// The error of any call on a disposed client.
pub(crate) fn disposed() -> GraFxError {
    GraFxError::options("this GraFxClient was disposed")
}
use crate::options::Options;
use crate::signer::fetch_token;
use crate::token::Token;

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
        });
        inner.listen_to_peers();
        if inner.opts.auto_refresh {
            inner.watch_wakeups();
        }
        inner
    }

    /// The local clock (or the injected one, for tests).
    pub(crate) fn now(&self) -> Timestamp {
        let ms = match &self.opts.now {
            Some(f) => f
                .call0(&JsValue::NULL)
                .ok()
                .and_then(|v| v.as_f64())
                .unwrap_or_else(date_now),
            None => date_now(),
        };
        Timestamp::from_js_millis(ms)
    }

    pub(crate) fn token(&self) -> Option<Token> {
        self.token.borrow().clone()
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
                            // Still valid: serve it while the signer is unhappy.
                            Err(_)
                                if t.expiry.freshness(self.now(), &self.policy)
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
        let replaced_recently = self
            .last_replaced
            .borrow()
            .as_ref()
            .is_some_and(|(r, at)| r == refused && date_now() - at < REPLACED_RECENTLY_MS);
        if let Some(t) = self.token() {
            if (t.access_token != refused || replaced_recently)
                && t.expiry.freshness(self.now(), &self.policy) != Freshness::Expired
            {
                return Ok(t);
            }
        }
        let fresh = self.refresh(Some(refused.to_owned())).await?;
        self.last_replaced
            .replace(Some((refused.to_owned(), date_now())));
        Ok(fresh)
    }

    /// Single-flight: one signer request however many callers ask at once. A caller that must not
    /// get `reject` back never settles for a flight that was not forced to replace it: if that
    /// flight hands back `reject`, it starts a forced one (which every caller refused the same
    /// token then shares, whatever the signer answers).
    async fn refresh(self: &Rc<Self>, reject: Option<String>) -> Result<Token, GraFxError> {
        let same_purpose = self
            .inflight
            .borrow()
            .as_ref()
            .is_none_or(|(_, forced)| *forced == reject);
        self.await_flight(&reject).await?;
        let handed_back = self
            .token()
            .is_some_and(|t| Some(&t.access_token) == reject.as_ref());
        if !same_purpose && handed_back {
            self.await_flight(&reject).await?;
        }
        // Disposed meanwhile: the pending call rejects, and nothing was kept.
        if self.disposed.get() {
            return Err(disposed());
        }
        self.token().ok_or_else(|| {
            GraFxError::new(
                ErrorCode::InvalidResponse,
                "the signer's reply left no token",
            )
        })
    }

    /// Joins the refresh in flight, or starts one.
    async fn await_flight(self: &Rc<Self>, reject: &Option<String>) -> Result<(), GraFxError> {
        let existing = self.inflight.borrow().as_ref().map(|(p, _)| p.clone());
        let promise = match existing {
            Some(p) => p,
            None => {
                let forced = reject.clone();
                let reject = reject.clone();
                let this = Rc::clone(self);
                let p = future_to_promise(async move {
                    let result = this.refresh_coordinated(reject).await;
                    this.inflight.replace(None);
                    match result {
                        Ok(()) => Ok(JsValue::UNDEFINED),
                        Err(e) => {
                            let e = JsValue::from(e);
                            this.emit_error(&e);
                            Err(e)
                        }
                    }
                });
                self.inflight.replace(Some((p.clone(), forced)));
                p
            }
        };
        JsFuture::from(promise)
            .await
            .map(|_| ())
            .map_err(|e| GraFxError::from_js(e, ErrorCode::SignerUnreachable))
    }

    /// Whether a token published by a peer satisfies this refresh.
    fn peer_token_satisfies(&self, reject: &Option<String>) -> bool {
        self.token().is_some_and(|t| {
            t.expiry.freshness(self.now(), &self.policy) == Freshness::Fresh
                && Some(&t.access_token) != reject.as_ref()
        })
    }

    /// Cross-tab aware refresh: become the refresher if nobody else is; otherwise wait for the
    /// peer's result and use it, fetching only if it does not come.
    async fn refresh_coordinated(
        self: &Rc<Self>,
        reject: Option<String>,
    ) -> Result<(), GraFxError> {
        if !(self.opts.cross_tab && has_locks()) {
            return self.fetch_and_publish().await;
        }
        let this = Rc::clone(self);
        let task = Closure::once_into_js(move || -> Promise {
            future_to_promise(async move {
                this.fetch_and_publish()
                    .await
                    .map(|()| JsValue::TRUE)
                    .map_err(JsValue::from)
            })
        });
        // A cold tab first asks its peers. Tabs that hold a token also hold a shared "presence"
        // lock, so a tab that is alone does not wait, and one with peers waits for their answer.
        if self.token().is_none() {
            if let Some(ch) = &self.channel {
                let present = JsFuture::from(peers_present(&self.presence_key()))
                    .await
                    .is_ok_and(|v| v.is_truthy());
                if present {
                    let _ = ch.post_message(&Token::query_message());
                    for _ in 0..50 {
                        if self.peer_token_satisfies(&reject) {
                            return Ok(());
                        }
                        sleep(20.0).await;
                    }
                }
            }
        }
        let lock_failed = |e| GraFxError::from_js(e, ErrorCode::SignerUnreachable);
        let first = JsFuture::from(with_lock(&self.key, true, task.unchecked_ref(), 0.0))
            .await
            .map_err(lock_failed)?;
        if first.is_truthy() {
            return Ok(());
        }
        // Another tab or instance holds the lock, i.e. is refreshing right now.
        let this = Rc::clone(self);
        let rejected = reject.clone();
        let task = Closure::once_into_js(move || -> Promise {
            future_to_promise(async move {
                // Its broadcast may land just after the lock is released: give it a moment.
                for _ in 0..10 {
                    if this.peer_token_satisfies(&rejected) {
                        return Ok(JsValue::TRUE);
                    }
                    sleep(20.0).await;
                }
                this.fetch_and_publish()
                    .await
                    .map(|()| JsValue::TRUE)
                    .map_err(JsValue::from)
            })
        });
        // A peer that holds the lock may be frozen (mobile browsers freeze background tabs): wait
        // at most the signer timeout for it, then fetch for ourselves.
        let waited = JsFuture::from(with_lock(
            &self.key,
            false,
            task.unchecked_ref(),
            f64::from(self.opts.timeout_ms),
        ))
        .await
        .map_err(lock_failed)?;
        if waited.as_string().as_deref() == Some("timeout") && !self.peer_token_satisfies(&reject) {
            return self.fetch_and_publish().await;
        }
        Ok(())
    }

    async fn fetch_and_publish(self: &Rc<Self>) -> Result<(), GraFxError> {
        let mut stats = self.stats.get();
        stats.signer_requests += 1;
        stats.last_signer_call = Some(date_now());
        self.stats.set(stats);
        let this = Rc::clone(self);
        let token = fetch_token(&self.opts, move || this.now()).await?;
        if let Some(ch) = &self.channel {
            let _ = ch.post_message(&token.to_message());
        }
        self.set_token(token);
        Ok(())
    }

    fn presence_key(&self) -> String {
        format!("{} presence", self.key)
    }

    /// Stores a token, notifies subscribers and re-arms the auto-refresh timer; after `dispose`
    /// nothing is stored, armed or held (a refresh may finish after it).
    fn set_token(self: &Rc<Self>, token: Token) {
        if self.disposed.get() {
            return;
        }
        if self.opts.cross_tab && self.release_presence.borrow().is_none() {
            self.release_presence
                .replace(Some(hold_presence(&self.presence_key())));
        }
        let changed = self.token().as_ref() != Some(&token);
        self.token.replace(Some(token.clone()));
        if changed {
            let mut stats = self.stats.get();
            stats.refreshes += 1;
            self.stats.set(stats);
            let js = token.to_js();
            let listeners: Vec<Function> = self
                .token_listeners
                .borrow()
                .iter()
                .map(|(_, f)| f.clone())
                .collect();
            for f in listeners {
                let _ = f.call1(&JsValue::NULL, &js);
            }
        }
        if self.opts.auto_refresh {
            self.schedule(&token);
        }
    }

    pub(crate) fn emit_error(&self, e: &JsValue) {
        let listeners: Vec<Function> = self
            .error_listeners
            .borrow()
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        for f in listeners {
            let _ = f.call1(&JsValue::NULL, e);
        }
    }

    /// Adopts tokens that peers publish, when they last longer than ours.
    fn listen_to_peers(self: &Rc<Self>) {
        let Some(channel) = &self.channel else { return };
        let weak: Weak<Self> = Rc::downgrade(self);
        let cb =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
                let Some(this) = weak.upgrade() else { return };
                let data = ev.data();
                if Token::is_query(&data) {
                    // A peer is cold: share our token if it is still fresh.
                    let now = this.now();
                    let fresh = this
                        .token()
                        .filter(|t| t.expiry.freshness(now, &this.policy) == Freshness::Fresh);
                    if let (Some(t), Some(ch)) = (fresh, &this.channel) {
                        let _ = ch.post_message(&t.to_message());
                    }
                    return;
                }
                let Some(token) = Token::from_message(&data) else {
                    return;
                };
                let newer = this
                    .token()
                    .is_none_or(|t| token.expiry.expires_at() > t.expiry.expires_at());
                if newer && token.expiry.freshness(this.now(), &this.policy) != Freshness::Expired {
                    this.set_token(token);
                }
            });
        channel.set_onmessage(Some(cb.as_ref().unchecked_ref()));
        self.on_message.replace(Some(cb));
    }

    /// Auto-refresh: a timer at the refresh point; re-checked on `visibilitychange` and `focus`
    /// because timers in background tabs are throttled and do not run while a laptop sleeps.
    fn schedule(self: &Rc<Self>, token: &Token) {
        if let Some(id) = self.timer.take() {
            clear_timeout(&id);
        }
        let at = token.expiry.refresh_at(&self.policy);
        let delay = at.since(self.now()).as_millis().min(2_000_000_000) as i32;
        let weak = Rc::downgrade(self);
        let cb = Closure::<dyn FnMut()>::new(move || {
            if let Some(this) = weak.upgrade() {
                this.refresh_if_due();
            }
        });
        self.timer
            .replace(Some(set_timeout(cb.as_ref().unchecked_ref(), delay)));
        self.on_timer.replace(Some(cb));
    }

    fn watch_wakeups(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let cb = Closure::<dyn FnMut()>::new(move || {
            if let Some(this) = weak.upgrade() {
                this.refresh_if_due();
            }
        })
        .into_js_value();
        let stop = on_wake(cb.unchecked_ref());
        self.stop_wake.replace(Some(stop));
    }

    /// Refreshes in the background if the token is due (errors go to `onError`).
    pub(crate) fn refresh_if_due(self: &Rc<Self>) {
        if self.disposed.get() {
            return;
        }
        let due = self
            .token()
            .is_none_or(|t| t.expiry.freshness(self.now(), &self.policy) != Freshness::Fresh);
        if due {
            let this = Rc::clone(self);
            wasm_bindgen_futures::spawn_local(async move {
                let _ = this.current(false).await;
            });
        }
    }

    pub(crate) fn subscribe(&self, errors: bool, cb: Function) -> u32 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let list = if errors {
            &self.error_listeners
        } else {
            &self.token_listeners
        };
        list.borrow_mut().push((id, cb));
        id
    }

    pub(crate) fn unsubscribe(&self, errors: bool, id: u32) {
        let list = if errors {
            &self.error_listeners
        } else {
            &self.token_listeners
        };
        list.borrow_mut().retain(|(i, _)| *i != id);
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
    }
}
