//! Plain JavaScript objects read field by field, with serde's rules: a missing field takes its
//! default, `null` counts as missing only where the field is optional, and a field of the wrong
//! type makes the whole value unreadable. One difference: a key present with the value
//! `undefined` counts as missing here, where serde-wasm-bindgen refused it for a required field
//! (a sender can as well leave the key out, so nothing depends on it). The messages other tabs
//! send, the fields of a `GraFxError`, the signer's replies and problem+json bodies are read this
//! way rather than through serde: its generated code for each type, and serde-wasm-bindgen's
//! error messages (which link Rust's float formatting), cost the npm package kilobytes (#28).
//!
//! ```text
//! let f = Fields::of(&message)?;
//! let kind = f.text("type").ok()?.unwrap_or_default();
//! ```

use wasm_bindgen::{JsCast, JsValue};

use crate::glue::get;

/// A field had the wrong type: the value is not read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mismatch;

/// The fields of a plain JavaScript object.
pub(crate) struct Fields<'a> {
    value: &'a JsValue,
    /// Only the object's own properties count (see [`Fields::of_json`]).
    own: bool,
}

impl<'a> Fields<'a> {
    /// The object's fields; None for anything that is not an object.
    pub(crate) fn of(value: &'a JsValue) -> Option<Self> {
        value.is_object().then_some(Self { value, own: false })
    }

    /// The fields of a reply parsed by `JSON.parse`, whose fields are all its own: one inherited
    /// from a polluted `Object.prototype` counts as missing, so a page's prototype pollution
    /// cannot add a field (a `platform_api_url`, say) that the server left out.
    pub(crate) fn of_json(value: &'a JsValue) -> Option<Self> {
        value.is_object().then_some(Self { value, own: true })
    }

    /// `value[key]`, or undefined (also when inherited, for JSON).
    fn get(&self, key: &str) -> JsValue {
        let key_value = JsValue::from_str(key);
        if self.own
            && !js_sys::Object::has_own(self.value.unchecked_ref::<js_sys::Object>(), &key_value)
        {
            return JsValue::UNDEFINED;
        }
        get(self.value, key)
    }

    /// A string field: None when missing.
    pub(crate) fn text(&self, key: &str) -> Result<Option<String>, Mismatch> {
        let v = self.get(key);
        if v.is_undefined() {
            return Ok(None);
        }
        v.as_string().map(Some).ok_or(Mismatch)
    }

    /// An optional string field: None when missing or null.
    pub(crate) fn optional_text(&self, key: &str) -> Result<Option<String>, Mismatch> {
        if self.get(key).is_null() {
            return Ok(None);
        }
        self.text(key)
    }

    /// A number field: None when missing.
    pub(crate) fn number(&self, key: &str) -> Result<Option<f64>, Mismatch> {
        let v = self.get(key);
        if v.is_undefined() {
            return Ok(None);
        }
        v.as_f64().map(Some).ok_or(Mismatch)
    }

    /// A whole-number field from 0 to `max` (serde's `u8`, `u16`…): None when missing or (with
    /// `optional`) null.
    pub(crate) fn whole(
        &self,
        key: &str,
        max: u32,
        optional: bool,
    ) -> Result<Option<u32>, Mismatch> {
        if optional && self.get(key).is_null() {
            return Ok(None);
        }
        match self.number(key)? {
            None => Ok(None),
            Some(n) if n.fract() == 0.0 && (0.0..=f64::from(max)).contains(&n) => {
                Ok(Some(n as u32))
            }
            Some(_) => Err(Mismatch),
        }
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    wasm_bindgen_test_configure!(run_in_browser);

    fn parse(json: &str) -> JsValue {
        js_sys::JSON::parse(json).expect("test JSON")
    }

    #[wasm_bindgen_test]
    fn fields_follow_serdes_rules() {
        let v =
            parse(r#"{"s":"x","n":1.5,"w":7,"nul":null,"neg":-1,"big":300,"half":2.5,"num":3}"#);
        let f = Fields::of(&v).expect("an object");
        assert_eq!(f.text("s"), Ok(Some("x".into())));
        assert_eq!(f.text("missing"), Ok(None));
        assert_eq!(f.text("nul"), Err(Mismatch), "null is no string");
        assert_eq!(f.optional_text("nul"), Ok(None));
        assert_eq!(f.text("num"), Err(Mismatch));
        assert_eq!(f.number("n"), Ok(Some(1.5)));
        assert_eq!(f.number("s"), Err(Mismatch));
        assert_eq!(f.whole("w", 255, false), Ok(Some(7)));
        let edges = parse(r#"{"max":255,"over":256,"zero":0,"nul":null,"n":4}"#);
        let e = Fields::of(&edges).expect("an object");
        assert_eq!(e.whole("max", 255, false), Ok(Some(255)));
        assert_eq!(e.whole("over", 255, false), Err(Mismatch));
        assert_eq!(e.whole("zero", 255, false), Ok(Some(0)));
        assert_eq!(e.number("nul"), Err(Mismatch), "null is no number");
        assert_eq!(e.optional_text("n"), Err(Mismatch), "a number is no string");
        assert_eq!(f.whole("big", 255, false), Err(Mismatch));
        assert_eq!(f.whole("big", 65_535, false), Ok(Some(300)));
        assert_eq!(f.whole("neg", 255, false), Err(Mismatch));
        assert_eq!(f.whole("half", 255, false), Err(Mismatch));
        assert_eq!(f.whole("nul", 255, false), Err(Mismatch));
        assert_eq!(f.whole("nul", 255, true), Ok(None));
        assert!(Fields::of(&JsValue::NULL).is_none());
        assert!(Fields::of(&JsValue::from_str("x")).is_none());
    }
}
