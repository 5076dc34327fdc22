//! The key-value stores shared by every request, the admin API and both KV interfaces.
//!
//! Two backends: one in-memory map per store label (the default), or a SQLite file with Spin's
//! own schema for its default store (`spin_key_value(store, key, value)`, see [`sqlite`]), so a
//! file written by the project's scripts for `spin up` is read the same way here. Every
//! operation takes the lock once, so `increment` and `swap` are atomic with respect to each
//! other and to plain writes. Counters are stored as 8 bytes of little-endian `i64`, as Spin's
//! SQLite store does.

mod sqlite;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Why a key-value operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KvError {
    /// The value under a counter key is not 8 bytes.
    NotACounter,
    /// The counter would overflow `i64`.
    Overflow,
    /// The SQLite file could not be read or written.
    Store(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::NotACounter => f.write_str("the value is not an 8-byte little-endian counter"),
            KvError::Overflow => f.write_str("the counter would overflow"),
            KvError::Store(reason) => write!(f, "sqlite: {reason}"),
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
struct Memory {
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
    /// The in-memory version seen; SQLite compares the value instead, as Spin does.
    version: Option<u64>,
}

#[derive(Debug)]
enum Backend {
    Memory(Mutex<Memory>),
    Sqlite(Mutex<rusqlite::Connection>),
}

/// All stores, cheap to clone and shared across threads.
#[derive(Debug, Clone)]
pub(crate) struct KvStores(Arc<Backend>);

impl Default for KvStores {
    fn default() -> Self {
        KvStores(Arc::new(Backend::Memory(Mutex::default())))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn counter(value: Option<&[u8]>) -> Result<i64, KvError> {
    match value {
        None => Ok(0),
        Some(bytes) => Ok(i64::from_le_bytes(bytes.try_into().map_err(|_| KvError::NotACounter)?)),
    }
}

impl Memory {
    fn write(&mut self, store: &str, key: &str, value: Vec<u8>) {
        self.next_version += 1;
        let version = self.next_version;
        self.stores.entry(store.to_owned()).or_default().insert(key.to_owned(), Entry { value, version });
    }

    fn entry(&self, store: &str, key: &str) -> Option<&Entry> {
        self.stores.get(store)?.get(key)
    }
}

impl KvStores {
    /// Stores in the SQLite file at `path` (created with Spin's schema if missing).
    pub(crate) fn sqlite(path: &Path) -> anyhow::Result<KvStores> {
        Ok(KvStores(Arc::new(Backend::Sqlite(Mutex::new(sqlite::open(path)?)))))
    }

    /// The value under `key`.
    pub(crate) fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match &*self.0 {
            Backend::Memory(m) => Ok(lock(m).entry(store, key).map(|e| e.value.clone())),
            Backend::Sqlite(c) => sqlite::get(&lock(c), store, key),
        }
    }

    /// Writes `value` under `key`.
    pub(crate) fn set(&self, store: &str, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        match &*self.0 {
            Backend::Memory(m) => {
                lock(m).write(store, key, value);
                Ok(())
            }
            Backend::Sqlite(c) => sqlite::set(&lock(c), store, key, &value),
        }
    }

    /// Removes `key`; true when it existed.
    pub(crate) fn delete(&self, store: &str, key: &str) -> Result<bool, KvError> {
        match &*self.0 {
            Backend::Memory(m) => Ok(lock(m).stores.get_mut(store).is_some_and(|s| s.remove(key).is_some())),
            Backend::Sqlite(c) => sqlite::delete(&lock(c), store, key),
        }
    }

    /// Every key of `store`, sorted.
    pub(crate) fn keys(&self, store: &str) -> Result<Vec<String>, KvError> {
        match &*self.0 {
            Backend::Memory(m) => {
                Ok(lock(m).stores.get(store).map(|s| s.keys().cloned().collect()).unwrap_or_default())
            }
            Backend::Sqlite(c) => sqlite::keys(&lock(c), store),
        }
    }

    /// Adds `delta` to the counter under `key` (absent counts as 0) and returns the new value.
    pub(crate) fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, KvError> {
        match &*self.0 {
            Backend::Memory(m) => {
                let mut memory = lock(m);
                let current = counter(memory.entry(store, key).map(|e| e.value.as_slice()))?;
                let next = current.checked_add(delta).ok_or(KvError::Overflow)?;
                memory.write(store, key, next.to_le_bytes().to_vec());
                Ok(next)
            }
            Backend::Sqlite(c) => sqlite::increment(&mut lock(c), store, key, delta),
        }
    }

    /// Reads `key` for a later [`KvStores::swap`].
    pub(crate) fn snapshot(&self, store: &str, key: &str) -> Result<Snapshot, KvError> {
        let (value, version) = match &*self.0 {
            Backend::Memory(m) => {
                let memory = lock(m);
                let entry = memory.entry(store, key);
                (entry.map(|e| e.value.clone()), entry.map(|e| e.version))
            }
            Backend::Sqlite(c) => (sqlite::get(&lock(c), store, key)?, None),
        };
        Ok(Snapshot { store: store.to_owned(), key: key.to_owned(), value, version })
    }

    /// Writes `value` if the key is unchanged since `snapshot`; otherwise returns a fresh snapshot.
    pub(crate) fn swap(&self, snapshot: &Snapshot, value: Vec<u8>) -> Result<Result<(), Snapshot>, KvError> {
        let swapped = match &*self.0 {
            Backend::Memory(m) => {
                let mut memory = lock(m);
                let current = memory.entry(&snapshot.store, &snapshot.key).map(|e| e.version);
                let unchanged = current == snapshot.version;
                if unchanged {
                    memory.write(&snapshot.store, &snapshot.key, value);
                }
                unchanged
            }
            Backend::Sqlite(c) => sqlite::swap(&mut lock(c), snapshot, &value)?,
        };
        if swapped { Ok(Ok(())) } else { Ok(Err(self.snapshot(&snapshot.store, &snapshot.key)?)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every test runs on both backends: they must behave the same.
    fn backends() -> Vec<(&'static str, KvStores, Option<tempdir::Dir>)> {
        let dir = tempdir::Dir::new();
        let sqlite = KvStores::sqlite(&dir.path().join(".spin/sqlite_key_value.db")).unwrap();
        vec![("memory", KvStores::default(), None), ("sqlite", sqlite, Some(dir))]
    }

    mod tempdir {
        /// A directory removed on drop.
        pub(super) struct Dir(std::path::PathBuf);
        impl Dir {
            pub(super) fn new() -> Dir {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = std::env::temp_dir().join(format!("spin-host-kv-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }
            pub(super) fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn set_get_delete_keys() {
        for (name, kv, _dir) in backends() {
            kv.set("default", "b", b"2".to_vec()).unwrap();
            kv.set("default", "a", b"1".to_vec()).unwrap();
            kv.set("other", "a", b"x".to_vec()).unwrap();
            kv.set("default", "a", b"1".to_vec()).unwrap();
            assert_eq!(kv.get("default", "a"), Ok(Some(b"1".to_vec())), "{name}");
            assert_eq!(kv.keys("default"), Ok(vec!["a".to_owned(), "b".to_owned()]), "{name}");
            assert_eq!(kv.delete("default", "a"), Ok(true), "{name}");
            assert_eq!(kv.delete("default", "a"), Ok(false), "{name}");
            assert_eq!(kv.get("default", "a"), Ok(None), "{name}");
            assert_eq!(kv.get("other", "a"), Ok(Some(b"x".to_vec())), "{name}");
        }
    }

    #[test]
    fn increment_counts_from_zero_and_refuses_text() {
        for (name, kv, _dir) in backends() {
            assert_eq!(kv.increment("s", "n", 5), Ok(5), "{name}");
            assert_eq!(kv.increment("s", "n", -2), Ok(3), "{name}");
            assert_eq!(kv.get("s", "n"), Ok(Some(3i64.to_le_bytes().to_vec())), "{name}");
            kv.set("s", "text", b"12".to_vec()).unwrap();
            assert_eq!(kv.increment("s", "text", 1), Err(KvError::NotACounter), "{name}");
            kv.set("s", "max", i64::MAX.to_le_bytes().to_vec()).unwrap();
            assert_eq!(kv.increment("s", "max", 1), Err(KvError::Overflow), "{name}");
        }
    }

    /// The reason atomics exist: read-then-write over plain get/set lost updates.
    #[test]
    fn concurrent_increments_lose_no_update() {
        for (name, kv, _dir) in backends() {
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let kv = kv.clone();
                    std::thread::spawn(move || {
                        for _ in 0..250 {
                            kv.increment("default", "hits", 1).unwrap();
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            assert_eq!(kv.increment("default", "hits", 0), Ok(1000), "{name}");
        }
    }

    #[test]
    fn swap_fails_after_a_write_in_between() {
        for (name, kv, _dir) in backends() {
            let first = kv.snapshot("s", "k").unwrap();
            assert_eq!(first.value, None, "{name}");
            let second = kv.snapshot("s", "k").unwrap();
            assert_eq!(kv.swap(&first, b"a".to_vec()), Ok(Ok(())), "{name}");
            let fresh = kv.swap(&second, b"b".to_vec()).unwrap().unwrap_err();
            assert_eq!(fresh.value, Some(b"a".to_vec()), "{name}");
            assert_eq!(kv.swap(&fresh, b"b".to_vec()), Ok(Ok(())), "{name}");
            assert_eq!(kv.get("s", "k"), Ok(Some(b"b".to_vec())), "{name}");
        }
    }

    /// The file is Spin's: the table and columns Spin's `key-value-spin` creates and reads.
    #[test]
    fn sqlite_file_has_spins_schema() {
        let dir = tempdir::Dir::new();
        let path = dir.path().join("kv.db");
        let kv = KvStores::sqlite(&path).unwrap();
        kv.set("default", "routes/current", b"v1".to_vec()).unwrap();
        kv.increment("default", "n", 7).unwrap();
        drop(kv);
        let db = rusqlite::Connection::open(&path).unwrap();
        let value: Vec<u8> = db
            .query_row(
                "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'routes/current'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(value, b"v1");
        let n: Vec<u8> = db
            .query_row("SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'n'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 7i64.to_le_bytes());
    }
}
