//! The binary's log format, with less work per line than `tracing-subscriber`'s own for the
//! same bytes: the API proxy writes two audit lines for every write it forwards, and formatting
//! them took about 7% of the signer's CPU samples under load (BENCHMARKS.md, issue #28).
//!
//! - [`PlainFields`]: `DefaultFields`' fields for a log without colours.
//! - [`PlainLine`]: the `Full` format's line for a log without colours.
//! - [`UtcTime`]: `SystemTime`'s timestamp, the date and time of day worked out once a second.
//!
//! `tests` checks `PlainFields` against `DefaultFields` and `PlainLine` against `Full` event for
//! event, the calendar against `httpdate`'s, and a timestamp against one `SystemTime` writes at
//! the same moment.
//!
//! ```no_run
//! tracing_subscriber::fmt()
//!     .fmt_fields(grafx_signer::PlainFields)
//!     .event_format(grafx_signer::PlainLine::new(grafx_signer::UtcTime))
//!     .init();
//! ```

use std::cell::Cell;
use std::fmt::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultFields, DefaultVisitor, Format, Full, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// tracing-subscriber 0.3's default (`Full`) line, byte for byte, for a log without colours:
/// `{time} {LEVEL} {target}: {fields}` and a newline, the level right-aligned in five columns.
/// It writes those pieces straight out, where `Full` goes through `core::fmt` for each. An
/// event inside spans (which `Full` writes before the target), an event from the `log` crate
/// (whose target and level `Full` takes from its fields) and a log with colours go to `Full`
/// itself.
#[derive(Debug, Clone)]
pub struct PlainLine<T> {
    timer: T,
    full: Format<Full, T>,
}

impl<T: FormatTime + Clone> PlainLine<T> {
    /// Lines stamped by `timer`.
    pub fn new(timer: T) -> Self {
        let full = Format::default().with_timer(timer.clone());
        Self { timer, full }
    }
}

impl<S, N, T> FormatEvent<S, N> for PlainLine<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    T: FormatTime,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        // `tracing-log`'s events all have the target `log`.
        let in_spans = || {
            ctx.event_scope()
                .is_some_and(|s| s.from_root().next().is_some())
        };
        if writer.has_ansi_escapes() || meta.target() == "log" || in_spans() {
            return self.full.format_event(ctx, writer, event);
        }
        if self.timer.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        writer.write_str(level_column(*meta.level()))?;
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The space after the timestamp, the level as `Full` pads it, and the space after it.
fn level_column(level: Level) -> &'static str {
    match level {
        Level::TRACE => " TRACE ",
        Level::DEBUG => " DEBUG ",
        Level::INFO => "  INFO ",
        Level::WARN => "  WARN ",
        Level::ERROR => " ERROR ",
    }
}

/// Fields as tracing-subscriber 0.3's `DefaultFields` formats them, byte for byte (with its
/// default `tracing-log` feature, which leaves out `log.*` fields; into the in-memory line it
/// writes): `name=value` with the value's `Debug`, a string quoted and escaped, a raw
/// identifier's `r#` dropped, the message sanitised of terminal escapes (ESC, BEL, BS, FF, DEL
/// and C1 controls). It writes plain strings and names straight out, where `DefaultFields`
/// paints every name with an empty style and escapes every string through `Debug`. Errors go to
/// `DefaultVisitor` itself, and a log with colours (a terminal) to `DefaultFields`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        // Colours are for a terminal, where a line's cost does not matter: `DefaultFields`
        // paints them itself.
        if writer.has_ansi_escapes() {
            return DefaultFields::new().format_fields(writer, fields);
        }
        let mut visitor = PlainVisitor {
            sanitize: writer.sanitizes_ansi_escapes(),
            writer,
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

/// [`PlainFields`]' visitor: `DefaultVisitor` without colours.
struct PlainVisitor<'a> {
    writer: Writer<'a>,
    /// Whether no field is written yet (no space before the first).
    is_empty: bool,
    result: fmt::Result,
    /// Whether terminal escapes in the message are written escaped.
    sanitize: bool,
}

/// Fields `tracing-log` adds to an event from the `log` crate: the format shows them elsewhere.
fn is_log_metadata(name: &str) -> bool {
    name.starts_with("log.")
}

/// A field's name as `DefaultVisitor` writes it: a raw identifier without its `r#`.
fn unraw(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

impl PlainVisitor<'_> {
    /// The space before every field but the first: `" "`, or `""` for the first.
    fn space(&mut self) -> &'static str {
        if std::mem::replace(&mut self.is_empty, false) {
            ""
        } else {
            " "
        }
    }

    /// The space before every field but the first, written.
    fn pad(&mut self) -> fmt::Result {
        match self.space() {
            "" => Ok(()),
            space => self.writer.write_str(space),
        }
    }

    /// The space and `name=` as `DefaultVisitor` writes them.
    fn start(&mut self, name: &str) -> fmt::Result {
        self.pad()?;
        self.writer.write_str(unraw(name))?;
        self.writer.write_char('=')
    }

    /// The message: its `Debug`, with terminal escapes escaped unless sanitising is off.
    fn message(&mut self, value: &dyn fmt::Debug) -> fmt::Result {
        self.pad()?;
        if self.sanitize {
            write!(Sanitized(&mut self.writer), "{value:?}")
        } else {
            write!(self.writer, "{value:?}")
        }
    }

    /// A message given as a string: what [`message`](Self::message) writes for its `Display`.
    fn message_str(&mut self, value: &str) -> fmt::Result {
        self.pad()?;
        if self.sanitize {
            Sanitized(&mut self.writer).write_str(value)
        } else {
            self.writer.write_str(value)
        }
    }

    /// ` name="value"` for a [plain](is_plain) string, gathered into one write when it fits a
    /// line's usual field: a write to the line is a call through `dyn Write`, and five cost more
    /// than copying the pieces together first.
    fn plain_str(&mut self, name: &str, value: &str) -> fmt::Result {
        let pieces = [self.space(), unraw(name), "=\"", value, "\""];
        let mut field = FieldBuffer::default();
        if pieces.iter().all(|piece| field.push(piece)) {
            self.writer.write_str(field.as_str()?)
        } else {
            // Too long to gather: piece by piece.
            pieces.iter().try_for_each(|p| self.writer.write_str(p))
        }
    }

    /// An integer: its `Debug` (its decimal digits), as `DefaultVisitor` writes it.
    fn record_integer<I: itoa::Integer + fmt::Debug>(&mut self, field: &Field, value: I) {
        let name = field.name();
        if self.result.is_err() || is_log_metadata(name) {
            return;
        }
        self.result = if name == "message" {
            self.message(&value)
        } else {
            let mut digits = itoa::Buffer::new();
            let digits = digits.format(value);
            self.start(name)
                .and_then(|()| self.writer.write_str(digits))
        };
    }
}

/// Bytes gathered on the stack to be written to a line at once.
struct FieldBuffer {
    bytes: [u8; 128],
    len: usize,
}

impl Default for FieldBuffer {
    fn default() -> Self {
        FieldBuffer {
            bytes: [0; 128],
            len: 0,
        }
    }
}

impl FieldBuffer {
    /// Appends `piece`; false (and nothing appended) when it does not fit.
    fn push(&mut self, piece: &str) -> bool {
        let end = self.len + piece.len();
        match self.bytes.get_mut(self.len..end) {
            Some(room) => {
                room.copy_from_slice(piece.as_bytes());
                self.len = end;
                true
            }
            None => false,
        }
    }

    /// What was appended: whole `str`s, so valid UTF-8 (checked all the same).
    fn as_str(&self) -> Result<&str, fmt::Error> {
        std::str::from_utf8(&self.bytes[..self.len]).map_err(|_| fmt::Error)
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let name = field.name();
        if self.result.is_err() || is_log_metadata(name) {
            return;
        }
        self.result = if name == "message" {
            // A string's `Display` is the string: no formatting machinery on the way.
            self.message_str(value)
        } else if is_plain(value) {
            // What `Debug` writes for a string that needs no escape.
            self.plain_str(name, value)
        } else {
            self.start(name)
                .and_then(|()| write!(self.writer, "{value:?}"))
        };
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_integer(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_integer(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() || is_log_metadata(field.name()) {
            return;
        }
        // An error and its sources, rare and intricate: `DefaultVisitor`'s own code.
        let mut default = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        default.record_error(field, value);
        self.result = default.finish();
        self.is_empty = false;
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if self.result.is_err() || is_log_metadata(name) {
            return;
        }
        self.result = if name == "message" {
            self.message(value)
        } else {
            self.start(name)
                .and_then(|()| write!(self.writer, "{value:?}"))
        };
    }
}

/// Whether `Debug` writes `value` as it is between quotes: printable ASCII without `"` or `\`.
fn is_plain(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

/// A writer that escapes what could drive a terminal, as `tracing-subscriber` sanitises a
/// message: ESC, BEL, BS, FF and DEL as `\x..`, C1 controls as `\u{..}`.
struct Sanitized<'a, 'w>(&'a mut Writer<'w>);

impl Write for Sanitized<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| is_terminal_control(c)) {
            self.0.write_str(&rest[..at])?;
            match c {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// The characters `tracing-subscriber` escapes in a message.
fn is_terminal_control(c: char) -> bool {
    matches!(
        c,
        '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}'
    )
}

/// tracing-subscriber's `SystemTime` timestamp (RFC 3339 in UTC, to the microsecond:
/// `2026-12-06T16:28:33.123456Z`), with the part up to the second worked out once a second per
/// thread. Before 1970 and after 9999 it is `SystemTime`'s own.
#[derive(Debug, Clone, Copy, Default)]
pub struct UtcTime;

/// 9999-12-31T23:59:59Z: past it the year takes more than four digits, and `SystemTime` writes
/// the timestamp.
const LAST_FOUR_DIGIT_SECOND: u64 = 253_402_300_799;

/// `YYYY-MM-DDTHH:MM:SS.`
type SecondPrefix = [u8; 20];

thread_local! {
    /// The second last formatted on this thread and its prefix.
    static LAST_SECOND: Cell<Option<(u64, SecondPrefix)>> = const { Cell::new(None) };
}

impl FormatTime for UtcTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH);
        let Some(now) = since_epoch
            .ok()
            .filter(|d| d.as_secs() <= LAST_FOUR_DIGIT_SECOND)
        else {
            return tracing_subscriber::fmt::time::SystemTime.format_time(w);
        };
        write_since_epoch(now, w)
    }
}

/// The timestamp of `now` (since the epoch, at most [`LAST_FOUR_DIGIT_SECOND`]).
fn write_since_epoch(now: std::time::Duration, w: &mut Writer<'_>) -> fmt::Result {
    let second = now.as_secs();
    let prefix = LAST_SECOND.with(|last| match last.get() {
        Some((cached, prefix)) if cached == second => prefix,
        _ => {
            let prefix = second_prefix(second);
            last.set(Some((second, prefix)));
            prefix
        }
    });
    let mut micros = *b"000000Z";
    write_digits(&mut micros[..6], now.subsec_micros().into());
    // Both are ASCII digits and punctuation.
    w.write_str(std::str::from_utf8(&prefix).map_err(|_| fmt::Error)?)?;
    w.write_str(std::str::from_utf8(&micros).map_err(|_| fmt::Error)?)
}

/// `YYYY-MM-DDTHH:MM:SS.` of a second since the epoch (at most [`LAST_FOUR_DIGIT_SECOND`]), the
/// calendar by the `time` crate.
fn second_prefix(second: u64) -> SecondPrefix {
    let mut prefix = *b"0000-00-00T00:00:00.";
    let Some(at) = i64::try_from(second)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
    else {
        return prefix;
    };
    write_digits(&mut prefix[0..4], at.year().unsigned_abs().into());
    write_digits(&mut prefix[5..7], u8::from(at.month()).into());
    write_digits(&mut prefix[8..10], at.day().into());
    write_digits(&mut prefix[11..13], at.hour().into());
    write_digits(&mut prefix[14..16], at.minute().into());
    write_digits(&mut prefix[17..19], at.second().into());
    prefix
}

/// `value`'s last `into.len()` decimal digits, zero-padded.
fn write_digits(into: &mut [u8], mut value: u64) {
    for digit in into.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests;
