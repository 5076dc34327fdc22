//! A bounded cache of verified tokens: [`TokenCache`].
//!
//! This module decides how long a verification may be reused: until the earlier of the token's
//! `exp` and the cache's TTL, evicting expired entries first and then the least recently used.
//! Entries are keyed by the SHA-256 of the token, so the cache never holds a bearer token. It
//! never reads a clock (`now` is a parameter) and never verifies anything itself.
//!
//! One cache serves one [`crate::auth::IssuerPolicy`] and key set: a verification under one
//! policy says nothing about another. Call [`TokenCache::clear`] when either changes (a key
//! removed from the JWKS must stop being honoured before the TTL runs out).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::auth::jwt::VerifiedToken;
use crate::ports::UnixMillis;

struct Entry {
    token: VerifiedToken,
    valid_until: UnixMillis,
    last_used: u64,
}

/// Verified tokens by SHA-256 of the compact token, bounded in count and age.
pub struct TokenCache {
    capacity: usize,
    ttl_ms: u64,
    entries: HashMap<[u8; 32], Entry>,
    tick: u64,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.capacity)
            .field("ttl_ms", &self.ttl_ms)
            .field("len", &self.entries.len())
            .finish()
    }
}

impl TokenCache {
    /// A cache of at most `capacity` tokens (at least one), each reused for at most `ttl_ms`.
    ///
    /// Eviction scans every entry, so keep `capacity` in the hundreds.
    pub fn new(capacity: usize, ttl_ms: u64) -> Self {
        TokenCache { capacity: capacity.max(1), ttl_ms, entries: HashMap::new(), tick: 0 }
    }

    /// The verification of `token`, if cached and still valid at `now`.
    pub fn get(&mut self, token: &str, now: UnixMillis) -> Option<&VerifiedToken> {
        let key = digest(token);
        if self.entries.get(&key).is_some_and(|entry| now >= entry.valid_until) {
            self.entries.remove(&key);
            return None;
        }
        self.tick += 1;
        let entry = self.entries.get_mut(&key)?;
        entry.last_used = self.tick;
        Some(&entry.token)
    }

    /// Remembers that `token` verified as `verified` at `now`; already-expired tokens are not kept.
    pub fn insert(&mut self, token: &str, verified: VerifiedToken, now: UnixMillis) {
        let ttl_end = now.saturating_add(self.ttl_ms);
        let valid_until = verified.claims.exp_millis().map_or(ttl_end, |exp| exp.min(ttl_end));
        if valid_until <= now {
            return;
        }
        let key = digest(token);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.evict(now);
        }
        self.tick += 1;
        self.entries.insert(key, Entry { token: verified, valid_until, last_used: self.tick });
    }

    /// Forgets every entry (policy or key set changed).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Number of entries, including any that expired but were not yet evicted.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn evict(&mut self, now: UnixMillis) {
        self.entries.retain(|_, entry| entry.valid_until > now);
        if self.entries.len() < self.capacity {
            return;
        }
        let oldest = self.entries.iter().min_by_key(|(_, entry)| entry.last_used).map(|(key, _)| *key);
        if let Some(key) = oldest {
            self.entries.remove(&key);
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
