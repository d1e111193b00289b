//! Auto-refresh: a timer at the refresh point, re-checked when the tab wakes (timers in
//! background tabs are throttled and do not run while a laptop sleeps), with backoff after
//! failed attempts.

use std::rc::Rc;

use grafx_core::{ErrorCode, Freshness};
use wasm_bindgen::prelude::*;

use super::Inner;
use crate::glue::{clear_timeout, on_wake, set_timeout};
use crate::token::Token;

impl Inner {
    /// Auto-refresh: a timer at the refresh point; re-checked on `visibilitychange` and `focus`
    /// because timers in background tabs are throttled and do not run while a laptop sleeps. A
    /// token already due arms nothing here: the refresh under way re-arms when it ends.
    pub(super) fn schedule(self: &Rc<Self>, token: &Token) {
        let delay = token.expiry.refresh_at(&self.policy).since(self.now());
        if delay.is_zero() {
            return;
        }
        self.arm(delay.as_millis().min(2_000_000_000) as i32);
    }

    /// (Re)arms the one auto-refresh timer.
    pub(super) fn arm(self: &Rc<Self>, delay_ms: i32) {
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
    pub(super) fn backoff_ms(failures: u32) -> i32 {
        1_000_i32
            .saturating_mul(1 << failures.saturating_sub(1).min(6))
            .min(60_000)
    }

    pub(super) fn watch_wakeups(self: &Rc<Self>) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_attempts_back_off_from_a_second_to_a_minute() {
        let delays: Vec<i32> = (1..=9).map(Inner::backoff_ms).collect();
        assert_eq!(
            delays,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
        assert_eq!(
            Inner::backoff_ms(0),
            1_000,
            "no failure yet: the first delay"
        );
        assert_eq!(Inner::backoff_ms(u32::MAX), 60_000);
    }
}
