//! The key-value stores shared by every request, the admin API and both KV interfaces.
//!
//! Two backends: one in-memory map per store label (the default), or a SQLite file with Spin's
//! own schema for its default store (`spin_key_value(store, key, value)`, see [`sqlite`]), so a
//! file written by the project's scripts for `spin up` is read the same way here. Every
//! operation takes the lock once, so `increment` and `swap` are atomic with respect to each
//! other and to plain writes. Counters are stored as 8 bytes of little-endian `i64`, as Spin's
//! SQLite store does; compare-and-swap compares values and writes unconditionally after reading
//! an absent key, as Spin's does (see [`Snapshot`]).

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

#[derive(Debug, Default)]
struct Memory {
    stores: HashMap<String, BTreeMap<String, Vec<u8>>>,
}

/// A compare-and-swap in progress, as Spin's SQLite store keeps it
/// (`crates/key-value-spin/src/store.rs`, `CompareAndSwap`): the key, and the value the last
/// `current()` read. Opening one reads nothing; a swap compares the stored value with the one
/// read, and when none was read (the key was absent, or `current()` was never called) it writes
/// unconditionally, as Spin does: two instances that both read "absent" both succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(unreachable_pub)] // `pub` because `bindgen!` re-exports it as the `cas` resource
pub struct Snapshot {
    /// The store label.
    pub(crate) store: String,
    /// The key.
    pub(crate) key: String,
    /// The value the last `current()` read (`None`: absent, or not read).
    pub(crate) value: Option<Vec<u8>>,
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
        self.stores.entry(store.to_owned()).or_default().insert(key.to_owned(), value);
    }

    fn entry(&self, store: &str, key: &str) -> Option<&Vec<u8>> {
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
            Backend::Memory(m) => Ok(lock(m).entry(store, key).cloned()),
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
                let current = counter(memory.entry(store, key).map(Vec::as_slice))?;
                let next = current.checked_add(delta).ok_or(KvError::Overflow)?;
                memory.write(store, key, next.to_le_bytes().to_vec());
                Ok(next)
            }
            Backend::Sqlite(c) => sqlite::increment(&mut lock(c), store, key, delta),
        }
    }

    /// Starts a compare-and-swap of `key` (reads nothing yet).
    pub(crate) fn cas(&self, store: &str, key: &str) -> Snapshot {
        Snapshot { store: store.to_owned(), key: key.to_owned(), value: None }
    }

    /// Reads the key for `snapshot`'s swap, and remembers what it read.
    pub(crate) fn current(&self, snapshot: &mut Snapshot) -> Result<Option<Vec<u8>>, KvError> {
        snapshot.value = self.get(&snapshot.store, &snapshot.key)?;
        Ok(snapshot.value.clone())
    }

    /// Writes `value` if the stored value still equals the one `snapshot` read, or at once if it
    /// read none (Spin's upsert); false when the value changed in between.
    pub(crate) fn swap(&self, snapshot: &Snapshot, value: Vec<u8>) -> Result<bool, KvError> {
        match &*self.0 {
            Backend::Memory(m) => {
                let mut memory = lock(m);
                let current = memory.entry(&snapshot.store, &snapshot.key);
                let swapped = snapshot.value.is_none() || current == snapshot.value.as_ref();
                if swapped {
                    memory.write(&snapshot.store, &snapshot.key, value);
                }
                Ok(swapped)
            }
            Backend::Sqlite(c) => sqlite::swap(&mut lock(c), snapshot, &value),
        }
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
            kv.set("s", "k", b"a".to_vec()).unwrap();
            let mut first = kv.cas("s", "k");
            assert_eq!(kv.current(&mut first), Ok(Some(b"a".to_vec())), "{name}");
            let mut second = kv.cas("s", "k");
            kv.current(&mut second).unwrap();
            assert_eq!(kv.swap(&first, b"b".to_vec()), Ok(true), "{name}");
            assert_eq!(kv.swap(&second, b"c".to_vec()), Ok(false), "{name}: a write came in between");
            assert_eq!(kv.get("s", "k"), Ok(Some(b"b".to_vec())), "{name}");
            assert_eq!(kv.current(&mut second), Ok(Some(b"b".to_vec())), "{name}");
            assert_eq!(kv.swap(&second, b"c".to_vec()), Ok(true), "{name}");
            assert_eq!(kv.get("s", "k"), Ok(Some(b"c".to_vec())), "{name}");
        }
    }

    /// Spin's `swap` after reading an absent key is an upsert (`crates/key-value-spin/src/store.rs`):
    /// it succeeds even when another instance created the key in between, overwriting it. The
    /// gateway's counters depend on knowing this (they create a record from one instance only).
    #[test]
    fn swap_on_an_absent_key_writes_unconditionally_as_spin_does() {
        for (name, kv, _dir) in backends() {
            let mut first = kv.cas("s", "new");
            let mut second = kv.cas("s", "new");
            assert_eq!(kv.current(&mut first), Ok(None), "{name}");
            assert_eq!(kv.current(&mut second), Ok(None), "{name}");
            assert_eq!(kv.swap(&first, b"first".to_vec()), Ok(true), "{name}");
            assert_eq!(
                kv.swap(&second, b"second".to_vec()),
                Ok(true),
                "{name}: no conflict on an absent key"
            );
            assert_eq!(kv.get("s", "new"), Ok(Some(b"second".to_vec())), "{name}");
            // A swap without `current()` compares nothing either.
            assert_eq!(kv.swap(&kv.cas("s", "new"), b"blind".to_vec()), Ok(true), "{name}");
            assert_eq!(kv.get("s", "new"), Ok(Some(b"blind".to_vec())), "{name}");
        }
    }

    /// A deleted key fails the swap of an instance that read it (Spin's `UPDATE` finds no row).
    #[test]
    fn swap_after_a_delete_fails() {
        for (name, kv, _dir) in backends() {
            kv.set("s", "k", b"a".to_vec()).unwrap();
            let mut cas = kv.cas("s", "k");
            kv.current(&mut cas).unwrap();
            kv.delete("s", "k").unwrap();
            assert_eq!(kv.swap(&cas, b"b".to_vec()), Ok(false), "{name}");
            assert_eq!(kv.get("s", "k"), Ok(None), "{name}");
        }
    }

    /// Values of any bytes round-trip through a swap, including ones that look like counters.
    #[test]
    fn swapped_values_round_trip() {
        for (name, kv, _dir) in backends() {
            for value in [b"{\"calls\":1}".to_vec(), vec![0; 8], vec![0xff, 0, 0x80], Vec::new()] {
                let mut cas = kv.cas("s", "v");
                kv.current(&mut cas).unwrap();
                assert_eq!(kv.swap(&cas, value.clone()), Ok(true), "{name}");
                assert_eq!(kv.get("s", "v"), Ok(Some(value)), "{name}");
            }
        }
    }

    /// Many threads each adding one through read-swap-retry lose no update once the key exists.
    #[test]
    fn concurrent_swaps_lose_no_update() {
        for (name, kv, _dir) in backends() {
            kv.set("s", "n", b"0".to_vec()).unwrap();
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let kv = kv.clone();
                    std::thread::spawn(move || {
                        for _ in 0..100 {
                            let mut cas = kv.cas("s", "n");
                            loop {
                                let n: u64 = String::from_utf8(kv.current(&mut cas).unwrap().unwrap())
                                    .unwrap()
                                    .parse()
                                    .unwrap();
                                if kv.swap(&cas, (n + 1).to_string().into_bytes()).unwrap() {
                                    break;
                                }
                            }
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            assert_eq!(kv.get("s", "n"), Ok(Some(b"400".to_vec())), "{name}");
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
