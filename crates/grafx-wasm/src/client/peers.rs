//! The BroadcastChannel between instances of one caller (other tabs and workers included):
//! tokens published and adopted, a cold peer's query answered, a refresher's failure shared, and
//! a sign-out reaching every instance. The presence lock says whether any peer holds a token.

use std::rc::{Rc, Weak};

use grafx_core::Freshness;
use wasm_bindgen::prelude::*;

use super::Inner;
use crate::glue::clear_timeout;
use crate::token::Token;

impl Inner {
    pub(super) fn presence_key(&self) -> String {
        format!("{} presence", self.key)
    }

    /// Adopts tokens that peers publish, when they last longer than ours.
    pub(super) fn listen_to_peers(self: &Rc<Self>) {
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
}
