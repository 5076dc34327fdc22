//! How old a stored response is (RFC 9111 §4.2.3), and the `Age` header that says so (§5.1).
//!
//! Decides the current age from what was recorded when the response arrived ([`StoredMeta`])
//! and a `now` passed in. It never reads a clock and never stores anything.

use std::time::Duration;

use http::header::AGE;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::directives::{DELTA_SECONDS_MAX, delta_seconds, split_list};
use super::freshness::date_value;
use crate::ports::UnixMillis;

/// What a cache keeps about a stored response, besides its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMeta {
    /// The stored response's status.
    pub status: StatusCode,
    /// The stored response's headers (after any 304 merges).
    pub headers: HeaderMap,
    /// When the request that produced (or last validated) the response was sent.
    pub request_time: UnixMillis,
    /// When that response was received.
    pub response_time: UnixMillis,
}

/// The `Age` header's value in seconds: the first member of the field, `0` when absent or
/// invalid (RFC 9111 §5.1: a list-valued `Age` uses its first member; an invalid one is ignored).
pub fn age_value(headers: &HeaderMap) -> u64 {
    headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| split_list(v).into_iter().next())
        .and_then(|first| delta_seconds(&first))
        .unwrap_or(0)
}

/// The current age of a stored response at `now` (RFC 9111 §4.2.3).
///
/// ```text
/// apparent_age          = max(0, response_time - date_value)
/// response_delay        = response_time - request_time
/// corrected_age_value   = age_value + response_delay
/// corrected_initial_age = max(apparent_age, corrected_age_value)
/// resident_time         = now - response_time
/// current_age           = corrected_initial_age + resident_time
/// ```
///
/// A missing or invalid `Date` counts as `response_time` (RFC 9110 §6.6.1). Every difference
/// saturates at zero, so clocks that went backwards never produce a negative age.
pub fn current_age(stored: &StoredMeta, now: UnixMillis) -> Duration {
    let date = date_value(&stored.headers).unwrap_or(stored.response_time);
    let apparent_age = stored.response_time.saturating_sub(date);
    let response_delay = stored.response_time.saturating_sub(stored.request_time);
    let corrected_age_value = age_value(&stored.headers).saturating_mul(1000).saturating_add(response_delay);
    let corrected_initial_age = apparent_age.max(corrected_age_value);
    let resident_time = now.saturating_sub(stored.response_time);
    Duration::from_millis(corrected_initial_age.saturating_add(resident_time))
}

/// The `Age` header for `current_age`: whole seconds, rounded down, at most 2^31 (§1.2.2).
pub fn age_header(current_age: Duration) -> HeaderValue {
    HeaderValue::from(current_age.as_secs().min(DELTA_SECONDS_MAX))
}
