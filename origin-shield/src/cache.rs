//! The shield's shared cache: Pingora's HTTP cache state machine over a bounded memory store,
//! with the core's RFC 9111 policy deciding what is stored.
//!
//! ```text
//! request_cache_filter  GET/HEAD → enable(store, LRU eviction, cache lock, lock timeout)
//! cache_key_callback    key::primary(authority, path?query)
//! cache_vary_filter     key::variance(stored Vary fields, request)
//! response_cache_filter policy::decide(request, response, exchange times)
//!                       after a 304: on refresh::refresh(stored head, 304 head)
//! response_filter       status::header(Outcome::of(phase), facts) → Cache-Status
//! ```
//!
//! Concurrent misses for one key wait on Pingora's cache lock (request coalescing) for at most
//! `lock_timeout`, then go to the origin themselves. Stale entries are revalidated with the
//! stored `ETag`/`Last-Modified`, and served stale inside their `stale-while-revalidate` /
//! `stale-if-error` windows. This module owns the long-lived pieces ([`ShieldCache`]); it
//! makes no per-request decision itself.

pub mod invalidate;
pub mod key;
pub mod policy;
pub mod refresh;
pub mod request;
pub mod selector;
pub mod status;
pub mod store;

use pingora_cache::eviction::EvictionManager;
use pingora_cache::eviction::simple_lru::Manager;
use pingora_cache::lock::{CacheKeyLockImpl, CacheLock};
use pingora_cache::predictor::Predictor;
use pingora_cache::{CacheOptionOverrides, HttpCache};

use crate::config::CacheSettings;

/// Shards of the uncacheable-key memory.
const PREDICTOR_SHARDS: usize = 16;
/// Uncacheable keys remembered per shard.
const PREDICTOR_SHARD_KEYS: usize = 1024;

/// Reasons that say something about one request, not about the URL: never remembered.
fn request_specific(reason: &'static str) -> bool {
    matches!(reason, "authorization" | "request-no-store" | "head-miss")
}
use selector::Selector;
use store::MemoryStore;

/// The process-wide cache: storage, eviction, cache lock and their settings.
///
/// Pingora wants `'static` references for these, so one is built at start-up and leaked.
pub struct ShieldCache {
    /// The memory store.
    pub store: &'static MemoryStore,
    /// Exact LRU over the whole cache (one lock; a hit promotes its entry).
    eviction: &'static Manager,
    lock: &'static CacheKeyLockImpl,
    /// Remembers keys whose last response was not storable, so the next request for them
    /// skips lookup and cache lock (hit-for-pass) until a response is storable again.
    predictor: &'static Predictor<PREDICTOR_SHARDS>,
    settings: CacheSettings,
}

impl std::fmt::Debug for ShieldCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShieldCache").field("store", self.store).field("settings", &self.settings).finish()
    }
}

impl ShieldCache {
    /// Builds (and leaks, for the life of the process) the cache for `settings`.
    pub fn leak(settings: CacheSettings) -> pingora_error::Result<&'static ShieldCache> {
        let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new()?));
        let eviction = Box::leak(Box::new(Manager::new(settings.max_bytes)));
        let lock: &'static CacheKeyLockImpl = Box::leak(CacheLock::new_boxed(settings.lock_timeout));
        let predictor = Box::leak(Box::new(Predictor::new(PREDICTOR_SHARD_KEYS, Some(request_specific))));
        Ok(Box::leak(Box::new(ShieldCache { store, eviction, lock, predictor, settings })))
    }

    /// Switches caching on for one request, with coalescing behind the cache lock.
    pub fn enable(&'static self, cache: &mut HttpCache) {
        if !self.settings.enabled {
            return;
        }
        let mut overrides = CacheOptionOverrides::default();
        overrides.wait_timeout = Some(self.settings.lock_timeout);
        cache.enable(self.store, Some(self.eviction), Some(self.predictor), Some(self.lock), Some(overrides));
        cache.set_max_file_size_bytes(self.settings.max_object_bytes);
    }

    /// Removes every entry `selector` names from the store and the eviction manager.
    pub fn purge(&self, selector: &Selector) -> usize {
        let keys = self.store.purge_where(selector);
        self.forget(&keys);
        keys.len()
    }

    /// Removes every entry (all scopes, all variants) stored under one of `urls`, from the
    /// store and the eviction manager: what an unsafe request invalidates (RFC 9111 §4.4).
    pub fn invalidate(&self, urls: &[String]) -> usize {
        let keys = self.store.remove_urls(urls);
        self.forget(&keys);
        keys.len()
    }

    fn forget(&self, keys: &[pingora_cache::key::CompactCacheKey]) {
        for key in keys {
            let entry = pingora_cache::CacheEntryKey::key_only(key.clone());
            self.eviction.remove((&entry).into());
        }
    }

    /// Bytes held in the store.
    pub fn bytes(&self) -> usize {
        self.store.bytes()
    }

    /// Entries held in the store.
    pub fn entries(&self) -> usize {
        self.store.len()
    }

    /// Bytes the eviction manager tracks (what it bounds by `max_bytes`).
    pub fn tracked_bytes(&self) -> usize {
        self.eviction.total_size()
    }
}
