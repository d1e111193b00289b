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
use wasm_bindgen_futures::JsFuture;

use crate::clock::Clock;
use crate::error::GraFxError;
use crate::glue::{
    clear_timeout, has_locks, hold_presence, on_wake, peers_present, set_timeout, sleep, with_lock,
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
        });
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

    /// Single-flight: one signer request however many callers ask at once. A caller that must not
    /// get `reject` back never settles for a flight that was not forced to replace it: if that
    /// flight hands back `reject`, it starts a forced one (which every caller refused the same
    /// token then shares, whatever the signer answers).
    async fn refresh(self: &Rc<Self>, reject: Option<String>) -> Result<Token, GraFxError> {
        // A flight for another purpose (not forced, or forced to replace another token) is waited
        // out, then judged: its token will do unless it is `reject`. Bounded, in case flights of
        // other purposes keep starting.
        for _ in 0..3 {
            let other_purpose = self
                .inflight
                .borrow()
                .as_ref()
                .is_some_and(|(_, forced)| *forced != reject);
            if !other_purpose {
                break;
            }
            let waited = self.await_flight(&reject).await;
            let handed_back = self
                .token()
                .is_none_or(|t| Some(&t.access_token) == reject.as_ref());
            if waited.is_ok() && !handed_back && !self.disposed.get() {
                return self.token().ok_or_else(disposed);
            }
        }
        let other_purpose = self
            .inflight
            .borrow()
            .as_ref()
            .is_some_and(|(_, forced)| *forced != reject);
        if other_purpose {
            // Flights of other purposes kept coming: refresh for this caller alone.
            self.refresh_coordinated(reject.clone()).await?;
        } else {
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
                let p = crate::boxed_promise(Box::pin(async move {
                    let result = this.refresh_coordinated(reject.clone()).await;
                    if let (Ok(()), Some(refused)) = (&result, reject) {
                        // Later 401s on the same token within a few seconds use this answer.
                        let at = this.now().as_millis() as f64;
                        this.last_replaced.replace(Some((refused, at)));
                    }
                    this.inflight.replace(None);
                    match result {
                        Ok(()) => Ok(JsValue::UNDEFINED),
                        Err(e) => {
                            let e = JsValue::from(e);
                            this.emit_error(&e);
                            Err(e)
                        }
                    }
                }));
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
        // The winner of the lock fetches, unless a peer's broadcast landed while it asked.
        let task = self.lock_task(&reject, 0);
        let first = self.with_lock(true, &task, 0.0).await?;
        if first.is_truthy() {
            return Ok(());
        }
        // Another tab or instance holds the lock, i.e. is refreshing right now. Its broadcast may
        // land just after it releases the lock: give it a moment before fetching.
        let task = self.lock_task(&reject, 10);
        // A peer that holds the lock may be frozen (mobile browsers freeze background tabs): wait
        // at most the signer timeout for it, then fetch for ourselves.
        let waited = self
            .with_lock(false, &task, f64::from(self.opts.timeout_ms))
            .await?;
        if waited.as_string().as_deref() == Some("timeout") && !self.peer_token_satisfies(&reject) {
            return self.fetch_and_publish().await;
        }
        Ok(())
    }

    /// What runs while holding the refresh lock: after up to `grace` checks 20 ms apart for a
    /// token a peer just published, fetch. It holds the client weakly, and the caller drops it
    /// once the lock request settles, so a task the lock never runs (busy, or timed out) keeps
    /// nothing alive.
    fn lock_task(
        self: &Rc<Self>,
        reject: &Option<String>,
        grace: u32,
    ) -> Closure<dyn FnMut() -> Promise> {
        let weak = Rc::downgrade(self);
        let reject = reject.clone();
        let asked_at = self.clock.now_ms();
        Closure::once(move || -> Promise {
            crate::boxed_promise(Box::pin(async move {
                for i in 0..=grace {
                    let Some(this) = weak.upgrade() else {
                        return Err(disposed().into());
                    };
                    if this.peer_token_satisfies(&reject) {
                        return Ok(JsValue::TRUE);
                    }

                    if i < grace {
                        drop(this);
                        sleep(20.0).await;
                    }
                }
                let this = weak.upgrade().ok_or_else(|| JsValue::from(disposed()))?;
                // The refresher this one waited for failed, and no token came after: share its
                // outcome rather than each waiter trying in turn.
                let failed = this
                    .peer_failure
                    .borrow()
                    .as_ref()
                    .filter(|(_, at)| *at >= asked_at)
                    .map(|(e, _)| e.clone());
                if let Some(e) = failed.filter(|_| grace > 0) {
                    return Err(e.into());
                }
                this.fetch_and_publish()
                    .await
                    .map(|()| JsValue::TRUE)
                    .map_err(JsValue::from)
            }))
        })
    }

    /// Runs `task` under this client's refresh lock (see `withLock` in the glue); resolves to
    /// its result, `undefined` (busy) or `"timeout"`. `task` is freed when this returns.
    async fn with_lock(
        &self,
        if_available: bool,
        task: &Closure<dyn FnMut() -> Promise>,
        wait_ms: f64,
    ) -> Result<JsValue, GraFxError> {
        JsFuture::from(with_lock(
            &self.key,
            if_available,
            task.as_ref().unchecked_ref(),
            wait_ms,
        ))
        .await
        .map_err(|e| GraFxError::from_js(e, ErrorCode::SignerUnreachable))
    }

    async fn fetch_and_publish(self: &Rc<Self>) -> Result<(), GraFxError> {
        let mut stats = self.stats.get();
        stats.signer_requests += 1;
        stats.last_signer_call = Some(self.clock.now_ms());
        self.stats.set(stats);
        let epoch = self.epoch.get();
        let token = match fetch_token(&self.opts, &self.clock).await {
            Ok(t) => t,
            Err(e) => {
                // Instances waiting for this refresh get its outcome instead of each trying in
                // turn, one timeout after another.
                if let Some(ch) = &self.channel {
                    let _ = ch.post_message(&Token::failure_message(&e));
                }
                return Err(e);
            }
        };
        if self.epoch.get() != epoch || token.requested_at < self.signed_out_at.get() {
            // signOut() while the signer answered: the token belongs to the session just ended.
            return Err(GraFxError::new(
                ErrorCode::CallerUnauthenticated,
                "signed out while the token was being fetched",
            ));
        }
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
        self.peer_failure.replace(None);
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
                if let Some(at) = Token::sign_out_from(&data) {
                    this.forget(at);
                    return;
                }
                if let Some(failure) = Token::failure_from(&data) {
                    this.peer_failure
                        .replace(Some((failure, this.clock.now_ms())));
                    return;
                }
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
                this.peer_failure.replace(None);
                // Asked for before a sign-out (a broadcast that crossed it): not this session's.
                if token.requested_at < this.signed_out_at.get() {
                    return;
                }
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
    /// because timers in background tabs are throttled and do not run while a laptop sleeps. A
    /// token already due arms nothing here: the refresh under way re-arms when it ends.
    fn schedule(self: &Rc<Self>, token: &Token) {
        let delay = token.expiry.refresh_at(&self.policy).since(self.now());
        if delay.is_zero() {
            return;
        }
        self.arm(delay.as_millis().min(2_000_000_000) as i32);
    }

    /// (Re)arms the one auto-refresh timer.
    fn arm(self: &Rc<Self>, delay_ms: i32) {
        if let Some(id) = self.timer.take() {
            clear_timeout(&id);
        }
        if self.disposed.get() {
            return;
        }
        let weak = Rc::downgrade(self);
        let cb = Closure::<dyn FnMut()>::new(move || {
            if let Some(this) = weak.upgrade() {
                this.timer.replace(None);
                this.refresh_if_due();
            }
        });
        self.timer
            .replace(Some(set_timeout(cb.as_ref().unchecked_ref(), delay_ms)));
        self.on_timer.replace(Some(cb));
    }

    /// The delay before the next background attempt after `failures` failed ones: 1 s, doubling,
    /// at most a minute (waking before the Wi-Fi is back must not end auto-refresh).
    fn backoff_ms(failures: u32) -> i32 {
        1_000_i32
            .saturating_mul(1 << failures.saturating_sub(1).min(6))
            .min(60_000)
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

    /// Refreshes in the background if the token is due (errors go to `onError`). A timer that
    /// fires while the token is still fresh (early against the wall clock) re-arms for the true
    /// due time; a failed attempt, or one that brought no fresher token, retries with backoff.
    pub(crate) fn refresh_if_due(self: &Rc<Self>) {
        if self.disposed.get() {
            return;
        }
        // Nothing to keep fresh before the first token or after a sign-out: background work
        // must not sign a user back in.
        let Some(held) = self.token() else {
            return;
        };
        if held.expiry.freshness(self.now(), &self.policy) == Freshness::Fresh {
            if self.opts.auto_refresh && self.timer.borrow().is_none() {
                self.schedule(&held);
            }
            return;
        }
        let this = Rc::clone(self);
        let epoch = self.epoch.get();
        wasm_bindgen_futures::spawn_local(async move {
            let result = this.refresh(None).await;
            let signed_in = this.epoch.get() == epoch && this.token().is_some();
            if !this.opts.auto_refresh || !signed_in {
                return;
            }
            match result {
                Ok(t) if t.expiry.freshness(this.now(), &this.policy) == Freshness::Fresh => {
                    this.failures.set(0);
                }
                // The app's session is gone: the app must act (its login), not a timer.
                Err(e) if *e.code() == ErrorCode::CallerUnauthenticated => {}
                // A failure, or no fresher token yet: try again later.
                _ => {
                    let failures = this.failures.get().saturating_add(1);
                    this.failures.set(failures);
                    this.arm(Self::backoff_ms(failures));
                }
            }
        });
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

    /// Forgets the token here and in every instance of the same caller (other tabs and workers
    /// included); the next call asks the signer again, as whoever the app's session says.
    pub(crate) fn sign_out(self: &Rc<Self>) {
        let at = self.clock.now_ms();
        self.forget(at);
        if let Some(ch) = &self.channel {
            let _ = ch.post_message(&Token::sign_out_message(at));
        }
    }

    /// Drops the token, its timer and the presence lock for a sign-out at `at`; a refresh in
    /// flight is not kept, nor any token asked for before `at`.
    fn forget(&self, at: f64) {
        self.signed_out_at.set(self.signed_out_at.get().max(at));
        self.epoch.set(self.epoch.get().wrapping_add(1));
        self.token.replace(None);
        self.failures.set(0);
        if let Some(id) = self.timer.take() {
            clear_timeout(&id);
        }
        if let Some(release) = self.release_presence.take() {
            let _ = release.call0(&JsValue::NULL);
        }
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
