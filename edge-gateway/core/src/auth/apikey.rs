//! API keys: how a presented key is hashed, how its stored record reads, and whether it is
//! accepted now.
//!
//! Keys are stored in KV only as `apikeys/<hex SHA-256 of the key>` → [`ApiKeyRecord`]; the
//! plain key exists only in the client's hands and in the request being checked. The record
//! repeats the hash, and the gateway compares it with the presented key's hash in constant time,
//! so a record stored under the wrong name never admits another key. This module decides; it
//! never reads KV or a clock.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ports::UnixMillis;

/// The longest API key accepted, in bytes (checked before hashing).
pub const MAX_KEY_BYTES: usize = 256;

/// The stored record of one API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRecord {
    /// Hex SHA-256 of the key (lower case), equal to the KV key's suffix.
    pub key_sha256: String,
    /// A short public id for logs and the subject header (never the key).
    pub id: String,
    /// The tenant the key belongs to.
    pub tenant: String,
    /// Scopes granted.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Whether the key is in use.
    pub status: KeyStatus,
    /// When the key stops working, in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<UnixMillis>,
    /// What the key is for.
    #[serde(default)]
    pub description: String,
}

/// The state of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Accepted until it expires.
    Active,
    /// Never accepted again.
    Revoked,
}

/// Why a presented key was refused (for logs; the client is told only that it was refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// Empty, too long, or not visible ASCII.
    #[error("malformed API key")]
    Malformed,
    /// No record for its hash.
    #[error("unknown API key")]
    Unknown,
    /// The record's hash differs from the key's.
    #[error("API key record does not match its key")]
    Mismatch,
    /// The key was revoked.
    #[error("API key {0} is revoked")]
    Revoked(String),
    /// The key expired.
    #[error("API key {0} expired")]
    Expired(String),
    /// The stored record is not valid JSON of the expected shape.
    #[error("API key record is unreadable: {0}")]
    BadRecord(String),
}

/// The KV key of the record for a key whose hash is `hash`.
pub fn record_key(hash: &str) -> String {
    format!("apikeys/{hash}")
}

/// Hex SHA-256 of a presented key, after checking its shape.
pub fn hash_key(key: &str) -> Result<String, ApiKeyError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiKeyError::Malformed);
    }
    Ok(hex(&Sha256::digest(key.as_bytes())))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a stored record.
pub fn parse_record(bytes: &[u8]) -> Result<ApiKeyRecord, ApiKeyError> {
    serde_json::from_slice(bytes).map_err(|e| ApiKeyError::BadRecord(e.to_string()))
}

/// Whether `record` admits the key whose hash is `hash` at `now`.
pub fn check(record: &ApiKeyRecord, hash: &str, now: UnixMillis) -> Result<(), ApiKeyError> {
    if !constant_time_eq(record.key_sha256.as_bytes(), hash.as_bytes()) {
        return Err(ApiKeyError::Mismatch);
    }
    if record.status == KeyStatus::Revoked {
        return Err(ApiKeyError::Revoked(record.id.clone()));
    }
    if record.expires_at_ms.is_some_and(|at| now >= at) {
        return Err(ApiKeyError::Expired(record.id.clone()));
    }
    Ok(())
}

/// Compares two byte strings in time that depends only on their lengths (no early exit on the
/// first difference; `black_box` keeps the optimizer from adding one).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}
