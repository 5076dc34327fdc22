//! The `Cache-Status` response header (RFC 9211).
//!
//! Decides how one cache's outcome for one request is written as a Structured Field list
//! member, e.g. `edge-gateway; hit; ttl=42` or `edge-gateway; fwd=miss; stored`. It never
//! decides the outcome (see [`super::decision`]) and never appends to a response: the caller
//! appends the value after any `Cache-Status` already set by caches closer to the origin.

use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};

use super::decision::Decision;

/// The `Cache-Status` field name.
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// The cache name used when none is configured.
pub const DEFAULT_CACHE_NAME: &str = "edge-gateway";

/// Why the request went forward to the next hop (RFC 9211 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// The cache was configured not to handle this request.
    Bypass,
    /// The method is not cacheable.
    Method,
    /// No stored response for the URL.
    UriMiss,
    /// Stored responses for the URL, none matching the request's `Vary` fields.
    VaryMiss,
    /// Miss, for a reason not given more precisely.
    Miss,
    /// The request (e.g. its `no-cache`) required going forward.
    Request,
    /// A stored response was stale and had to be validated.
    Stale,
    /// Only part of the response was stored.
    Partial,
}

impl Forward {
    fn token(self) -> &'static str {
        match self {
            Self::Bypass => "bypass",
            Self::Method => "method",
            Self::UriMiss => "uri-miss",
            Self::VaryMiss => "vary-miss",
            Self::Miss => "miss",
            Self::Request => "request",
            Self::Stale => "stale",
            Self::Partial => "partial",
        }
    }
}

/// One cache's account of one request, written by [`cache_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStatus<'a> {
    /// The cache's name: an sf-token when it can be, else an sf-string.
    pub cache: &'a str,
    /// `None` for a hit; otherwise why the request went forward.
    pub fwd: Option<Forward>,
    /// The status the next hop answered with (`fwd-status`).
    pub fwd_status: Option<StatusCode>,
    /// Remaining freshness in seconds; negative once stale (`ttl`).
    pub ttl: Option<i64>,
    /// The response was stored (`stored`).
    pub stored: bool,
    /// The request was collapsed with another (`collapsed`).
    pub collapsed: bool,
    /// The cache key, for debugging (`key`); leave `None` in production.
    pub key: Option<&'a str>,
    /// Implementation-specific detail, e.g. a [`super::storable::NotStorable::detail`].
    pub detail: Option<&'a str>,
}

impl<'a> CacheStatus<'a> {
    /// A hit in cache `cache`, with nothing else said yet.
    pub fn hit(cache: &'a str) -> Self {
        Self {
            cache,
            fwd: None,
            fwd_status: None,
            ttl: None,
            stored: false,
            collapsed: false,
            key: None,
            detail: None,
        }
    }

    /// A forward from cache `cache` for `reason`, with nothing else said yet.
    pub fn forward(cache: &'a str, reason: Forward) -> Self {
        Self { fwd: Some(reason), ..Self::hit(cache) }
    }
}

/// The `ttl` for a decision: remaining freshness when fresh, minus the staleness when stale.
pub fn ttl_of(decision: &Decision) -> Option<i64> {
    let secs = |d: &Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    match decision {
        Decision::Fresh { ttl, .. } => Some(secs(ttl)),
        Decision::StaleAccepted { staleness, .. } | Decision::Stale { staleness, .. } => {
            Some(-secs(staleness))
        }
        Decision::MustRevalidate { .. } | Decision::GatewayTimeout => None,
    }
}

/// Serializes one `Cache-Status` list member (RFC 9211 §2).
pub fn cache_status(status: &CacheStatus<'_>) -> HeaderValue {
    let mut out = sf_token_or_string(status.cache);
    match status.fwd {
        None => out.push_str("; hit"),
        Some(reason) => out.push_str(&format!("; fwd={}", reason.token())),
    }
    if let Some(code) = status.fwd_status {
        out.push_str(&format!("; fwd-status={}", code.as_u16()));
    }
    if let Some(ttl) = status.ttl {
        out.push_str(&format!("; ttl={ttl}"));
    }
    if status.stored {
        out.push_str("; stored");
    }
    if status.collapsed {
        out.push_str("; collapsed");
    }
    if let Some(key) = status.key {
        out.push_str(&format!("; key={}", sf_string(key)));
    }
    if let Some(detail) = status.detail {
        out.push_str(&format!("; detail={}", sf_token_or_string(detail)));
    }
    // Only printable ASCII is ever written, so this cannot fail; fall back rather than panic.
    HeaderValue::from_str(&out).unwrap_or(HeaderValue::from_static(DEFAULT_CACHE_NAME))
}

/// An sf-token when `value` is one (RFC 8941 §3.3.4), else an sf-string.
fn sf_token_or_string(value: &str) -> String {
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '*');
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~:/".contains(c);
    if first_ok && chars.all(tchar) { value.to_owned() } else { sf_string(value) }
}

/// An sf-string (RFC 8941 §3.3.3): quoted, `"` and `\` escaped, non-printable characters
/// replaced by `?` (sf-strings hold printable ASCII only).
fn sf_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}
