//! `PlainFields`, `PlainLine` and `UtcTime` against `tracing-subscriber`'s own output.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};

use super::*;

/// What a subscriber wrote.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

/// The lines `emit` logs through a text subscriber (no timestamp) formatting fields with
/// `fields`.
fn render<N>(fields: N, ansi: bool, sanitize: bool, emit: &dyn Fn()) -> String
where
    N: for<'w> FormatFields<'w> + Send + Sync + 'static,
{
    let lines = Lines::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(lines.clone())
        .with_ansi(ansi)
        .with_ansi_sanitization(sanitize)
        .without_time()
        .with_max_level(tracing::Level::TRACE)
        .fmt_fields(fields)
        .finish();
    tracing::subscriber::with_default(subscriber, emit);
    let bytes = lines.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

/// `emit`'s lines are the same through `PlainFields` as through `DefaultFields`, in every
/// setting of colours and sanitising; and not empty.
fn assert_same(emit: &dyn Fn()) {
    for (ansi, sanitize) in [(false, true), (false, false), (true, true), (true, false)] {
        let expected = render(DefaultFields::new(), ansi, sanitize, emit);
        let actual = render(PlainFields, ansi, sanitize, emit);
        assert!(!expected.is_empty(), "the event was not logged");
        assert_eq!(actual, expected, "ansi {ansi}, sanitize {sanitize}");
    }
}

/// Strings with what a formatter could get wrong: quotes, backslashes, controls, terminal
/// escapes, C1 controls, non-ASCII, combining marks, a `{}`.
const AWKWARD: &[&str] = &[
    "",
    "plain text",
    "/api/writer/projects",
    "with \"quotes\" and 'apostrophes'",
    "back\\slash",
    "\\",
    "\"",
    "\\\"",
    "tab\there, newline\nthere, return\r",
    "\x1b[31mred\x1b[0m and bell\x07",
    "bs\x08 ff\x0c del\x7f nul\0",
    "c1 \u{80}\u{9b}\u{9f} and \u{a0}",
    "café ☕ 日本",
    "e\u{301} combining, zero\u{200b}width",
    "{braces} %s {}",
    "~ !#$%&()*+,-./:;<=>?@[]^_`{|}",
];

#[test]
fn string_fields_and_messages_are_formatted_as_default_fields_formats_them() {
    for &s in AWKWARD {
        assert_same(&|| tracing::info!(value = s, other = "x", "{s}"));
        assert_same(&|| tracing::warn!(message = s, value = s));
        assert_same(
            &|| tracing::info!(target: "grafx_signer::audit", r#type = s, "message {s} end"),
        );
    }
}

#[test]
fn generated_strings_are_formatted_as_default_fields_formats_them() {
    let alphabet: Vec<char> =
        "a Z0~\"\\'\n\t\r\x1b\x07\x08\x0c\x7f\0\u{80}\u{85}\u{9f}\u{a0}é\u{301}☕{}=%"
            .chars()
            .collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..300 {
        let len = (next() % 12) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        assert_same(&|| tracing::info!(field = s.as_str(), "{s}"));
    }
}

#[test]
fn the_proxy_s_audit_line_is_formatted_as_default_fields_formats_it() {
    let ip: std::net::IpAddr = "203.0.113.7".parse().unwrap();
    assert_same(&|| {
        tracing::info!(
            target: "grafx_signer::audit",
            request_id = "42",
            user = "-",
            client_ip = %ip,
            origin = "http://app.example",
            integration = "writer",
            method = "POST",
            path = %"projects",
            status = 201_u16,
            "proxied write"
        );
    });
}

#[derive(Debug)]
struct Failure(&'static str, Option<Box<Failure>>);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.1.as_deref().map(|e| e as _)
    }
}

/// The lines `emit` logs through tracing-subscriber's own JSON format (no timestamp).
fn render_json(emit: &dyn Fn()) -> String {
    let lines = Lines::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(lines.clone())
        .without_time()
        .finish();
    tracing::subscriber::with_default(subscriber, emit);
    let bytes = lines.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn the_audit_s_message_as_a_first_string_field_writes_the_line_a_trailing_message_wrote() {
    let ip: std::net::IpAddr = "203.0.113.7".parse().unwrap();
    for &what in AWKWARD.iter().chain(&["forwarding write", "proxied write"]) {
        // Every field `audit.rs` writes.
        let before = || {
            tracing::info!(target: "grafx_signer::audit", request_id = "42", user = "-", client_ip = %ip, origin = "http://app.example", integration = "writer", method = "POST", path = %"projects", status = 201_u16, "{what}");
        };
        let after = || {
            tracing::info!(target: "grafx_signer::audit", message = what, request_id = "42", user = "-", client_ip = %ip, origin = "http://app.example", integration = "writer", method = "POST", path = %"projects", status = 201_u16);
        };
        for (ansi, sanitize) in [(false, true), (false, false), (true, true)] {
            let expected = render(DefaultFields::new(), ansi, sanitize, &before);
            assert_eq!(
                render(DefaultFields::new(), ansi, sanitize, &after),
                expected
            );
            assert_eq!(render(PlainFields, ansi, sanitize, &after), expected);
        }
        let json = render_json(&before);
        assert!(json.contains("\"message\":"), "{json}");
        assert_eq!(render_json(&after), json);
    }
}

#[test]
fn numbers_debug_values_errors_and_log_metadata_are_formatted_as_default_fields_formats_them() {
    let alone = Failure("refused\x1b[2J", None);
    let chained = Failure(
        "outer",
        Some(Box::new(Failure(
            "inner \"quoted\"",
            Some(Box::new(Failure("root", None))),
        ))),
    );
    assert_same(&|| {
        tracing::error!(
            count = 3_u64,
            delta = -7_i64,
            ratio = 0.5_f64,
            flag = true,
            big = 1_u128 << 100,
            list = ?vec!["a\"b", "c"],
            shown = %"a \"display\"",
            error = &alone as &(dyn std::error::Error + 'static),
            "failed"
        );
    });
    assert_same(&|| {
        let e: &(dyn std::error::Error + 'static) = &chained;
        tracing::warn!(error = e, after = "x");
    });
    assert_same(&|| {
        let e: &(dyn std::error::Error + 'static) = &chained;
        tracing::warn!(error = e);
    });
    // Fields `tracing-log` adds are left out, wherever they are.
    assert_same(&|| tracing::info!(log.target = "a", first = 1_u64, log.line = 3_u64, "m"));
    assert_same(&|| tracing::info!(log.file = "f.rs", "only the message"));
    assert_same(&|| tracing::info!(only = "a field"));
    assert_same(&|| {
        let e: &(dyn std::error::Error + 'static) = &alone;
        tracing::info!(log.error = e, next = 1_u64, "m");
    });
    assert_same(&|| {
        let e: &(dyn std::error::Error + 'static) = &alone;
        tracing::info!(log.error = e, next = 1_u64);
    });
}

#[test]
fn long_strings_integers_and_string_messages_are_formatted_as_default_fields_formats_them() {
    // Around the length `PlainFields` gathers a field in one write (128 bytes with the space,
    // the name, `="` and `"`), and well past it.
    for len in [
        0, 1, 100, 118, 119, 120, 121, 122, 123, 127, 128, 129, 200, 1000,
    ] {
        let s = "p".repeat(len);
        assert_same(&|| tracing::info!(field = s.as_str(), "m"));
        assert_same(&|| tracing::info!(field = s.as_str()));
        assert_same(&|| tracing::info!(r#type = s.as_str(), other = s.as_str()));
        assert_same(&|| tracing::info!(message = s.as_str(), after = s.as_str()));
    }
    assert_same(&|| {
        tracing::info!(
            zero = 0_u64,
            max = u64::MAX,
            min = i64::MIN,
            minus = -1_i64,
            status = 201_u16,
            small = -3_i32,
            "m"
        );
    });
    assert_same(&|| tracing::info!(first = 7_u64));
    assert_same(&|| tracing::info!(r#loop = 5_i64, after = 1_u64));
    assert_same(&|| tracing::info!(message = 42_u64, after = -1_i64));
    assert_same(&|| tracing::info!(log.line = 3_u64, message = "log", n = 2_u64));
    // The audit's form: the message a string field, first; and after another field.
    for &s in AWKWARD {
        assert_same(&|| tracing::info!(target: "grafx_signer::audit", message = s, user = s));
        assert_same(&|| tracing::info!(first = "a", message = s));
    }
}

#[test]
fn a_plain_string_is_one_debug_writes_unescaped_between_quotes() {
    for c in (0..=0x3000).filter_map(char::from_u32) {
        for s in [c.to_string(), format!("a{c}b")] {
            let unescaped = format!("{s:?}") == format!("\"{s}\"");
            // Plain means written as it is; among ASCII (all a request's id, path and names
            // are) it is the only way to be.
            assert!(!is_plain(&s) || unescaped, "{s:?} is not plain");
            if c.is_ascii() {
                assert_eq!(is_plain(&s), unescaped, "{:?} (U+{:04X})", s, u32::from(c));
            }
        }
    }
    assert!(is_plain(""));
}

#[test]
fn span_fields_are_formatted_as_default_fields_formats_them() {
    assert_same(&|| {
        let outer = tracing::info_span!(
            "request",
            id = "7",
            path = "a \"b\"",
            later = tracing::field::Empty
        );
        let _outer = outer.enter();
        outer.record("later", "recorded\n");
        outer.record("id", 8_u64);
        let inner = tracing::info_span!("inner", r#type = ?Some(1));
        let _inner = inner.enter();
        tracing::info!(field = "x", "in spans");
    });
}

/// `UtcTime`'s timestamp of `now`.
fn utc_time(now: Duration) -> String {
    let mut out = String::new();
    write_since_epoch(now, &mut Writer::new(&mut out)).unwrap();
    out
}

/// `httpdate`'s `Thu, 01 Jan 1970 00:00:00 GMT` as `1970-01-01T00:00:00`.
fn http_date_as_rfc3339(second: u64) -> String {
    let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(second));
    let parts: Vec<&str> = date.split(' ').collect();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])
    .unwrap()
        + 1;
    format!("{}-{month:02}-{}T{}", parts[3], parts[1], parts[4])
}

#[test]
fn the_timestamp_is_the_calendar_date_and_time_of_the_second() {
    let leap_day_2000 = 951_782_400;
    let mut seconds = vec![
        0,
        59,
        86_399,
        86_400,
        leap_day_2000 - 1,
        leap_day_2000,
        leap_day_2000 + 86_400,
        4_107_542_399, // 2100-02-28T23:59:59: 2100 is no leap year
        4_107_542_400,
        1_796_570_913, // 2026-12-06
        LAST_FOUR_DIGIT_SECOND,
    ];
    seconds.extend((0..2_000).map(|i| i * 126_713_387 % LAST_FOUR_DIGIT_SECOND));
    for second in seconds {
        let micros = second % 1_000_000;
        let now = Duration::from_secs(second) + Duration::from_micros(micros);
        assert_eq!(
            utc_time(now),
            format!("{}.{micros:06}Z", http_date_as_rfc3339(second)),
            "second {second}"
        );
    }
}

#[test]
fn the_cached_second_is_replaced_when_the_second_changes() {
    let day = Duration::from_secs(1_796_570_913);
    assert_eq!(utc_time(day), "2026-12-06T15:28:33.000000Z");
    assert_eq!(
        utc_time(day + Duration::from_nanos(999_999_999)),
        "2026-12-06T15:28:33.999999Z"
    );
    assert_eq!(
        utc_time(day + Duration::from_secs(1)),
        "2026-12-06T15:28:34.000000Z"
    );
    assert_eq!(
        utc_time(day + Duration::from_secs(86_400)),
        "2026-12-07T15:28:33.000000Z"
    );
    assert_eq!(utc_time(day), "2026-12-06T15:28:33.000000Z");
}

#[test]
fn the_second_s_prefix_is_worked_out_once_and_kept() {
    let second = 1_796_570_913;
    LAST_SECOND.with(|last| last.set(Some((second, *b"XXXX-XX-XXTXX:XX:XX."))));
    assert_eq!(
        utc_time(Duration::from_secs(second) + Duration::from_micros(7)),
        "XXXX-XX-XXTXX:XX:XX.000007Z",
        "the cached prefix is used within its second"
    );
    // `UtcTime` itself caches the second it formats.
    let mut out = String::new();
    UtcTime.format_time(&mut Writer::new(&mut out)).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cached = LAST_SECOND.with(Cell::get).map(|(second, _)| second);
    assert!(
        cached.is_some_and(|cached| cached + 1 >= now && cached <= now),
        "cached {cached:?}, now {now}"
    );
}

#[test]
fn the_timestamp_is_the_one_tracing_subscriber_writes_now() {
    let timestamp = |timer: &dyn FormatTime| {
        let mut out = String::new();
        timer.format_time(&mut Writer::new(&mut out)).unwrap();
        out
    };
    // Retried across a second's turn between the two readings.
    for _ in 0..5 {
        let theirs = timestamp(&tracing_subscriber::fmt::time::SystemTime);
        let ours = timestamp(&UtcTime);
        assert_eq!(ours.len(), theirs.len(), "{ours} vs {theirs}");
        assert!(ours.ends_with('Z') && ours.as_bytes()[19] == b'.', "{ours}");
        if ours[..19] == theirs[..19] {
            assert!(ours[20..26] >= theirs[20..26], "{ours} before {theirs}");
            return;
        }
    }
    panic!("the timestamps differed to the second five times");
}

#[test]
fn a_field_buffer_gathers_what_fits_and_refuses_what_does_not() {
    let mut field = FieldBuffer::default();
    assert!(field.push(" name=\""));
    assert!(field.push("value"));
    assert_eq!(field.as_str(), Ok(" name=\"value"));
    let rest = 128 - field.as_str().unwrap().len();
    let long = "x".repeat(rest + 1);
    // One byte too many: refused, and nothing of it kept.
    assert!(!field.push(&long));
    assert_eq!(field.as_str(), Ok(" name=\"value"));
    // Exactly the room left.
    assert!(field.push(&long[1..]));
    assert_eq!(field.as_str().unwrap().len(), 128);
    assert!(!field.push("y"));
    assert!(field.push(""));
}

/// A timestamp that is the same for both formats.
#[derive(Clone)]
struct Noon;

impl FormatTime for Noon {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        w.write_str("2026-12-06T12:00:00.000000Z")
    }
}

/// A timer that fails: both formats write `<unknown time>`.
#[derive(Clone)]
struct Broken;

impl FormatTime for Broken {
    fn format_time(&self, _: &mut Writer<'_>) -> std::fmt::Result {
        Err(std::fmt::Error)
    }
}

/// The lines `emit` logs through a text subscriber with `PlainFields`, its lines formatted by
/// `format`, with or without colours.
fn render_lines<E>(format: E, ansi: bool, emit: &dyn Fn()) -> String
where
    E: for<'w> tracing_subscriber::fmt::FormatEvent<tracing_subscriber::Registry, PlainFields>
        + Send
        + Sync
        + 'static,
{
    let lines = Lines::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(lines.clone())
        .with_ansi(ansi)
        .with_max_level(tracing::Level::TRACE)
        .fmt_fields(PlainFields)
        .event_format(format)
        .finish();
    tracing::subscriber::with_default(subscriber, emit);
    let bytes = lines.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

/// `emit`'s lines are the same through `PlainLine` as through `Full` (both with `timer`), with
/// and without colours; and not empty.
fn assert_same_lines<T: FormatTime + Clone + Send + Sync + 'static>(timer: T, emit: &dyn Fn()) {
    for ansi in [false, true] {
        let full = tracing_subscriber::fmt::format().with_timer(timer.clone());
        let expected = render_lines(full, ansi, emit);
        let actual = render_lines(PlainLine::new(timer.clone()), ansi, emit);
        assert!(!expected.is_empty(), "the event was not logged");
        assert_eq!(actual, expected, "ansi {ansi}");
    }
}

#[test]
fn lines_are_formatted_as_full_formats_them_at_every_level_and_target() {
    assert_same_lines(Noon, &|| {
        tracing::trace!("a trace");
        tracing::debug!(n = 1, "a debug");
        tracing::info!(target: "grafx_signer::audit", message = "proxied write", request_id = "r1", status = 201_u16);
        tracing::warn!(target: "x", "a warning with {}", "arguments");
        tracing::error!(target: "", error = "no target");
        tracing::info!("");
        tracing::info!(path = "a \"b\"\n", "awkward \x1b[31m");
    });
    assert_same_lines(Broken, &|| tracing::info!("no time"));
}

#[test]
fn lines_in_spans_are_formatted_as_full_formats_them() {
    assert_same_lines(Noon, &|| {
        let outer = tracing::info_span!("request", id = "7");
        let _outer = outer.enter();
        let inner = tracing::info_span!("inner");
        let _inner = inner.enter();
        tracing::info!(field = "x", "in spans");
        drop(_inner);
        tracing::info!("in one span");
    });
    // A span entered and left: the line after it has none.
    assert_same_lines(Noon, &|| {
        tracing::info_span!("gone").in_scope(|| tracing::info!("inside"));
        tracing::info!("after");
    });
}

#[test]
fn lines_from_the_log_crate_are_formatted_as_full_formats_them() {
    // `Full` writes a `log` record's own target and level, which it takes from its fields.
    let record = || {
        let args = format_args!("from log");
        let record = log::Record::builder()
            .args(args)
            .level(log::Level::Warn)
            .target("rustls::client")
            .build();
        tracing_log::format_trace(&record).unwrap();
    };
    assert_same_lines(Noon, &record);
    let line = render_lines(PlainLine::new(Noon), false, &record);
    assert!(line.contains("  WARN rustls::client: from log"), "{line}");
}

#[test]
fn plain_line_writes_the_level_padded_as_full_does() {
    let line = render_lines(PlainLine::new(Noon), false, &|| {
        tracing::info!(target: "t", "m");
        tracing::error!(target: "t", "m");
    });
    assert_eq!(
        line,
        "2026-12-06T12:00:00.000000Z  INFO t: m\n2026-12-06T12:00:00.000000Z ERROR t: m\n"
    );
}
