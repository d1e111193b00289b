//! Keeps the integration's token out of every reply the proxy passes back, whatever its type,
//! size or chunking: CHILI never reflects the bearer, so this is defence in depth, and it must be
//! sound where it applies.
//!
//! Covered: the token's bytes anywhere in a reply body (any content type, any size, decoded from
//! gzip or deflate first; a reply in any other content encoding is refused), including across
//! chunk boundaries, and written with JSON escapes (`\u0065`, `\/`, `\"`, `\\`) for any of its
//! characters; every passed reply header. Not covered: a token split over two `Range` replies
//! (the proxy forwards `Range` only for file downloads, which CHILI's renderer writes, never an
//! API echo), and encodings that hide bytes some other way (base64 of the token, say).
//!
//! ```ignore
//! let mut r = Redactor::new("eyJ.a.b");
//! let mut out = r.feed(Bytes::from_static(b"{\"t\":\"eyJ.")).concat();
//! out.extend(r.feed(Bytes::from_static(b"a.b\"}")).concat());
//! out.extend(r.finish());
//! assert_eq!(out, b"{\"t\":\"[redact\"}"); // as long as the token: `Content-Length` holds
//! ```

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use memchr::memmem;

/// What a token is replaced with (cut or padded with `*` to the token's length).
pub(crate) const REDACTED: &[u8] = b"[redacted]";

/// The longest spelling of one character: `\u0041`.
const MAX_ESCAPE: usize = 6;

/// How many tokens' searchers are kept: one per integration in use, and the one it replaced.
const KEPT_FINDERS: usize = 8;

/// Searchers for the tokens in use (and, in [`super::links`], the API base URLs), built once and
/// kept for the replies that follow (building one costs more than searching a typical reply with
/// it): the [`KEPT_FINDERS`] most recently used, most recent last. A token it holds is one the
/// token cache held too (memory only).
pub(super) struct Finders(Mutex<Vec<Arc<memmem::Finder<'static>>>>);

impl Finders {
    pub(super) const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    /// The searcher for `token`; a new one is built outside the lock.
    pub(super) fn get(&self, token: &str) -> Arc<memmem::Finder<'static>> {
        let lock = || self.0.lock().unwrap_or_else(PoisonError::into_inner);
        {
            let mut recent = lock();
            if let Some(at) = recent.iter().position(|f| f.needle() == token.as_bytes()) {
                let found = recent.remove(at);
                recent.push(Arc::clone(&found));
                return found;
            }
        }
        let finder = Arc::new(memmem::Finder::new(token.as_bytes()).into_owned());
        let mut recent = lock();
        if recent.len() >= KEPT_FINDERS {
            recent.remove(0);
        }
        recent.push(Arc::clone(&finder));
        finder
    }
}

/// The process's [`Finders`].
fn finder_of(token: &str) -> Arc<memmem::Finder<'static>> {
    static FINDERS: Finders = Finders::new();
    FINDERS.get(token)
}

/// A streaming redactor: [`Redactor::feed`] each chunk, then [`Redactor::finish`].
pub(crate) struct Redactor {
    /// The token's searcher (see [`finder_of`]).
    token: Arc<memmem::Finder<'static>>,
    /// Bytes not yet emitted: a token may start in them and end in the next chunk.
    carry: Vec<u8>,
}

impl Redactor {
    pub(crate) fn new(token: &str) -> Self {
        Self {
            token: finder_of(token),
            carry: Vec::new(),
        }
    }

    /// The longest a spelling of the token can be.
    fn window(&self) -> usize {
        self.token.needle().len() * MAX_ESCAPE
    }

    /// The bytes of `chunk` (and of earlier chunks held back) that can be sent now, redacted, in
    /// order: what was held, then the chunk's own. The last `window - 1` bytes are held: a token
    /// may begin there. A chunk with nothing to redact and no escape (nor any in what was held)
    /// is passed on without a copy: file downloads, and most API replies.
    pub(crate) fn feed(&mut self, chunk: Bytes) -> [Bytes; 2] {
        if self.token.needle().is_empty() {
            return [Bytes::new(), chunk];
        }
        if let Some(at) = self.untouched(&chunk) {
            let held = std::mem::replace(&mut self.carry, chunk[at..].to_vec());
            return [Bytes::from(held), chunk.slice(..at)];
        }
        [self.feed_copied(&chunk), Bytes::new()]
    }

    /// Where `chunk`'s held tail starts, when `carry ++ chunk` holds no escape and no spelling
    /// of the token: then [`Redactor::feed_copied`] would send `carry ++ chunk[..at]` unchanged
    /// and hold `chunk[at..]`. A spelling that starts in `carry` ends within the token's length
    /// less one byte of `chunk`, so the seam is searched on its own; the rest, in `chunk`. The
    /// seam holds all of `carry`: a copied step may have held a whole spelling back in it.
    fn untouched(&self, chunk: &[u8]) -> Option<usize> {
        let needle = self.token.needle().len();
        let at = chunk.len().checked_sub(self.window() - 1)?;
        let escape = |b: &[u8]| memchr::memchr(b'\\', b).is_some();
        if escape(&self.carry) || escape(chunk) || self.token.find(chunk).is_some() {
            return None;
        }
        if !self.carry.is_empty() {
            let mut seam = Vec::with_capacity(self.carry.len() + needle);
            seam.extend_from_slice(&self.carry);
            seam.extend_from_slice(&chunk[..needle - 1]);
            if self.token.find(&seam).is_some() {
                return None;
            }
        }
        Some(at)
    }

    /// [`Redactor::feed`] on `carry ++ chunk`, copied into one buffer: searched for every
    /// spelling, cut where no escape or spelling is split, and redacted before the cut.
    fn feed_copied(&mut self, chunk: &[u8]) -> Bytes {
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(chunk);
        let spans = spans(&buf, &self.token);
        // A spelling that starts before the cut ends inside `buf` (it is at most `window` long),
        // so it was found whole; the cut moves past one that straddles it. The cut never splits
        // an escape (`\\` included): what is held back is decoded again with the next chunk, and
        // must start where an escape or a plain byte starts.
        let mut cut = unit_start(&buf, buf.len().saturating_sub(self.window() - 1));
        if let Some(&(_, end)) = spans.iter().find(|(s, e)| *s < cut && *e > cut) {
            cut = end;
        }
        self.carry = buf[cut..].to_vec();
        let mut before_cut = spans.iter().filter(|(_, e)| *e <= cut).peekable();
        if before_cut.peek().is_none() {
            // Nothing to redact before the cut: the buffer itself is sent.
            buf.truncate(cut);
            return Bytes::from(buf);
        }
        Bytes::from(replaced(&buf[..cut], before_cut))
    }

    /// The bytes still held, redacted.
    pub(crate) fn finish(&mut self) -> Bytes {
        let buf = std::mem::take(&mut self.carry);
        let spans = spans(&buf, &self.token);
        if spans.is_empty() {
            return Bytes::from(buf);
        }
        Bytes::from(replaced(&buf, spans.iter()))
    }
}

/// `text` with every spelling of `token` redacted (a whole body or a header value).
pub(crate) fn redact_all(text: &[u8], token: &str) -> Option<Vec<u8>> {
    // Shorter than the token: no spelling of it fits (escapes only lengthen it), and building
    // the searcher would cost more than the reply (most header values).
    if token.is_empty() || text.len() < token.len() {
        return None;
    }
    let spans = spans(text, &finder_of(token));
    (!spans.is_empty()).then(|| replaced(text, spans.iter()))
}

/// `buf` with the (sorted, disjoint) `spans` replaced by [`REDACTED`], padded with `*` to the
/// span's length: a reply keeps its `Content-Length` (a download's progress) whatever is found.
fn replaced<'a>(buf: &[u8], spans: impl Iterator<Item = &'a (usize, usize)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len());
    let mut at = 0;
    for &(start, end) in spans {
        out.extend_from_slice(&buf[at..start]);
        let len = end - start;
        out.extend(REDACTED.iter().chain(std::iter::repeat(&b'*')).take(len));
        at = end;
    }
    out.extend_from_slice(&buf[at..]);
    out
}

/// Where `token` is spelled in `buf`, as sorted, disjoint byte ranges: literally (a fast,
/// linear search), and, when `buf` holds a JSON escape at all (`\uXXXX`, `\/`, `\"`, `\\`: a
/// token is opaque, and may hold any of these characters), with any of its characters escaped
/// (a linear pass that decodes them, then the same search). Both: a literal token right after
/// a broken escape (`\u006` then the token) is not there once decoded.
fn spans(buf: &[u8], finder: &memmem::Finder<'_>) -> Vec<(usize, usize)> {
    let len = finder.needle().len();
    if buf.len() < len {
        return Vec::new();
    }
    let mut found: Vec<(usize, usize)> = finder.find_iter(buf).map(|i| (i, i + len)).collect();
    let escaped = memchr::memchr_iter(b'\\', buf).any(|i| escape_at(&buf[i..]).is_some());
    if !escaped {
        return found;
    }
    let (decoded, origins) = decode_escapes(buf);
    found.extend(
        finder
            .find_iter(&decoded)
            .map(|i| (origins.of(i), origins.of(i + len))),
    );
    found.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(found.len());
    for (start, end) in found {
        match merged.last_mut() {
            Some(last) if start < last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// The start of the escape or plain byte `cut` falls in (`cut` itself when it falls between
/// two): a cut there never splits an escape.
fn unit_start(buf: &[u8], cut: usize) -> usize {
    let Some(first) = memchr::memchr(b'\\', &buf[..cut]) else {
        return cut;
    };
    let mut i = first;
    while i < cut {
        let len = match buf[i] {
            b'\\' => escape_at(&buf[i..]).map_or(1, |(_, len)| len),
            _ => 1,
        };
        if i + len > cut {
            return i;
        }
        i += len;
    }
    cut
}

/// `buf` with JSON's ASCII escapes decoded (`\u0000`–`\u007f`, `\/`, `\"`, `\\`), and where
/// each decoded byte began in `buf`.
fn decode_escapes(buf: &[u8]) -> (Vec<u8>, Origins) {
    let mut decoded = Vec::with_capacity(buf.len());
    // At most one entry per backslash: sized once, never doubled past it.
    let mut origins = Origins(Vec::with_capacity(memchr::memchr_iter(b'\\', buf).count()));
    let mut saved = 0;
    let mut i = 0;
    while i < buf.len() {
        let escape = (buf[i] == b'\\').then(|| escape_at(&buf[i..])).flatten();
        let (byte, len) = match escape {
            Some((byte, len)) => {
                saved += len - 1;
                origins.0.push((decoded.len(), saved));
                (byte, len)
            }
            None => (buf[i], 1),
        };
        decoded.push(byte);
        i += len;
    }
    (decoded, origins)
}

/// Where the bytes of a decoded text began in the text: for each escape, its index in the
/// decoded text and the bytes the escapes up to and including it saved. One entry per escape,
/// not per byte: a file download holds few escapes.
struct Origins(Vec<(usize, usize)>);

impl Origins {
    /// Where decoded byte `i` began (the text's end for the decoded text's end).
    fn of(&self, i: usize) -> usize {
        let before = self.0.partition_point(|&(at, _)| at < i);
        i + before.checked_sub(1).map_or(0, |k| self.0[k].1)
    }
}

/// The ASCII byte a JSON escape at the start of `s` stands for, and the escape's length.
fn escape_at(s: &[u8]) -> Option<(u8, usize)> {
    match s.get(1)? {
        b'/' => Some((b'/', 2)),
        b'"' => Some((b'"', 2)),
        b'\\' => Some((b'\\', 2)),
        b'u' => {
            let hex = std::str::from_utf8(s.get(2..6)?).ok()?;
            let code = u8::try_from(u16::from_str_radix(hex, 16).ok()?).ok()?;
            code.is_ascii().then_some((code, 6))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOi.payload-x_Y.sig";

    #[test]
    fn a_tokens_searcher_is_built_once_and_the_least_recently_used_let_go() {
        let finders = Finders::new();
        let a = finders.get("eyJ.a");
        assert!(Arc::ptr_eq(&a, &finders.get("eyJ.a")), "kept");
        assert_eq!(a.needle(), b"eyJ.a");
        let b = finders.get("eyJ.b");
        assert!(!Arc::ptr_eq(&a, &b));
        // Full: a, b and six more. Using `a` again makes `b` the one to go next.
        for i in 0..KEPT_FINDERS - 2 {
            finders.get(&format!("eyJ.other-{i}"));
        }
        assert!(Arc::ptr_eq(&a, &finders.get("eyJ.a")), "a used again");
        finders.get("eyJ.new");
        assert!(!Arc::ptr_eq(&b, &finders.get("eyJ.b")), "b let go");
        // That brought b back and let the oldest other go, never a.
        assert!(Arc::ptr_eq(&a, &finders.get("eyJ.a")), "a still kept");
        assert_eq!(
            finders.0.lock().unwrap().len(),
            KEPT_FINDERS,
            "never more than kept"
        );
        // The process's own.
        let p = finder_of("eyJ.process");
        assert_eq!(p.needle(), b"eyJ.process");
    }

    #[test]
    fn a_text_exactly_the_token_is_redacted_and_a_shorter_one_left() {
        let whole = redact_all(TOKEN.as_bytes(), TOKEN).expect("the token alone");
        assert_eq!(whole.len(), TOKEN.len());
        assert!(whole.starts_with(REDACTED));
        assert_eq!(redact_all(&TOKEN.as_bytes()[1..], TOKEN), None);
        assert_eq!(redact_all(b"", ""), None);
        // The same at the end of a stream: what is held is exactly the token.
        let mut r = Redactor::new(TOKEN);
        let mut out = r.feed(Bytes::from_static(TOKEN.as_bytes())).concat();
        out.extend(r.finish());
        assert_eq!(out, whole);
    }

    /// The replacement of a spelling `len` bytes long.
    fn mark(len: usize) -> String {
        let padded = format!("[redacted]{}", "*".repeat(len.saturating_sub(10)));
        padded[..len].to_string()
    }

    fn streamed(token: &str, chunks: &[&[u8]]) -> Vec<u8> {
        let mut r = Redactor::new(token);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(r.feed(Bytes::copy_from_slice(c)).concat());
        }
        out.extend(r.finish());
        out
    }

    #[test]
    fn literal_and_escaped_spellings_are_redacted() {
        let body = format!(r#"{{"a":"{TOKEN}","b":"x"}}"#);
        let out = redact_all(body.as_bytes(), TOKEN).unwrap();
        assert_eq!(out.len(), body.len());
        assert_eq!(
            out,
            format!(r#"{{"a":"{}","b":"x"}}"#, mark(TOKEN.len())).as_bytes()
        );
        // Every character escaped, some of them, upper- and lower-case hex.
        let all: String = TOKEN.bytes().map(|b| format!("\\u{b:04x}")).collect();
        let some = TOKEN
            .replacen('J', "\\u004A", 1)
            .replacen('.', "\\u002e", 2);
        for spelled in [all, some] {
            let body = format!(r#"["{spelled}"]"#);
            assert_eq!(
                redact_all(body.as_bytes(), TOKEN).unwrap(),
                format!(r#"["{}"]"#, mark(spelled.len())).as_bytes(),
                "{spelled}"
            );
        }
        // An escaped backslash before `u0065` is a backslash and the letters, not an escape.
        let tricky = format!(r#""\\u0065{}""#, &TOKEN[1..]);
        assert_eq!(redact_all(tricky.as_bytes(), TOKEN), None);
        assert_eq!(redact_all(b"no token here \\u00e9", TOKEN), None);
        assert_eq!(redact_all(TOKEN.as_bytes(), ""), None);
    }

    #[test]
    fn a_token_split_across_chunks_is_redacted_and_nothing_else_changes() {
        let body = format!("<x>{TOKEN}</x> and again {TOKEN}!");
        let m = mark(TOKEN.len());
        let expected = format!("<x>{m}</x> and again {m}!").into_bytes();
        // Every split point, and byte by byte.
        for cut in 0..body.len() {
            let (a, b) = body.as_bytes().split_at(cut);
            assert_eq!(streamed(TOKEN, &[a, b]), expected, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
        assert_eq!(streamed(TOKEN, &bytes), expected);
        // An escaped spelling split inside an escape.
        let escaped = format!("[\"\\u0065{}\"]", &TOKEN[1..]);
        for cut in 0..escaped.len() {
            let (a, b) = escaped.as_bytes().split_at(cut);
            let expected = format!("[\"{}\"]", mark(escaped.len() - 4));
            assert_eq!(
                streamed(TOKEN, &[a, b]),
                expected.as_bytes(),
                "cut at {cut}"
            );
        }
        // Binary data without the token passes byte for byte, whatever the chunking.
        let binary: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let chunks: Vec<&[u8]> = binary.chunks(1000).collect();
        assert_eq!(streamed(TOKEN, &chunks), binary);
    }

    #[test]
    fn all_but_the_window_is_sent_at_once() {
        let held = TOKEN.len() * MAX_ESCAPE - 1;
        // Plain bytes, with a token early on.
        let body = format!("xx{TOKEN}{}", "y".repeat(3 * held));
        let mut r = Redactor::new(TOKEN);
        let sent = r.feed(Bytes::from(body.clone())).concat();
        assert_eq!(sent.len(), body.len() - held);
        assert!(sent.starts_with(format!("xx{}", mark(TOKEN.len())).as_bytes()));
        // A spelling that starts right at the cut is held whole, and nothing past the cut is
        // sent early.
        let body = format!("xxxxxxxxxx{TOKEN}{}", "y".repeat(held - TOKEN.len()));
        let sent = Redactor::new(TOKEN)
            .feed(Bytes::from(body.clone()))
            .concat();
        assert_eq!(sent, b"xxxxxxxxxx");
        // Escapes, one of them ending right at the cut: it is sent, not held.
        let body = format!("{}z", "\\/".repeat(2 * held));
        assert_eq!(
            (body.len() - held) % 2,
            0,
            "the cut falls between two escapes"
        );
        assert_eq!(
            Redactor::new(TOKEN)
                .feed(Bytes::from(body.clone()))
                .concat()
                .len(),
            body.len() - held
        );
    }

    #[test]
    fn each_spelling_is_marked_on_its_own_and_any_token_character_may_be_escaped() {
        let m = mark(TOKEN.len());
        let body = format!("\\/{TOKEN}{TOKEN}");
        assert_eq!(
            redact_all(body.as_bytes(), TOKEN).unwrap(),
            format!("\\/{m}{m}").as_bytes()
        );
        // Tokens are opaque: a base64 one may hold `/` (written `\/` by some encoders), and a
        // quote or a backslash is escaped in any JSON string.
        for (token, spelled) in [
            ("ab/cd+ef", r"ab\/cd+ef"),
            ("ab\"cd", r#"ab\"cd"#),
            ("ab\\cd", r"ab\\cd"),
        ] {
            let body = format!("[\"{spelled}\"]");
            assert_eq!(
                redact_all(body.as_bytes(), token).unwrap(),
                format!("[\"{}\"]", mark(spelled.len())).as_bytes(),
                "{spelled}"
            );
        }
    }

    #[test]
    fn plain_chunks_pass_without_a_copy_and_a_spelling_across_the_seam_is_still_found() {
        let held = TOKEN.len() * MAX_ESCAPE - 1;
        let pad = "y".repeat(2 * held);
        // A plain chunk is sent as a slice of itself, less the held window.
        let chunk = Bytes::from(pad.clone());
        let mut r = Redactor::new(TOKEN);
        let [before, own] = r.feed(chunk.clone());
        assert!(before.is_empty());
        assert_eq!(own.as_ptr(), chunk.as_ptr(), "not copied");
        assert_eq!(own.len(), chunk.len() - held);
        // The next one sends what was held, then its own.
        let [before, own] = r.feed(chunk.clone());
        assert_eq!((before.len(), own.as_ptr()), (held, chunk.as_ptr()));
        // A token split at each of its bytes between two long plain chunks: each chunk alone
        // holds no spelling, the seam does.
        let m = mark(TOKEN.len());
        for split in 1..TOKEN.len() {
            let a = format!("{pad}{}", &TOKEN[..split]);
            let b = format!("{}{pad}", &TOKEN[split..]);
            let out = streamed(TOKEN, &[a.as_bytes(), b.as_bytes()]);
            assert_eq!(
                out,
                format!("{pad}{m}{pad}").into_bytes(),
                "split at {split}"
            );
        }
        // A whole spelling held back by a copied step, then a long plain chunk: what was held
        // is searched again (the seam takes all of it, and a held escape sends the step down
        // the copying path).
        let all: String = TOKEN.bytes().map(|b| format!("\\u{b:04x}")).collect();
        for spelled in [TOKEN.to_string(), format!("\\u0065{}", &TOKEN[1..]), all] {
            let a = format!("{pad}{spelled}");
            let whole = redact_all(format!("{a}{pad}").as_bytes(), TOKEN).unwrap();
            assert_eq!(
                streamed(TOKEN, &[a.as_bytes(), pad.as_bytes()]),
                whole,
                "{spelled}"
            );
        }
        // A spelling ending right before an escape: the span stops where the escape starts.
        let body = format!("\\u0065{}\\/x", &TOKEN[1..]);
        assert_eq!(
            redact_all(body.as_bytes(), TOKEN).unwrap(),
            format!("{}\\/x", mark(body.len() - 3)).into_bytes()
        );
        // Long plain stretches between spellings and escapes: chunks that pass uncopied and
        // chunks that are copied, in turn, redact as the whole does.
        let plain = "y".repeat(held + 40);
        let all: String = TOKEN.bytes().map(|b| format!("\\u{b:04x}")).collect();
        let body = format!(
            "{plain}{TOKEN}{plain}\\u0065{}{plain}{all}{plain}\\/{plain}",
            &TOKEN[1..]
        );
        let whole = redact_all(body.as_bytes(), TOKEN).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&whole)
                .matches("[redacted]")
                .count(),
            3
        );
        for size in [held, held + 1, held + 7, 2 * held + 3, 1000] {
            let chunks: Vec<&[u8]> = body.as_bytes().chunks(size).collect();
            assert_eq!(streamed(TOKEN, &chunks), whole, "chunks of {size}");
        }
        for cut in 0..body.len() {
            let (a, b) = body.as_bytes().split_at(cut);
            assert_eq!(streamed(TOKEN, &[a, b]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn long_streams_split_anywhere_redact_as_the_whole_does() {
        // Longer than the held window (six times the token), with escaped backslashes, broken
        // escapes and escaped spellings, so cuts land inside each.
        let pad = "ab\\\\cd\\/ef\\u0041".repeat(20);
        let rest = &TOKEN[1..];
        // The longest spelling too: every character escaped, six bytes each (the window's size).
        let all: String = TOKEN.bytes().map(|b| format!("\\u{b:04x}")).collect();
        let body = format!(
            "{pad}{TOKEN}{pad}\\u006{TOKEN}{pad}\"\\\\u0065{rest}\"{pad}\\u0065{rest}{pad}{all}{pad}"
        );
        assert!(body.len() > 4 * TOKEN.len() * MAX_ESCAPE, "{}", body.len());
        let whole = redact_all(body.as_bytes(), TOKEN).unwrap();
        let text = String::from_utf8(whole.clone()).unwrap();
        // Four spellings redacted (the literal, the one after `\u006`, the escaped one, the fully
        // escaped one); the escaped backslash before `u0065` is left alone.
        assert_eq!(text.matches("[redacted]").count(), 4, "{text}");
        assert!(!text.contains(TOKEN), "{text}");
        assert!(text.contains(&format!("\\\\u0065{rest}")), "{text}");
        for cut in 0..body.len() {
            let (a, b) = body.as_bytes().split_at(cut);
            assert_eq!(streamed(TOKEN, &[a, b]), whole, "cut at {cut}");
        }
        for size in [1, 5, 7, 64] {
            let chunks: Vec<&[u8]> = body.as_bytes().chunks(size).collect();
            assert_eq!(streamed(TOKEN, &chunks), whole, "chunks of {size}");
        }
    }
}
