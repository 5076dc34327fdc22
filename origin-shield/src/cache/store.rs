//! A bounded in-memory [`Storage`] for Pingora's cache.
//!
//! Entries live in one map keyed by the cache key's hash; bodies are [`Bytes`], so a hit hands
//! out a reference-counted slice rather than a copy, and headers are kept parsed, so a hit does
//! not decompress them. Each entry records its weight (body + headers + bookkeeping) and its
//! [`EntryFacts`] for the purge API. The size bound itself is the eviction manager's: Pingora
//! admits every finished entry to it and purges what it returns, and [`MemoryStore::purge_where`]
//! reports removed keys so the caller can tell the manager. Fills are not readable until
//! complete (no streaming partial writes): waiters behind the cache lock read the finished
//! entry, and a body that outgrows `max_object_bytes` mid-stream is simply not stored.
//! See `docs/decisions/0005-shield-cache.md` for why this and not `MemCache`.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora_cache::key::{CacheHashKey, CompactCacheKey, HashBinary};
use pingora_cache::storage::{HandleHit, HandleMiss, MissFinishType};
use pingora_cache::trace::SpanHandle;
use pingora_cache::{
    CacheKey, CacheMeta, HitHandler, MissHandler, PurgeOutcome, PurgeTarget, PurgeType, Storage,
};
use pingora_error::{ErrorType, Result};
use pingora_http::ResponseHeader;

use super::selector::{EntryFacts, Selector};

/// Fixed per-entry overhead counted in its weight (map slot, key, meta).
const ENTRY_OVERHEAD: usize = 256;

/// One stored response.
struct Entry {
    /// Pingora's serialized internal meta (freshness, windows, variance); small.
    internal: Vec<u8>,
    /// For an entry without variance, what its meta is rebuilt from on a hit (see [`Times`]).
    times: Option<Times>,
    header: ResponseHeader,
    body: Bytes,
    facts: EntryFacts,
    key: CompactCacheKey,
    weight: usize,
}

/// The entries, and which of them each URL has.
#[derive(Default)]
struct Entries {
    map: HashMap<HashBinary, Entry>,
    /// Every entry of one URL (all scopes, all variants), so that invalidating a URL after an
    /// unsafe request costs its entries, not a scan of the cache.
    by_url: HashMap<String, Vec<HashBinary>>,
}

impl Entries {
    fn insert(&mut self, hash: HashBinary, entry: Entry) -> Option<Entry> {
        let url = entry.facts.url.clone();
        let old = self.map.insert(hash, entry);
        if old.is_none() {
            self.by_url.entry(url).or_default().push(hash);
        }
        old
    }

    fn remove(&mut self, hash: &HashBinary) -> Option<Entry> {
        let entry = self.map.remove(hash)?;
        if let Some(hashes) = self.by_url.get_mut(&entry.facts.url) {
            hashes.retain(|h| h != hash);
            if hashes.is_empty() {
                self.by_url.remove(&entry.facts.url);
            }
        }
        Some(entry)
    }
}

/// The timestamps and windows of a meta without variance: enough to rebuild it with
/// [`CacheMeta::new`] instead of deserializing it, which cost a zstd decompression and a
/// header parse on every hit (Pingora's meta is not `Clone`).
///
/// The rebuilt meta has the same freshness, age (the epoch is set explicitly), windows and
/// header. What it does not carry is Pingora's `updated` and `provenance` bookkeeping, which
/// only matter through the epoch (set) and for `Vary` tombstones — and entries with variance
/// take the deserializing path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Times {
    fresh_until: std::time::SystemTime,
    created: std::time::SystemTime,
    epoch: std::time::SystemTime,
    stale_while_revalidate: u32,
    stale_if_error: u32,
}

impl Times {
    fn of(meta: &CacheMeta) -> Option<Times> {
        meta.variance().is_none().then(|| Times {
            fresh_until: meta.fresh_until(),
            created: meta.created(),
            epoch: meta.epoch(),
            stale_while_revalidate: meta.stale_while_revalidate_sec(),
            stale_if_error: meta.stale_if_error_sec(),
        })
    }

    fn meta(self, header: ResponseHeader) -> CacheMeta {
        let mut meta = CacheMeta::new(
            self.fresh_until,
            self.created,
            self.stale_while_revalidate,
            self.stale_if_error,
            header,
        );
        meta.set_epoch_override(self.epoch);
        meta
    }
}

/// The shield's memory cache storage.
pub struct MemoryStore {
    entries: RwLock<Entries>,
    bytes: AtomicUsize,
    /// A serialized empty header: deserializing meta with it skips the stored header's
    /// decompression, and the parsed header is put in afterwards.
    stub_header: Vec<u8>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").field("bytes", &self.bytes()).field("entries", &self.len()).finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Result<Self> {
        let stub = CacheMeta::new(
            std::time::SystemTime::UNIX_EPOCH,
            std::time::SystemTime::UNIX_EPOCH,
            0,
            0,
            ResponseHeader::build(200, Some(0))?,
        );
        let (_, stub_header) = stub.serialize()?;
        Ok(MemoryStore { entries: RwLock::new(Entries::default()), bytes: AtomicUsize::new(0), stub_header })
    }

    /// Bytes held (sum of entry weights).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(PoisonError::into_inner).map.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry `selector` matches; returns their keys (for the eviction manager).
    pub fn purge_where(&self, selector: &Selector) -> Vec<CompactCacheKey> {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let doomed: Vec<HashBinary> =
            entries.map.iter().filter(|(_, e)| selector.matches(&e.facts)).map(|(k, _)| *k).collect();
        self.remove_all(&mut entries, doomed)
    }

    /// Removes every entry stored under one of `urls` (absolute, as [`super::key::url`] makes
    /// them), whatever its scope or variant; returns their keys (for the eviction manager).
    /// Costs the entries found, not a scan.
    pub fn remove_urls(&self, urls: &[String]) -> Vec<CompactCacheKey> {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let doomed: Vec<HashBinary> =
            urls.iter().filter_map(|url| entries.by_url.get(url)).flatten().copied().collect();
        self.remove_all(&mut entries, doomed)
    }

    fn remove_all(&self, entries: &mut Entries, doomed: Vec<HashBinary>) -> Vec<CompactCacheKey> {
        let mut keys = Vec::with_capacity(doomed.len());
        for hash in doomed {
            if let Some(entry) = entries.remove(&hash) {
                self.bytes.fetch_sub(entry.weight, Ordering::Relaxed);
                keys.push(entry.key);
            }
        }
        keys
    }

    fn insert(&self, hash: HashBinary, entry: Entry) {
        let weight = entry.weight;
        let old = self.entries.write().unwrap_or_else(PoisonError::into_inner).insert(hash, entry);
        self.bytes.fetch_add(weight, Ordering::Relaxed);
        if let Some(old) = old {
            self.bytes.fetch_sub(old.weight, Ordering::Relaxed);
        }
    }

    fn meta_of(&self, entry: &Entry) -> Result<CacheMeta> {
        if let Some(times) = entry.times {
            return Ok(times.meta(entry.header.clone()));
        }
        let mut meta = CacheMeta::deserialize(&entry.internal, &self.stub_header)?;
        *meta.response_header_mut() = entry.header.clone();
        Ok(meta)
    }
}

/// `header` without its record of the origin's field-name case: a hit clones the stored
/// header twice (here, and in Pingora before writing it), and the case map doubled that. Names
/// go out in Pingora's title case for standard fields, lower case for others (HTTP field names
/// are case-insensitive); the reason phrase becomes the status's standard one.
fn without_case(header: ResponseHeader) -> ResponseHeader {
    let parts: http::response::Parts = header.into();
    ResponseHeader::from(parts)
}

/// Bytes a response header takes, roughly: names, values and per-field overhead.
fn header_weight(header: &ResponseHeader) -> usize {
    header.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 32).sum()
}

#[async_trait]
impl Storage for MemoryStore {
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = entries.map.get(&key.combined_bin()) else { return Ok(None) };
        let meta = self.meta_of(entry)?;
        let hit = Hit { body: entry.body.clone(), start: 0, end: entry.body.len(), done: false };
        Ok(Some((meta, Box::new(hit))))
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _: &SpanHandle,
    ) -> Result<MissHandler> {
        let (internal, _) = meta.serialize()?;
        let url = super::key::url_of(key.primary_key_str().unwrap_or_default());
        Ok(Box::new(Fill {
            store: self,
            hash: key.combined_bin(),
            key: key.to_compact(),
            internal,
            times: Times::of(meta),
            header: without_case(meta.response_header_copy()),
            facts: EntryFacts::new(url, meta.headers()),
            body: BytesMut::new(),
        }))
    }

    async fn purge(
        &'static self,
        target: PurgeTarget<'_>,
        _: PurgeType,
        _: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        let hash = target.key().combined_bin();
        let removed = self.entries.write().unwrap_or_else(PoisonError::into_inner).remove(&hash);
        Ok(match removed {
            Some(entry) => {
                self.bytes.fetch_sub(entry.weight, Ordering::Relaxed);
                PurgeOutcome::Purged(None)
            }
            None => PurgeOutcome::NotFound,
        })
    }

    /// Replaces the freshness and header after a revalidation; `false` when the entry went away
    /// meanwhile (purged or evicted) — never a panic.
    async fn update_meta(&'static self, key: &CacheKey, meta: &CacheMeta, _: &SpanHandle) -> Result<bool> {
        let (internal, _) = meta.serialize()?;
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = entries.map.get_mut(&key.combined_bin()) else { return Ok(false) };
        entry.internal = internal;
        entry.times = Times::of(meta);
        entry.header = without_case(meta.response_header_copy());
        Ok(true)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}

/// A cache hit: a slice of the stored body.
struct Hit {
    body: Bytes,
    start: usize,
    end: usize,
    done: bool,
}

#[async_trait]
impl HandleHit for Hit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        Ok(Some(self.body.slice(self.start..self.end)))
    }

    async fn finish(
        self: Box<Self>,
        _: &'static (dyn Storage + Sync),
        _: &CacheKey,
        _: &SpanHandle,
    ) -> Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        if start >= self.body.len() {
            return Err(pingora_error::Error::explain(ErrorType::InternalError, "seek start out of range"));
        }
        self.start = start;
        self.end = end.map_or(self.body.len(), |e| e.min(self.body.len()));
        self.done = false;
        Ok(())
    }

    fn get_eviction_weight(&self) -> usize {
        self.body.len()
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn Any + Send + Sync) {
        self
    }
}

/// A fill in progress; stored only when finished.
struct Fill {
    store: &'static MemoryStore,
    hash: HashBinary,
    key: CompactCacheKey,
    internal: Vec<u8>,
    times: Option<Times>,
    header: ResponseHeader,
    facts: EntryFacts,
    body: BytesMut,
}

#[async_trait]
impl HandleMiss for Fill {
    async fn write_body(&mut self, data: Bytes, _eof: bool) -> Result<()> {
        self.body.extend_from_slice(&data);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<MissFinishType> {
        let Fill { store, hash, key, internal, times, header, facts, body } = *self;
        let weight = body.len()
            + header_weight(&header)
            + internal.len()
            + facts.url.len() * 3
            + facts.tags.iter().map(String::len).sum::<usize>()
            + ENTRY_OVERHEAD;
        let body = body.freeze();
        store.insert(hash, Entry { internal, times, header, body, facts, key, weight });
        Ok(MissFinishType::Created(weight))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn meta(tags: &str) -> CacheMeta {
        let mut header = ResponseHeader::build(200, None).expect("header");
        header.insert_header("cache-tag", tags).expect("tag");
        let now = SystemTime::now();
        CacheMeta::new(now + Duration::from_secs(60), now, 0, 0, header)
    }

    fn span() -> SpanHandle {
        pingora_cache::trace::Span::inactive().handle()
    }

    async fn fill(store: &'static MemoryStore, url: &str, tags: &str, body: &'static [u8]) -> CacheKey {
        let key = CacheKey::new(url, "");
        let span = span();
        let mut miss = store.get_miss_handler(&key, &meta(tags), &span).await.expect("miss");
        miss.write_body(Bytes::from_static(body), true).await.expect("write");
        miss.finish().await.expect("finish");
        key
    }

    #[tokio::test]
    async fn hits_return_the_stored_body_and_headers() {
        let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new().expect("store")));
        let key = fill(store, "http://o/a", "t1", b"hello").await;
        let (meta, mut hit) = store.lookup(&key, &span()).await.expect("ok").expect("hit");
        assert_eq!(meta.headers().get("cache-tag").map(|v| v.as_bytes()), Some(&b"t1"[..]));
        assert_eq!(hit.read_body().await.expect("body").as_deref(), Some(&b"hello"[..]));
        assert_eq!(hit.read_body().await.expect("end"), None);
    }

    /// A meta rebuilt from [`Times`] answers every question Pingora asks on a hit as the
    /// deserialized one does; a meta with variance is not rebuilt.
    #[test]
    fn a_rebuilt_meta_matches_the_deserialized_one() {
        let store = MemoryStore::new().expect("store");
        let now = SystemTime::now();
        let mut original =
            CacheMeta::new(now + Duration::from_secs(60), now, 30, 90, meta("t").response_header_copy());
        original.set_epoch_override(now - Duration::from_secs(5));
        let (internal, _) = original.serialize().expect("serialize");
        let mut deserialized = CacheMeta::deserialize(&internal, &store.stub_header).expect("deserialize");
        *deserialized.response_header_mut() = original.response_header_copy();
        let rebuilt = Times::of(&original).expect("no variance").meta(original.response_header_copy());
        for meta in [&deserialized, &rebuilt] {
            assert_eq!(meta.fresh_until(), original.fresh_until());
            assert_eq!(meta.created(), original.created());
            assert_eq!(meta.epoch(), now - Duration::from_secs(5));
            assert_eq!(meta.fresh_sec(), original.fresh_sec());
            assert_eq!((meta.stale_while_revalidate_sec(), meta.stale_if_error_sec()), (30, 90));
            assert!(meta.serve_stale_if_error(now + Duration::from_secs(100)));
            assert_eq!(meta.variance(), None);
            assert_eq!(meta.headers().get("cache-tag").map(|v| v.as_bytes()), Some(&b"t"[..]));
        }
        original.set_variance(*b"variance_testing");
        assert_eq!(Times::of(&original), None);
    }

    #[tokio::test]
    async fn purge_where_removes_matches_and_their_bytes() {
        let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new().expect("store")));
        fill(store, "http://o/a", "red", b"aaaa").await;
        let kept = fill(store, "http://o/b", "blue", b"bbbb").await;
        let before = store.bytes();

        let removed = store.purge_where(&Selector::Tags(vec!["red".into()]));

        assert_eq!(removed.len(), 1);
        assert_eq!(store.len(), 1);
        assert!(store.bytes() < before && store.bytes() > 0);
        assert!(store.lookup(&kept, &span()).await.expect("ok").is_some());
    }

    #[tokio::test]
    async fn remove_urls_drops_every_scope_of_a_url_and_only_that_url() {
        let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new().expect("store")));
        let scoped = fill(store, "http://o/a#route=x; auth=0", "", b"1").await;
        fill(store, "http://o/a#route=y; auth=1", "", b"2").await;
        fill(store, "http://o/a", "", b"3").await;
        let kept = fill(store, "http://o/b#route=x; auth=0", "", b"4").await;

        let removed = store.remove_urls(&["http://o/a".to_owned(), "http://o/none".to_owned()]);

        assert_eq!(removed.len(), 3);
        assert_eq!(store.len(), 1);
        assert!(store.lookup(&scoped, &span()).await.expect("ok").is_none());
        assert!(store.lookup(&kept, &span()).await.expect("ok").is_some());
        assert!(store.remove_urls(&["http://o/a".to_owned()]).is_empty());
        assert_eq!(store.remove_urls(&["http://o/b".to_owned()]).len(), 1);
        assert_eq!(store.bytes(), 0);
    }

    #[tokio::test]
    async fn revalidating_a_vanished_entry_reports_false_instead_of_panicking() {
        let store: &'static MemoryStore = Box::leak(Box::new(MemoryStore::new().expect("store")));
        let key = fill(store, "http://o/gone", "", b"x").await;
        store.purge_where(&Selector::Urls(vec!["/gone".into()]));
        let updated = store.update_meta(&key, &meta(""), &span()).await.expect("ok");
        assert!(!updated);
        assert_eq!(store.bytes(), 0);
    }
}
