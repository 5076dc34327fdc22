//! `Cache-Control` parsing (RFC 9111 §5.2) into one typed struct.
//!
//! Decides how every directive of every `Cache-Control` field line reads: names are
//! case-insensitive, values may be tokens or quoted strings, unknown directives are ignored
//! (§5.2.3). It never fails and never panics: a malformed field yields the most restrictive
//! reading the RFC allows, and nothing is reported.
//!
//! Duplicates and invalid values (§4.2.1, §1.2.2):
//!
//! | directive | duplicate | invalid value (not `1*DIGIT`) |
//! |---|---|---|
//! | `max-age`, `s-maxage` | same value: kept; different values: `0` (stale) | `0` (stale) |
//! | `max-stale` | first wins | ignored (no stale accepted) |
//! | `min-fresh` | largest wins | ignored |
//! | `stale-while-revalidate`, `stale-if-error` | smallest wins | ignored (no stale served) |
//!
//! Values beyond 2^31 seconds are clamped to 2^31 (§1.2.2). `Pragma: no-cache` is not read:
//! RFC 9111 §5.4 deprecates it and drops the requirement to honour it.

use http::HeaderMap;
use http::header::CACHE_CONTROL;

/// The largest delta-seconds value kept; larger values are clamped to it (RFC 9111 §1.2.2).
pub const DELTA_SECONDS_MAX: u64 = 1 << 31;

/// How much staleness a request's `max-stale` accepts (RFC 9111 §5.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxStale {
    /// `max-stale` without a value: any staleness.
    Any,
    /// `max-stale=N`: at most `N` seconds stale.
    Seconds(u64),
}

/// The directives of all `Cache-Control` field lines of one message, request or response.
///
/// Request-only and response-only directives share the struct; each decision reads the ones
/// that apply to its side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `no-store` (§5.2.1.5, §5.2.2.5).
    pub no_store: bool,
    /// `no-cache`, qualified or not (§5.2.1.4, §5.2.2.4). A qualified `no-cache="field"` is
    /// treated as unqualified: the whole response is revalidated, which is always allowed.
    pub no_cache: bool,
    /// `private`, qualified or not (§5.2.2.7). A shared cache stores neither form.
    pub private: bool,
    /// `public` (§5.2.2.9).
    pub public: bool,
    /// `max-age=N` in seconds (§5.2.1.1, §5.2.2.1).
    pub max_age: Option<u64>,
    /// `s-maxage=N` in seconds (§5.2.2.10).
    pub s_maxage: Option<u64>,
    /// `must-revalidate` (§5.2.2.2).
    pub must_revalidate: bool,
    /// `proxy-revalidate` (§5.2.2.8).
    pub proxy_revalidate: bool,
    /// `must-understand` (§5.2.2.3).
    pub must_understand: bool,
    /// `max-stale[=N]` (§5.2.1.2).
    pub max_stale: Option<MaxStale>,
    /// `min-fresh=N` in seconds (§5.2.1.3).
    pub min_fresh: Option<u64>,
    /// `only-if-cached` (§5.2.1.7).
    pub only_if_cached: bool,
    /// `stale-while-revalidate=N` in seconds (RFC 5861 §3).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error=N` in seconds (RFC 5861 §4).
    pub stale_if_error: Option<u64>,
}

impl CacheControl {
    /// Parses every `Cache-Control` field line in `headers`, in order.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut parsed = Self::default();
        for line in headers.get_all(CACHE_CONTROL) {
            parsed.add_line(&String::from_utf8_lossy(line.as_bytes()));
        }
        parsed
    }

    /// Whether a response with these directives may ever be served stale (RFC 9111 §4.2.4):
    /// not with `must-revalidate`, `proxy-revalidate`, `s-maxage` (which implies
    /// `proxy-revalidate` for shared caches) or `no-cache`.
    pub fn allows_stale(&self) -> bool {
        !(self.must_revalidate || self.proxy_revalidate || self.s_maxage.is_some() || self.no_cache)
    }

    /// Parses one field value, e.g. `public, max-age=60`.
    pub fn parse(value: &str) -> Self {
        let mut parsed = Self::default();
        parsed.add_line(value);
        parsed
    }

    fn add_line(&mut self, line: &str) {
        for member in split_list(line) {
            let (name, value) = match member.split_once('=') {
                Some((name, value)) => (name.trim(), Some(unquote(value.trim()))),
                None => (member.as_str(), None),
            };
            self.add(&name.to_ascii_lowercase(), value.as_deref());
        }
    }

    fn add(&mut self, name: &str, value: Option<&str>) {
        let seconds = value.and_then(delta_seconds);
        match name {
            "no-store" => self.no_store = true,
            "no-cache" => self.no_cache = true,
            "private" => self.private = true,
            "public" => self.public = true,
            "must-revalidate" => self.must_revalidate = true,
            "proxy-revalidate" => self.proxy_revalidate = true,
            "must-understand" => self.must_understand = true,
            "only-if-cached" => self.only_if_cached = true,
            "max-age" => self.max_age = Some(lifetime(self.max_age, seconds)),
            "s-maxage" => self.s_maxage = Some(lifetime(self.s_maxage, seconds)),
            "max-stale" => {
                let new = if value.is_none() { Some(MaxStale::Any) } else { seconds.map(MaxStale::Seconds) };
                self.max_stale = self.max_stale.or(new);
            }
            "min-fresh" => self.min_fresh = self.min_fresh.max(seconds),
            "stale-while-revalidate" => {
                self.stale_while_revalidate = smallest(self.stale_while_revalidate, seconds)
            }
            "stale-if-error" => self.stale_if_error = smallest(self.stale_if_error, seconds),
            _ => {} // §5.2.3: unrecognised directives are ignored.
        }
    }
}

/// A freshness lifetime directive: invalid or conflicting values mean stale (§4.2.1).
fn lifetime(previous: Option<u64>, new: Option<u64>) -> u64 {
    match (previous, new) {
        (None, Some(new)) => new,
        (Some(previous), Some(new)) if previous == new => new,
        _ => 0,
    }
}

fn smallest(previous: Option<u64>, new: Option<u64>) -> Option<u64> {
    match (previous, new) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `delta-seconds = 1*DIGIT`, clamped to 2^31 (RFC 9111 §1.2.2); `None` when not digits.
pub fn delta_seconds(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = value.trim_start_matches('0');
    if digits.len() > 10 {
        return Some(DELTA_SECONDS_MAX);
    }
    Some(digits.parse::<u64>().unwrap_or(0).min(DELTA_SECONDS_MAX))
}

/// Removes the quotes and `\` escapes of a quoted-string; returns a token unchanged.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"') else {
        return value.to_owned();
    };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next().unwrap_or('\\') } else { c });
    }
    out
}

/// Splits a comma-separated field value into trimmed, non-empty members, leaving commas and
/// whitespace inside quoted strings alone (RFC 9110 §5.6.1, §5.6.4).
pub(crate) fn split_list(value: &str) -> Vec<String> {
    let mut members = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                members.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    members.push(current);
    members.into_iter().map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()).collect()
}
