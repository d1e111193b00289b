//! Single-flight across callers and tabs: one signer request however many callers ask at once;
//! with `crossTab`, one refresher elected by Web Lock among the instances of a caller, the
//! others adopting its broadcast (or fetching themselves when it does not come, or its holder is
//! frozen).

use std::rc::Rc;

use grafx_core::{ErrorCode, Freshness};
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::{disposed, Inner};
use crate::error::GraFxError;
use crate::glue::{has_locks, peers_present, sleep, with_lock};
use crate::signer::fetch_token;
use crate::token::Token;

impl Inner {
    /// Single-flight: one signer request however many callers ask at once. A caller that must not
    /// get `reject` back never settles for a flight that was not forced to replace it: if that
    /// flight hands back `reject`, it starts a forced one (which every caller refused the same
    /// token then shares, whatever the signer answers).
    pub(super) async fn refresh(
        self: &Rc<Self>,
        reject: Option<String>,
    ) -> Result<Token, GraFxError> {
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

    pub(super) async fn fetch_and_publish(self: &Rc<Self>) -> Result<(), GraFxError> {
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
}
