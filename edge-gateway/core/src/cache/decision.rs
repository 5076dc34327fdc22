//! Whether a stored response may answer a request now (RFC 9111 §4.2, §4.2.4, §5.2; RFC 5861).
//!
//! Decides, from the stored response, the new request's `Cache-Control` and `now`, one of:
//! serve it ([`Decision::Fresh`], [`Decision::StaleAccepted`]), revalidate it and perhaps serve
//! it meanwhile or on error ([`Decision::Stale`]), revalidate it with no stale fallback
//! ([`Decision::MustRevalidate`]), or answer 504 ([`Decision::GatewayTimeout`]). It never
//! contacts the origin and never reads a clock.
//!
//! Stale responses are never served when the response says `must-revalidate`,
//! `proxy-revalidate` or `s-maxage` (which implies `proxy-revalidate` for a shared cache,
//! §5.2.2.10), whatever `max-stale`, `stale-while-revalidate` or `stale-if-error` say.

use std::time::Duration;

use http::{HeaderMap, StatusCode};

use super::age::{StoredMeta, current_age};
use super::directives::{CacheControl, MaxStale};
use super::freshness::freshness_lifetime;
use crate::ports::UnixMillis;

/// Why a stored response has to be validated before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevalidateReason {
    /// The request said `no-cache` (§5.2.1.4).
    RequestNoCache,
    /// The response said `no-cache` (§5.2.2.4).
    ResponseNoCache,
    /// Fresh, but older than the request's `max-age` (§5.2.1.1).
    RequestMaxAge,
    /// Fresh, but not for the request's `min-fresh` more seconds (§5.2.1.3).
    RequestMinFresh,
    /// Stale, and `must-revalidate`, `proxy-revalidate` or `s-maxage` forbid serving it stale
    /// (§5.2.2.2, §5.2.2.8, §5.2.2.10).
    MustRevalidate,
}

/// What to do with a stored response for a new request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Serve it: fresh, and within the request's limits. `ttl` is the freshness left.
    Fresh {
        /// The response's current age.
        age: Duration,
        /// Freshness lifetime minus current age.
        ttl: Duration,
    },
    /// Serve it stale without contacting the origin: the request's `max-stale` accepts this
    /// much staleness (§5.2.1.2, §4.2.4).
    StaleAccepted {
        /// The response's current age.
        age: Duration,
        /// Current age minus freshness lifetime.
        staleness: Duration,
    },
    /// Stale: send a conditional request. The flags say whether the stale response may be
    /// served while revalidating (`stale-while-revalidate`, RFC 5861 §3) or if the origin
    /// fails (`stale-if-error` from response or request, RFC 5861 §4).
    Stale {
        /// The response's current age.
        age: Duration,
        /// Current age minus freshness lifetime.
        staleness: Duration,
        /// May be served at once while a revalidation runs in the background.
        may_serve_while_revalidate: bool,
        /// May be served if the origin answers 500, 502, 503, 504 or cannot be reached.
        may_serve_if_error: bool,
    },
    /// Send a conditional request; never serve this response without a successful validation,
    /// not even if the origin fails.
    MustRevalidate {
        /// The response's current age.
        age: Duration,
        /// Which directive requires it.
        reason: RevalidateReason,
    },
    /// The request said `only-if-cached` and nothing is servable without the origin: answer
    /// 504 Gateway Timeout (§5.2.1.7).
    GatewayTimeout,
}

impl Decision {
    /// True when the stored response can be sent to the client without waiting for the origin.
    pub fn serves_stored(&self) -> bool {
        match self {
            Self::Fresh { .. } | Self::StaleAccepted { .. } => true,
            Self::Stale { may_serve_while_revalidate, .. } => *may_serve_while_revalidate,
            Self::MustRevalidate { .. } | Self::GatewayTimeout => false,
        }
    }
}

/// True for the statuses that count as an error for `stale-if-error` (RFC 5861 §4): 500, 502,
/// 503 and 504. An origin that cannot be reached counts too; that is the caller's to know.
pub fn is_stale_if_error_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

/// Decides whether `stored` may answer a request with `request_headers` at `now`.
pub fn evaluate(stored: &StoredMeta, request_headers: &HeaderMap, now: UnixMillis) -> Decision {
    let request = CacheControl::from_headers(request_headers);
    let decision = evaluate_cached(stored, &request, now);
    if request.only_if_cached && !decision.serves_stored() {
        return Decision::GatewayTimeout;
    }
    decision
}

fn evaluate_cached(stored: &StoredMeta, request: &CacheControl, now: UnixMillis) -> Decision {
    let response = CacheControl::from_headers(&stored.headers);
    let age = current_age(stored, now);
    let revalidate = |reason| Decision::MustRevalidate { age, reason };
    if response.no_cache {
        return revalidate(RevalidateReason::ResponseNoCache);
    }
    if request.no_cache {
        return revalidate(RevalidateReason::RequestNoCache);
    }
    let lifetime = freshness_lifetime(&stored.headers, stored.status, stored.response_time);
    if let Some(ttl) = lifetime.checked_sub(age).filter(|ttl| !ttl.is_zero()) {
        return fresh_for_request(request, age, ttl).unwrap_or_else(revalidate);
    }
    let staleness = age.saturating_sub(lifetime);
    // `no-cache` returned above, so this is must-/proxy-revalidate or s-maxage.
    if !response.allows_stale() {
        return revalidate(RevalidateReason::MustRevalidate);
    }
    let within = |window: Option<u64>| window.is_some_and(|secs| staleness <= Duration::from_secs(secs));
    let accepted = match request.max_stale {
        Some(MaxStale::Any) => true,
        Some(MaxStale::Seconds(secs)) => staleness <= Duration::from_secs(secs),
        None => false,
    };
    // The request's max-age bounds any stale serving that would answer it at once (§4.2.4).
    let age_ok = request.max_age.is_none_or(|secs| age <= Duration::from_secs(secs));
    if accepted && age_ok {
        return Decision::StaleAccepted { age, staleness };
    }
    Decision::Stale {
        age,
        staleness,
        may_serve_while_revalidate: age_ok && within(response.stale_while_revalidate),
        may_serve_if_error: within(response.stale_if_error) || within(request.stale_if_error),
    }
}

/// A fresh response still has to meet the request's `max-age` and `min-fresh`.
fn fresh_for_request(
    request: &CacheControl,
    age: Duration,
    ttl: Duration,
) -> Result<Decision, RevalidateReason> {
    if request.max_age.is_some_and(|secs| age > Duration::from_secs(secs)) {
        return Err(RevalidateReason::RequestMaxAge);
    }
    if request.min_fresh.is_some_and(|secs| ttl < Duration::from_secs(secs)) {
        return Err(RevalidateReason::RequestMinFresh);
    }
    Ok(Decision::Fresh { age, ttl })
}
