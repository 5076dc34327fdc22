//! How long a response stays fresh in a shared cache (RFC 9111 §4.2.1, §4.2.2).
//!
//! Decides the freshness lifetime from, in order: `s-maxage`, `max-age`, `Expires` − `Date`,
//! and, only when none of those is present, a heuristic of 10% of `Date` − `Last-Modified`
//! capped at [`HEURISTIC_MAX`], for heuristically cacheable statuses or `public` responses.
//! It never reads a clock: the time the response was received is an input.
//!
//! Malformed input reads as "already expired": an `Expires` that is not an HTTP-date (e.g.
//! `0`), or several `Expires` lines that disagree (§4.2.1, §5.3).

use std::time::{Duration, UNIX_EPOCH};

use http::header::{DATE, EXPIRES, LAST_MODIFIED};
use http::{HeaderMap, HeaderName, StatusCode};

use super::directives::CacheControl;
use crate::ports::UnixMillis;

/// The longest heuristic freshness lifetime assigned (RFC 9111 §4.2.2 leaves the cap to the
/// cache; one day is the customary bound).
pub const HEURISTIC_MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// The share of `Date` − `Last-Modified` used as heuristic lifetime, in percent (§4.2.2).
pub const HEURISTIC_PERCENT: u64 = 10;

/// Statuses that are heuristically cacheable (RFC 9110 §15.1), except 206: this cache does not
/// implement range requests, so it never stores partial content.
pub const HEURISTICALLY_CACHEABLE: [u16; 11] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];

/// True when `status` may be given a heuristic freshness lifetime.
pub fn heuristically_cacheable(status: StatusCode) -> bool {
    HEURISTICALLY_CACHEABLE.contains(&status.as_u16())
}

/// True when the response carries an explicit expiration time for a shared cache:
/// `s-maxage`, `max-age` or `Expires` (valid or not).
pub fn has_explicit_expiry(headers: &HeaderMap) -> bool {
    let cc = CacheControl::from_headers(headers);
    cc.s_maxage.is_some() || cc.max_age.is_some() || headers.contains_key(EXPIRES)
}

/// The freshness lifetime of a response received at `response_time` (RFC 9111 §4.2.1).
///
/// `Duration::ZERO` means stale on arrival (including invalid `Expires`, and responses with
/// neither explicit expiry nor a heuristic allowance).
pub fn freshness_lifetime(headers: &HeaderMap, status: StatusCode, response_time: UnixMillis) -> Duration {
    let cc = CacheControl::from_headers(headers);
    if let Some(seconds) = cc.s_maxage.or(cc.max_age) {
        return Duration::from_secs(seconds);
    }
    let date = date_value(headers).unwrap_or(response_time);
    if headers.contains_key(EXPIRES) {
        return match single_date(headers, EXPIRES) {
            Some(expires) => Duration::from_millis(expires.saturating_sub(date)),
            None => Duration::ZERO,
        };
    }
    if !(heuristically_cacheable(status) || cc.public) {
        return Duration::ZERO;
    }
    match single_date(headers, LAST_MODIFIED) {
        Some(modified) => {
            let heuristic = date.saturating_sub(modified) / 100 * HEURISTIC_PERCENT;
            Duration::from_millis(heuristic).min(HEURISTIC_MAX)
        }
        None => Duration::ZERO,
    }
}

/// The `Date` of a response in Unix milliseconds, when present and valid.
pub fn date_value(headers: &HeaderMap) -> Option<UnixMillis> {
    single_date(headers, DATE)
}

/// Parses an HTTP-date (IMF-fixdate, RFC 850 or asctime form, RFC 9110 §5.6.7).
pub fn parse_http_date(value: &str) -> Option<UnixMillis> {
    let time = httpdate::parse_http_date(value.trim()).ok()?;
    let since = time.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(since.as_millis()).ok()
}

/// The last instant an IMF-fixdate can express: 9999-12-31T23:59:59.999Z.
const LAST_HTTP_DATE: UnixMillis = 253_402_300_799_999;

/// Formats Unix milliseconds as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. Times
/// after year 9999 are written as its last second rather than failing.
pub fn format_http_date(at: UnixMillis) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(at.min(LAST_HTTP_DATE)))
}

/// The date in the field `name`; `None` when absent, invalid, or given several different times.
fn single_date(headers: &HeaderMap, name: HeaderName) -> Option<UnixMillis> {
    let mut dates = headers.get_all(name).iter().map(|v| v.to_str().ok().and_then(parse_http_date));
    let first = dates.next()??;
    dates.all(|d| d == Some(first)).then_some(first)
}
