//! How one request's cache outcome is named: the [`Outcome`] counted in metrics and the
//! `Cache-Status` member (RFC 9211) written with the core's [`cache_status`].
//!
//! [`Outcome::of`] reads Pingora's final [`CachePhase`]; [`header`] adds what the request
//! context knows (stored, collapsed, the origin's status, why not stored). Pure.

use edge_gateway_core::cache::{CacheStatus, Forward, cache_status};
use http::{HeaderValue, StatusCode};
use pingora_cache::{CachePhase, NoCacheReason};

/// The `Cache-Status` cache name.
pub const CACHE_NAME: &str = "origin-shield";

/// What the cache did for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served fresh from the cache.
    Hit,
    /// Served stale while a background revalidation runs (`stale-while-revalidate`).
    StaleWhileRevalidate,
    /// Served stale because the origin failed (`stale-if-error`).
    StaleIfError,
    /// Not in the cache (or not usable): fetched from the origin.
    Miss,
    /// Stale in the cache, fetched again in full.
    Expired,
    /// Stale in the cache, validated by a 304.
    Revalidated,
    /// The cache was not used: method, admin path, caching off.
    Bypass,
}

impl Outcome {
    /// The outcome Pingora's final cache phase describes.
    pub fn of(phase: CachePhase) -> Self {
        match phase {
            CachePhase::Hit => Outcome::Hit,
            CachePhase::StaleUpdating => Outcome::StaleWhileRevalidate,
            CachePhase::Stale => Outcome::StaleIfError,
            CachePhase::Expired => Outcome::Expired,
            CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => Outcome::Revalidated,
            CachePhase::Disabled(NoCacheReason::NeverEnabled) | CachePhase::Bypass => Outcome::Bypass,
            CachePhase::Disabled(_) | CachePhase::Miss | CachePhase::Uninit | CachePhase::CacheKey => {
                Outcome::Miss
            }
        }
    }

    /// True when the origin was not asked for this response.
    pub fn served_from_cache(self) -> bool {
        matches!(self, Outcome::Hit | Outcome::StaleWhileRevalidate | Outcome::StaleIfError)
    }
}

/// What the request context adds to the phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// Remaining freshness in seconds (negative once stale), when an entry was involved.
    pub ttl: Option<i64>,
    /// The response was written to the cache.
    pub stored: bool,
    /// The request waited behind another fetching the same key.
    pub collapsed: bool,
    /// The origin's status, when it was asked.
    pub fwd_status: Option<StatusCode>,
    /// Why the response was not stored (or why the cache was left), e.g. `set-cookie`.
    pub detail: Option<&'static str>,
    /// The request's `Cache-Control` sent it to the origin although the entry was usable.
    pub by_request: bool,
}

/// The `detail` for a reason the cache was disabled, if it says anything useful.
pub fn reason_detail(reason: NoCacheReason) -> Option<&'static str> {
    match reason {
        NoCacheReason::Custom(detail) => Some(detail),
        NoCacheReason::ResponseTooLarge | NoCacheReason::PredictedResponseTooLarge => Some("too-large"),
        NoCacheReason::CacheLockTimeout => Some("lock-timeout"),
        NoCacheReason::NeverEnabled => None,
        other => Some(other.as_str()),
    }
}

/// The `Cache-Status` member for `outcome`.
pub fn header(outcome: Outcome, facts: &Facts) -> HeaderValue {
    if let (Outcome::Hit, Some(ttl), false, None) = (outcome, facts.ttl, facts.collapsed, facts.detail) {
        return plain_hit(ttl);
    }
    let mut status = match outcome {
        Outcome::Hit => CacheStatus::hit(CACHE_NAME),
        Outcome::StaleWhileRevalidate => {
            CacheStatus { detail: Some("stale-while-revalidate"), ..CacheStatus::hit(CACHE_NAME) }
        }
        Outcome::StaleIfError => {
            CacheStatus { detail: Some("stale-if-error"), ..CacheStatus::forward(CACHE_NAME, Forward::Stale) }
        }
        Outcome::Miss => CacheStatus::forward(CACHE_NAME, Forward::Miss),
        Outcome::Expired | Outcome::Revalidated => CacheStatus::forward(CACHE_NAME, Forward::Stale),
        Outcome::Bypass => CacheStatus::forward(CACHE_NAME, Forward::Bypass),
    };
    if facts.by_request && matches!(outcome, Outcome::Miss | Outcome::Expired | Outcome::Revalidated) {
        status.fwd = Some(Forward::Request);
    }
    status.ttl = facts.ttl.filter(|_| outcome.served_from_cache());
    status.stored = facts.stored;
    status.collapsed = facts.collapsed;
    status.fwd_status = facts.fwd_status.filter(|_| status.fwd.is_some());
    status.detail = status.detail.or(facts.detail.filter(|_| outcome != Outcome::Bypass));
    cache_status(&status)
}

/// `origin-shield; hit; ttl=N`, the common case, without the general writer's allocations.
fn plain_hit(ttl: i64) -> HeaderValue {
    const PREFIX: &[u8] = b"origin-shield; hit; ttl=";
    let mut out = Vec::with_capacity(PREFIX.len() + 20);
    out.extend_from_slice(PREFIX);
    if ttl < 0 {
        out.push(b'-');
    }
    let start = out.len();
    let mut n = ttl.unsigned_abs();
    loop {
        out.push(b'0' + (n % 10) as u8);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out[start..].reverse();
    HeaderValue::from_bytes(&out).unwrap_or(HeaderValue::from_static(CACHE_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_to_outcome_to_header() {
        let ok = Some(StatusCode::OK);
        let rows: &[(CachePhase, Facts, &str)] = &[
            (CachePhase::Hit, Facts { ttl: Some(42), ..Facts::default() }, "origin-shield; hit; ttl=42"),
            (CachePhase::Hit, Facts { ttl: Some(0), ..Facts::default() }, "origin-shield; hit; ttl=0"),
            (CachePhase::Hit, Facts { ttl: Some(-7), ..Facts::default() }, "origin-shield; hit; ttl=-7"),
            (
                CachePhase::Hit,
                Facts { ttl: Some(i64::MAX), ..Facts::default() },
                "origin-shield; hit; ttl=9223372036854775807",
            ),
            (
                CachePhase::Hit,
                Facts { ttl: Some(5), collapsed: true, ..Facts::default() },
                "origin-shield; hit; ttl=5; collapsed",
            ),
            (
                CachePhase::Miss,
                Facts { stored: true, fwd_status: ok, ..Facts::default() },
                "origin-shield; fwd=miss; fwd-status=200; stored",
            ),
            (
                CachePhase::Disabled(NoCacheReason::Custom("set-cookie")),
                Facts { fwd_status: ok, detail: Some("set-cookie"), ..Facts::default() },
                "origin-shield; fwd=miss; fwd-status=200; detail=set-cookie",
            ),
            (
                CachePhase::StaleUpdating,
                Facts { ttl: Some(-3), ..Facts::default() },
                "origin-shield; hit; ttl=-3; detail=stale-while-revalidate",
            ),
            (
                CachePhase::Stale,
                Facts { ttl: Some(-9), fwd_status: Some(StatusCode::BAD_GATEWAY), ..Facts::default() },
                "origin-shield; fwd=stale; fwd-status=502; ttl=-9; detail=stale-if-error",
            ),
            (
                CachePhase::Revalidated,
                Facts { fwd_status: Some(StatusCode::NOT_MODIFIED), ..Facts::default() },
                "origin-shield; fwd=stale; fwd-status=304",
            ),
            (
                CachePhase::Revalidated,
                Facts { fwd_status: Some(StatusCode::NOT_MODIFIED), by_request: true, ..Facts::default() },
                "origin-shield; fwd=request; fwd-status=304",
            ),
            (
                CachePhase::Disabled(NoCacheReason::NeverEnabled),
                Facts { fwd_status: ok, ..Facts::default() },
                "origin-shield; fwd=bypass; fwd-status=200",
            ),
        ];
        for (phase, facts, expected) in rows {
            assert_eq!(header(Outcome::of(*phase), facts), *expected, "{phase:?}");
        }
    }
}
