//! The in-memory key-value stores shared by every request, the admin API and both KV interfaces.
//!
//! One map per store label. Every operation takes the lock once, so `increment` and `swap` are
//! atomic with respect to each other and to plain writes. Counters are stored as 8 bytes of
//! little-endian `i64`, as Spin's SQLite store does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// Why a key-value operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KvError {
    /// The value under a counter key is not 8 bytes.
    NotACounter,
    /// The counter would overflow `i64`.
    Overflow,
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::NotACounter => f.write_str("the value is not an 8-byte little-endian counter"),
            KvError::Overflow => f.write_str("the counter would overflow"),
        }
    }
}

/// One stored value and the version it was written at.
#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    version: u64,
}

#[derive(Debug, Default)]
struct Inner {
    stores: HashMap<String, BTreeMap<String, Entry>>,
    /// Every write gets a fresh version, so a compare-and-swap sees any write in between.
    next_version: u64,
}

/// A snapshot for compare-and-swap: the key, and the version seen (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(unreachable_pub)] // `pub` because `bindgen!` re-exports it as the `cas` resource
pub struct Snapshot {
    /// The store label.
    pub(crate) store: String,
    /// The key.
    pub(crate) key: String,
    /// The value seen.
    pub(crate) value: Option<Vec<u8>>,
    version: Option<u64>,
}

/// All stores, cheap to clone and shared across threads.
#[derive(Debug, Clone, Default)]
pub(crate) struct KvStores(Arc<Mutex<Inner>>);

impl KvStores {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value under `key`.
    pub(crate) fn get(&self, store: &str, key: &str) -> Option<Vec<u8>> {
        self.lock().stores.get(store)?.get(key).map(|e| e.value.clone())
    }

    /// Writes `value` under `key`.
    pub(crate) fn set(&self, store: &str, key: &str, value: Vec<u8>) {
        let mut inner = self.lock();
        inner.next_version += 1;
        let version = inner.next_version;
        inner.stores.entry(store.to_owned()).or_default().insert(key.to_owned(), Entry { value, version });
    }

    /// Removes `key`; true when it existed.
    pub(crate) fn delete(&self, store: &str, key: &str) -> bool {
        self.lock().stores.get_mut(store).is_some_and(|s| s.remove(key).is_some())
    }

    /// Every key of `store`, sorted.
    pub(crate) fn keys(&self, store: &str) -> Vec<String> {
        self.lock().stores.get(store).map(|s| s.keys().cloned().collect()).unwrap_or_default()
    }

    /// Adds `delta` to the counter under `key` (absent counts as 0) and returns the new value.
    pub(crate) fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, KvError> {
        let mut inner = self.lock();
        inner.next_version += 1;
        let version = inner.next_version;
        let entries = inner.stores.entry(store.to_owned()).or_default();
        let current = match entries.get(key) {
            None => 0,
            Some(entry) => {
                let bytes: [u8; 8] = entry.value.as_slice().try_into().map_err(|_| KvError::NotACounter)?;
                i64::from_le_bytes(bytes)
            }
        };
        let next = current.checked_add(delta).ok_or(KvError::Overflow)?;
        entries.insert(key.to_owned(), Entry { value: next.to_le_bytes().to_vec(), version });
        Ok(next)
    }

    /// Reads `key` for a later [`KvStores::swap`].
    pub(crate) fn snapshot(&self, store: &str, key: &str) -> Snapshot {
        let inner = self.lock();
        let entry = inner.stores.get(store).and_then(|s| s.get(key));
        Snapshot {
            store: store.to_owned(),
            key: key.to_owned(),
            value: entry.map(|e| e.value.clone()),
            version: entry.map(|e| e.version),
        }
    }

    /// Writes `value` if the key is unchanged since `snapshot`; otherwise returns a fresh snapshot.
    pub(crate) fn swap(&self, snapshot: &Snapshot, value: Vec<u8>) -> Result<(), Snapshot> {
        let mut inner = self.lock();
        let current = inner.stores.get(&snapshot.store).and_then(|s| s.get(&snapshot.key)).map(|e| e.version);
        if current != snapshot.version {
            drop(inner);
            return Err(self.snapshot(&snapshot.store, &snapshot.key));
        }
        inner.next_version += 1;
        let version = inner.next_version;
        inner
            .stores
            .entry(snapshot.store.clone())
            .or_default()
            .insert(snapshot.key.clone(), Entry { value, version });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_delete_keys() {
        let kv = KvStores::default();
        kv.set("default", "b", b"2".to_vec());
        kv.set("default", "a", b"1".to_vec());
        kv.set("other", "a", b"x".to_vec());
        assert_eq!(kv.get("default", "a"), Some(b"1".to_vec()));
        assert_eq!(kv.keys("default"), ["a", "b"]);
        assert!(kv.delete("default", "a"));
        assert!(!kv.delete("default", "a"));
        assert_eq!(kv.get("default", "a"), None);
        assert_eq!(kv.get("other", "a"), Some(b"x".to_vec()));
    }

    #[test]
    fn increment_counts_from_zero_and_refuses_text() {
        let kv = KvStores::default();
        assert_eq!(kv.increment("s", "n", 5), Ok(5));
        assert_eq!(kv.increment("s", "n", -2), Ok(3));
        assert_eq!(kv.get("s", "n"), Some(3i64.to_le_bytes().to_vec()));
        kv.set("s", "text", b"12".to_vec());
        assert_eq!(kv.increment("s", "text", 1), Err(KvError::NotACounter));
        kv.set("s", "max", i64::MAX.to_le_bytes().to_vec());
        assert_eq!(kv.increment("s", "max", 1), Err(KvError::Overflow));
    }

    /// The reason this module exists: read-then-write over `spin:key-value` lost updates.
    #[test]
    fn concurrent_increments_lose_no_update() {
        let kv = KvStores::default();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let kv = kv.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        kv.increment("default", "hits", 1).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(kv.increment("default", "hits", 0), Ok(8000));
    }

    #[test]
    fn swap_fails_after_a_write_in_between() {
        let kv = KvStores::default();
        let first = kv.snapshot("s", "k");
        assert_eq!(first.value, None);
        let second = kv.snapshot("s", "k");
        assert_eq!(kv.swap(&first, b"a".to_vec()), Ok(()));
        let fresh = kv.swap(&second, b"b".to_vec()).unwrap_err();
        assert_eq!(fresh.value, Some(b"a".to_vec()));
        assert_eq!(kv.swap(&fresh, b"b".to_vec()), Ok(()));
        assert_eq!(kv.get("s", "k"), Some(b"b".to_vec()));
    }

    #[test]
    fn concurrent_cas_loops_lose_no_update() {
        let kv = KvStores::default();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let kv = kv.clone();
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        let mut snapshot = kv.snapshot("s", "n");
                        loop {
                            let n = snapshot
                                .value
                                .as_deref()
                                .map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()));
                            match kv.swap(&snapshot, (n + 1).to_le_bytes().to_vec()) {
                                Ok(()) => break,
                                Err(fresh) => snapshot = fresh,
                            }
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(kv.get("s", "n"), Some(2000u64.to_le_bytes().to_vec()));
    }
}
