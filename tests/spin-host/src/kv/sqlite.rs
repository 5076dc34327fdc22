//! The SQLite backend: Spin's default key-value store format.
//!
//! Spin's `key-value-spin` crate keeps every store of an app in one file (`spin up` puts it at
//! `.spin/sqlite_key_value.db`), in one table:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS spin_key_value (
//!     store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))
//! ```
//!
//! `store` is the label (`default`). Writes are upserts; `increment` reads and writes in one
//! transaction; compare-and-swap compares the value (and upserts after reading an absent key),
//! as Spin's does.

use std::path::Path;

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, params};

use super::{KvError, Snapshot, counter};

fn store_error(error: rusqlite::Error) -> KvError {
    KvError::Store(error.to_string())
}

/// Opens (or creates) the file at `path` and its table; missing parent directories are made.
pub(super) fn open(path: &Path) -> anyhow::Result<Connection> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let connection = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.execute(
        "CREATE TABLE IF NOT EXISTS spin_key_value (
             store TEXT NOT NULL,
             key   TEXT NOT NULL,
             value BLOB NOT NULL,
             PRIMARY KEY (store, key)
         )",
        [],
    )?;
    Ok(connection)
}

pub(super) fn get(db: &Connection, store: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
    db.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")
        .and_then(|mut s| s.query_row(params![store, key], |row| row.get(0)).optional())
        .map_err(store_error)
}

pub(super) fn set(db: &Connection, store: &str, key: &str, value: &[u8]) -> Result<(), KvError> {
    db.prepare_cached(
        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (store, key) DO UPDATE SET value = ?3",
    )
    .and_then(|mut s| s.execute(params![store, key, value]))
    .map(drop)
    .map_err(store_error)
}

pub(super) fn delete(db: &Connection, store: &str, key: &str) -> Result<bool, KvError> {
    db.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")
        .and_then(|mut s| s.execute(params![store, key]))
        .map(|n| n > 0)
        .map_err(store_error)
}

pub(super) fn keys(db: &Connection, store: &str) -> Result<Vec<String>, KvError> {
    let mut statement = db
        .prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")
        .map_err(store_error)?;
    let rows = statement.query_map(params![store], |row| row.get(0)).map_err(store_error)?;
    rows.collect::<Result<Vec<String>, _>>().map_err(store_error)
}

pub(super) fn increment(db: &mut Connection, store: &str, key: &str, delta: i64) -> Result<i64, KvError> {
    let tx = db.transaction().map_err(store_error)?;
    let current = counter(get(&tx, store, key)?.as_deref())?;
    let next = current.checked_add(delta).ok_or(KvError::Overflow)?;
    set(&tx, store, key, &next.to_le_bytes())?;
    tx.commit().map_err(store_error)?;
    Ok(next)
}

/// Spin's `CompareAndSwap::swap` (`crates/key-value-spin/src/store.rs`), statement for
/// statement: with a value read, `UPDATE ... WHERE value = <read>` and true when one row changed;
/// with none read, an upsert (so true even when the key was created in between).
pub(super) fn swap(db: &mut Connection, snapshot: &Snapshot, value: &[u8]) -> Result<bool, KvError> {
    let changed = match &snapshot.value {
        Some(old) => db
            .prepare_cached(
                "UPDATE spin_key_value SET value = ?4 WHERE store = ?1 AND key = ?2 AND value = ?3",
            )
            .and_then(|mut s| s.execute(params![snapshot.store, snapshot.key, old, value]))
            .map_err(store_error)?,
        None => {
            let tx = db.transaction().map_err(store_error)?;
            set(&tx, &snapshot.store, &snapshot.key, value)?;
            tx.commit().map_err(store_error)?;
            1
        }
    };
    Ok(changed == 1)
}
