//! Validated `[cache]` and `[purge]` settings.
//!
//! Turns [`RawCache`] and [`RawPurge`] into [`CacheSettings`] and [`PurgeSettings`],
//! reporting every broken rule through the shared checker. There is no default TTL: a
//! response without freshness information is only stored when RFC 9111's heuristic allows it.

use std::time::Duration;

use super::Checker;
use super::raw::{RawCache, RawPurge};

/// Default `[cache] max_bytes`: 256 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Default `[cache] max_object_bytes`: 8 MiB.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 8 * 1024 * 1024;
/// Largest accepted `max_bytes`: 64 GiB.
const MAX_CACHE_BYTES: u64 = 64 * 1024 * 1024 * 1024;
/// Smallest accepted `max_bytes`: 64 KiB.
const MIN_CACHE_BYTES: u64 = 64 * 1024;
/// Default wait behind another request fetching the same key.
const DEFAULT_LOCK_TIMEOUT_MS: u64 = 5_000;
/// Shortest accepted purge secret, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// How the shield caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// `false`: no caching at all (every request goes to the origin).
    pub enabled: bool,
    /// Bytes held at most (bodies plus headers), enforced by LRU eviction.
    pub max_bytes: usize,
    /// Larger responses are streamed through and not stored.
    pub max_object_bytes: usize,
    /// How long a request waits behind a concurrent fetch of the same key (request
    /// coalescing) before it goes to the origin itself.
    pub lock_timeout: Duration,
}

/// The purge API.
#[derive(Clone, PartialEq, Eq)]
pub struct PurgeSettings {
    /// The shared secret; `None` disables the API (404).
    pub secret: Option<String>,
}

impl std::fmt::Debug for PurgeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = self.secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("PurgeSettings").field("secret", &shown).finish()
    }
}

impl Checker {
    /// A byte count in `min..=max`, or `default` when unset.
    fn bytes(&mut self, path: &'static str, value: Option<u64>, default: u64, (min, max): (u64, u64)) -> u64 {
        let n = value.unwrap_or(default);
        if !(min..=max).contains(&n) {
            self.fail(path, format!("must be between {min} and {max}"));
        }
        n
    }
}

/// Validates `[cache]`.
pub(super) fn check_cache(c: &mut Checker, raw: &RawCache) -> CacheSettings {
    let max_bytes =
        c.bytes("cache.max_bytes", raw.max_bytes, DEFAULT_MAX_BYTES, (MIN_CACHE_BYTES, MAX_CACHE_BYTES));
    let object_default = DEFAULT_MAX_OBJECT_BYTES.min(max_bytes);
    let max_object_bytes =
        c.bytes("cache.max_object_bytes", raw.max_object_bytes, object_default, (1, MAX_CACHE_BYTES));
    if max_object_bytes > max_bytes {
        c.fail("cache.max_object_bytes", "must not exceed cache.max_bytes");
    }
    let lock_timeout = c.millis("cache.lock_timeout_ms", raw.lock_timeout_ms, DEFAULT_LOCK_TIMEOUT_MS);
    CacheSettings {
        enabled: raw.enabled.unwrap_or(true),
        max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
        max_object_bytes: usize::try_from(max_object_bytes).unwrap_or(usize::MAX),
        lock_timeout,
    }
}

/// Validates `[purge]`.
pub(super) fn check_purge(c: &mut Checker, raw: &RawPurge) -> PurgeSettings {
    if let Some(secret) = &raw.secret {
        if secret.len() < MIN_SECRET_LEN {
            c.fail("purge.secret", format!("must be at least {MIN_SECRET_LEN} characters"));
        } else if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            c.fail("purge.secret", "must be printable ASCII without spaces");
        }
    }
    PurgeSettings { secret: raw.secret.clone() }
}
