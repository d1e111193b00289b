//! The token in memory and who hears of it: `set_token` (stats, the presence lock, the
//! auto-refresh timer), and the `onToken`/`onError` subscriptions.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use super::Inner;
use crate::glue::hold_presence;
use crate::token::Token;

impl Inner {
    /// Stores a token, notifies subscribers and re-arms the auto-refresh timer; after `dispose`
    /// nothing is stored, armed or held (a refresh may finish after it).
    pub(super) fn set_token(self: &Rc<Self>, token: Token) {
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
            notify(&self.token_listeners, &token.to_js());
        }
        if self.opts.auto_refresh {
            self.schedule(&token);
        }
    }

    pub(crate) fn emit_error(&self, e: &JsValue) {
        notify(&self.error_listeners, e);
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
}

/// Calls every listener with `value`; the list is copied first, so a listener may subscribe or
/// unsubscribe while it runs.
fn notify(listeners: &RefCell<Vec<(u32, Function)>>, value: &JsValue) {
    let listeners: Vec<Function> = listeners.borrow().iter().map(|(_, f)| f.clone()).collect();
    for f in listeners {
        let _ = f.call1(&JsValue::NULL, value);
    }
}
