//! What a stored response becomes for a conditional or range request (RFC 9110 §13, §14;
//! RFC 9111 §4.3.2).
//!
//! A cache that holds a response answers the client's own preconditions itself instead of
//! sending the whole body: `If-None-Match` / `If-Modified-Since` that hold give 304, a failed
//! `If-Match` / `If-Unmodified-Since` gives 412, and one byte range of a stored complete 200
//! gives 206 (or 416 when no byte of it exists). The evaluation order is RFC 9110 §13.2.2's.
//! This module decides only; it never reads a body or builds a response.
//!
//! Choices where the RFC leaves room, taken as nginx does: several ranges in one request are
//! answered with the whole response (allowed by §14.2), a stored response without
//! `Content-Length` is never sliced, and `If-Range` with a date holds only when it equals the
//! stored `Last-Modified` exactly.

use http::header::{
    CONTENT_LENGTH, ETAG, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE,
    LAST_MODIFIED, RANGE,
};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::directives::split_list;
use super::freshness::parse_http_date;

/// How a stored response answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The stored response as it is.
    Full,
    /// `304 Not Modified`: the client's copy is current.
    NotModified,
    /// `412 Precondition Failed`: `If-Match` or `If-Unmodified-Since` does not hold.
    PreconditionFailed,
    /// `206 Partial Content` with bytes `first..=last` of `length`.
    Partial {
        /// First byte sent.
        first: u64,
        /// Last byte sent (inclusive).
        last: u64,
        /// The whole representation's length.
        length: u64,
    },
    /// `416 Range Not Satisfiable`: the representation has `length` bytes, none of them asked for.
    Unsatisfiable {
        /// The whole representation's length.
        length: u64,
    },
}

/// How the stored response (`stored_status`, `stored`) answers a GET carrying `request`.
pub fn answer(stored_status: StatusCode, stored: &HeaderMap, request: &HeaderMap) -> Answer {
    if !stored_status.is_success() {
        return Answer::Full; // preconditions concern the selected representation (§13.2.1)
    }
    if precondition_failed(stored, request) {
        return Answer::PreconditionFailed;
    }
    if not_modified(stored, request) {
        return Answer::NotModified;
    }
    if stored_status != StatusCode::OK || !if_range_holds(stored, request) {
        return Answer::Full;
    }
    let (Some(range), Some(length)) = (single_value(request, &RANGE), content_length(stored)) else {
        return Answer::Full;
    };
    match byte_range(range, length) {
        Range::Ignored => Answer::Full,
        Range::Unsatisfiable => Answer::Unsatisfiable { length },
        Range::Bytes { first, last } => Answer::Partial { first, last, length },
    }
}

/// Whether `If-Match` (or, without it, `If-Unmodified-Since`) fails for the stored response.
/// An `If-Unmodified-Since` that is not a date, or a response without `Last-Modified`, is
/// ignored (§13.1.4).
fn precondition_failed(stored: &HeaderMap, request: &HeaderMap) -> bool {
    if request.contains_key(IF_MATCH) {
        return !list(request, &IF_MATCH)
            .iter()
            .any(|tag| tag == "*" || stored_etag(stored).is_some_and(|etag| strong_match(tag, etag)));
    }
    let since = single_value(request, &IF_UNMODIFIED_SINCE).and_then(parse_http_date);
    match (since, stored_date(stored, &LAST_MODIFIED)) {
        (Some(since), Some(modified)) => modified > since,
        _ => false,
    }
}

/// Whether `If-None-Match` (or, without it, `If-Modified-Since`) says the client's copy is
/// current.
fn not_modified(stored: &HeaderMap, request: &HeaderMap) -> bool {
    if request.contains_key(IF_NONE_MATCH) {
        return list(request, &IF_NONE_MATCH)
            .iter()
            .any(|tag| tag == "*" || stored_etag(stored).is_some_and(|etag| weak_match(tag, etag)));
    }
    let Some(since) = single_value(request, &IF_MODIFIED_SINCE).and_then(parse_http_date) else {
        return false;
    };
    stored_date(stored, &LAST_MODIFIED).is_some_and(|modified| modified <= since)
}

/// Whether `If-Range`, when present, lets the range apply (§13.1.5): a strong match of the
/// entity tag, or the exact `Last-Modified` date.
fn if_range_holds(stored: &HeaderMap, request: &HeaderMap) -> bool {
    let Some(value) = single_value(request, &IF_RANGE) else { return true };
    if value.starts_with('"') || value.starts_with("W/") {
        return stored_etag(stored).is_some_and(|etag| strong_match(value, etag));
    }
    match (parse_http_date(value), stored_date(stored, &LAST_MODIFIED)) {
        (Some(date), Some(modified)) => date == modified,
        _ => false,
    }
}

/// One byte range as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    /// Not one valid byte range (wrong unit, syntax, several ranges): serve the whole.
    Ignored,
    /// Valid, but starting past the end.
    Unsatisfiable,
    /// Bytes `first..=last`, clamped to the representation.
    Bytes { first: u64, last: u64 },
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a representation of `length` bytes
/// (§14.1.2).
fn byte_range(value: &str, length: u64) -> Range {
    let Some((unit, set)) = value.split_once('=') else { return Range::Ignored };
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return Range::Ignored;
    }
    let Some((first, last)) = set.trim().split_once('-') else { return Range::Ignored };
    let number =
        |s: &str| (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u64>().ok());
    match (number(first), number(last)) {
        (Some(Some(first)), None) if last.is_empty() => within(first, length.saturating_sub(1), length),
        (Some(Some(first)), Some(Some(last))) if first <= last => {
            within(first, last.min(length.saturating_sub(1)), length)
        }
        (None, Some(Some(suffix))) if first.is_empty() => match suffix {
            0 => Range::Unsatisfiable,
            n => within(length.saturating_sub(n), length.saturating_sub(1), length),
        },
        _ => Range::Ignored,
    }
}

fn within(first: u64, last: u64, length: u64) -> Range {
    if first >= length { Range::Unsatisfiable } else { Range::Bytes { first, last } }
}

/// The one value of `name`, or `None` when absent, repeated or not text.
fn single_value<'h>(headers: &'h HeaderMap, name: &http::HeaderName) -> Option<&'h str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    values.next().is_none().then(|| value.to_str().ok()).flatten().map(str::trim)
}

fn list(headers: &HeaderMap, name: &http::HeaderName) -> Vec<String> {
    headers.get_all(name).iter().flat_map(|v| split_list(&String::from_utf8_lossy(v.as_bytes()))).collect()
}

fn stored_etag(stored: &HeaderMap) -> Option<&str> {
    single_value(stored, &ETAG)
}

fn stored_date(stored: &HeaderMap, name: &http::HeaderName) -> Option<u64> {
    single_value(stored, name).and_then(parse_http_date)
}

fn content_length(stored: &HeaderMap) -> Option<u64> {
    single_value(stored, &CONTENT_LENGTH)?.parse().ok()
}

/// Strong comparison (§8.8.3.2): both strong and the same opaque tag.
fn strong_match(a: &str, b: &str) -> bool {
    !a.starts_with("W/") && !b.starts_with("W/") && a == b
}

/// Weak comparison: the opaque tags are the same, `W/` ignored.
fn weak_match(a: &str, b: &str) -> bool {
    a.strip_prefix("W/").unwrap_or(a) == b.strip_prefix("W/").unwrap_or(b)
}

/// The `Content-Range` of a 206 for `first..=last` of `length`, or of a 416 (`bytes */length`).
pub fn content_range(answer: Answer) -> Option<HeaderValue> {
    let value = match answer {
        Answer::Partial { first, last, length } => format!("bytes {first}-{last}/{length}"),
        Answer::Unsatisfiable { length } => format!("bytes */{length}"),
        _ => return None,
    };
    HeaderValue::from_str(&value).ok()
}
