//! When a cached key set may be used, refreshed, or must be refetched: [`KeySet`] and [`plan`].
//!
//! This module decides, from a key set's timestamps, the issuer's cache settings and `now`:
//! whether the set is fresh, due for a refresh ahead of expiry (at a jittered point in the last
//! tenth of its TTL, so instances do not stampede the issuer together), usable only as stale
//! while the issuer is down, or unusable. It also derives the TTL from a JWKS response's
//! `Cache-Control`, clamped to the configured bounds, and decides whether an unknown `kid` may
//! trigger a refetch (at most once per `refetch_interval`). It performs no I/O and reads no
//! clock.

use std::rc::Rc;
use std::time::Duration;

use http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::auth::Jwks;
use crate::cache::CacheControl;
use crate::config::auth::JwksCacheSettings;
use crate::ports::UnixMillis;

/// A key set with the times that govern its use.
#[derive(Debug, Clone)]
pub struct KeySet {
    /// The usable keys.
    pub jwks: Rc<Jwks>,
    /// When it was fetched from the issuer.
    pub fetched_at: UnixMillis,
    /// From when one request refreshes it ahead of expiry.
    pub refresh_at: UnixMillis,
    /// Until when it is fresh.
    pub fresh_until: UnixMillis,
    /// Until when it may still be used while the issuer cannot be reached.
    pub stale_until: UnixMillis,
}

/// What to do for a request that needs an issuer's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Use the cached set.
    Use,
    /// Use the cached set, and refresh it now (it is in its refresh window, or past its TTL but
    /// within max-stale).
    UseAndRefresh,
    /// No usable set: fetch before verifying.
    Fetch,
}

impl KeySet {
    /// A set fetched at `fetched_at` that stays fresh for `ttl`. `jitter` in `[0, 1)` places the
    /// refresh point between a tenth and a twentieth of the TTL before expiry.
    pub fn new(
        jwks: Rc<Jwks>,
        fetched_at: UnixMillis,
        ttl: Duration,
        settings: &JwksCacheSettings,
        jitter: f64,
    ) -> KeySet {
        let ttl_ms = ttl.as_millis() as u64;
        let fresh_until = fetched_at.saturating_add(ttl_ms);
        let window = ttl_ms / 10;
        let early = (window as f64 * (1.0 + jitter.clamp(0.0, 1.0)) / 2.0) as u64;
        KeySet {
            jwks,
            fetched_at,
            refresh_at: fresh_until.saturating_sub(early),
            fresh_until,
            stale_until: fresh_until.saturating_add(settings.max_stale.as_millis() as u64),
        }
    }

    /// Whether the set may be used at all at `now` (fresh or within max-stale).
    pub fn usable(&self, now: UnixMillis) -> bool {
        now < self.stale_until
    }

    /// Whether the set is past its TTL at `now`.
    pub fn is_stale(&self, now: UnixMillis) -> bool {
        now >= self.fresh_until
    }
}

/// What a request should do with `set` at `now`.
pub fn plan(set: Option<&KeySet>, now: UnixMillis) -> Plan {
    match set {
        Some(set) if now < set.refresh_at => Plan::Use,
        Some(set) if set.usable(now) => Plan::UseAndRefresh,
        _ => Plan::Fetch,
    }
}

/// Whether an unknown `kid` may trigger a fetch at `now`, given when the set was fetched and
/// when a fetch was last attempted.
pub fn may_refetch(
    fetched_at: Option<UnixMillis>,
    last_attempt: Option<UnixMillis>,
    now: UnixMillis,
    interval: Duration,
) -> bool {
    let latest = fetched_at.max(last_attempt);
    latest.is_none_or(|at| now.saturating_sub(at) >= interval.as_millis() as u64)
}

/// The TTL of a fetched key set: `s-maxage` or `max-age` from `Cache-Control`, clamped to the
/// configured bounds; the minimum when the response gives none (or says `no-store`/`no-cache`).
pub fn ttl_from_headers(headers: &HeaderMap, settings: &JwksCacheSettings) -> Duration {
    let directives = CacheControl::from_headers(headers);
    let seconds = if directives.no_store || directives.no_cache {
        None
    } else {
        directives.s_maxage.or(directives.max_age)
    };
    seconds.map_or(settings.min_ttl, |s| Duration::from_secs(s).clamp(settings.min_ttl, settings.max_ttl))
}

/// A key set as shared between instances through KV: the document as fetched, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedKeySet {
    /// When it was fetched from the issuer.
    pub fetched_at: UnixMillis,
    /// Its TTL, in milliseconds.
    pub ttl_ms: u64,
    /// The URL it was fetched from.
    pub source: String,
    /// The JWK Set document, as served by the issuer.
    pub jwks: String,
}

/// The KV key under which an issuer's key set is shared.
pub fn shared_key(issuer: &str) -> String {
    format!("auth/jwks/{issuer}")
}
