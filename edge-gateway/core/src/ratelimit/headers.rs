//! The response fields that tell a client its limits: [`fields`].
//!
//! draft-ietf-httpapi-ratelimit-headers-11 structured fields, one list member per applied
//! policy, named by the policy:
//!
//! ```text
//! RateLimit-Policy: "tenant-day";q=10000;w=86400, "user-burst";q=100;w=60
//! RateLimit: "tenant-day";r=9120;t=3600, "user-burst";r=42;t=17
//! ```
//!
//! `q` is the limit, `w` the period in seconds, `r` the units remaining, `t` the seconds until
//! the quota resets (rounded up). A refusal adds `Retry-After` (RFC 9110, delay-seconds, rounded
//! up, at least 1). With the legacy setting the most constrained policy is also given as
//! `X-RateLimit-Limit`, `-Remaining` and `-Reset` (seconds from now, as in the draft's early
//! revisions, not a timestamp). This module only formats: which policies to list is the
//! caller's choice (the stage lists enforced ones, not shadow ones).

use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::Decision;

/// `RateLimit-Policy`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// Legacy `X-RateLimit-Limit`.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// Legacy `X-RateLimit-Remaining`.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// Legacy `X-RateLimit-Reset`.
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// One policy applied to a request, and what it decided.
#[derive(Debug, Clone, Copy)]
pub struct Applied<'a> {
    /// The policy's name.
    pub name: &'a str,
    /// Its limit (`q`).
    pub limit: u64,
    /// Its period in seconds (`w`).
    pub period_s: u64,
    /// Its decision for this request.
    pub decision: Decision,
}

/// The fields for a response to a request checked against `applied`; `refused` adds
/// `Retry-After` (the longest wait of the refusing policies). Empty when nothing applied.
pub fn fields(applied: &[Applied<'_>], refused: bool, legacy: bool) -> Vec<(HeaderName, HeaderValue)> {
    if applied.is_empty() {
        return Vec::new();
    }
    let policy: Vec<String> =
        applied.iter().map(|a| format!("{};q={};w={}", sf_string(a.name), a.limit, a.period_s)).collect();
    let state: Vec<String> = applied
        .iter()
        .map(|a| {
            format!("{};r={};t={}", sf_string(a.name), a.decision.remaining, seconds(a.decision.reset_after))
        })
        .collect();
    let mut out = vec![(RATELIMIT_POLICY, value(policy.join(", "))), (RATELIMIT, value(state.join(", ")))];
    if refused {
        let wait =
            applied.iter().filter_map(|a| a.decision.retry_after).max().unwrap_or(Duration::from_secs(1));
        out.push((http::header::RETRY_AFTER, value(seconds(wait).max(1).to_string())));
    }
    if legacy {
        let tightest = applied.iter().min_by_key(|a| (a.decision.remaining, a.limit)).expect("not empty");
        out.push((X_RATELIMIT_LIMIT, value(tightest.limit.to_string())));
        out.push((X_RATELIMIT_REMAINING, value(tightest.decision.remaining.to_string())));
        out.push((X_RATELIMIT_RESET, value(seconds(tightest.decision.reset_after).to_string())));
    }
    out
}

/// Whole seconds, rounded up.
fn seconds(duration: Duration) -> u64 {
    duration.as_millis().div_ceil(1000).try_into().unwrap_or(u64::MAX)
}

/// An RFC 9651 sf-string: quoted, `"` and `\` escaped, anything outside printable ASCII
/// dropped (policy names are validated to be plain, so this only guards).
fn sf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars().filter(|c| (' '..='~').contains(c)) {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).expect("printable ASCII is a valid header value")
}
