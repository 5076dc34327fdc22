//! Purge by URL, prefix, tag or everything, for a cache that can only delete by key in one
//! location (Workers' Cache API): purge stamps.
//!
//! A purge never deletes entries everywhere; it records *when* a URL, a path prefix, a tag or
//! the whole cache was purged ([`PurgeStamps`], one small document in KV). An entry stored from a
//! request sent before a stamp that concerns it counts as purged: the lookup treats it as a
//! miss. So one KV write purges every location, and the propagation time is how long instances
//! keep their copy of the document (the config TTL) plus KV's own propagation. Entries are
//! matched by stamp time, so the document needs no per-entry bookkeeping; it is bounded by
//! folding everything into an `all` stamp when it grows past [`MAX_STAMPS`].
//!
//! Pure: stamps in, decisions out. Reading and writing the document is the caller's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ports::UnixMillis;

/// KV key of the purge document.
pub const PURGE_KEY: &str = "cache/purge";
/// Most URL, prefix and tag stamps kept; beyond it every stamp becomes one `all` stamp.
pub const MAX_STAMPS: usize = 10_000;
/// Longest URL, prefix or tag accepted in a purge.
pub const MAX_ITEM_BYTES: usize = 2048;

/// When things were purged (milliseconds since the epoch).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeStamps {
    /// Everything stored before this is purged.
    #[serde(default)]
    pub all: UnixMillis,
    /// By exact path and query (`/a/b?x=1`).
    #[serde(default)]
    pub urls: BTreeMap<String, UnixMillis>,
    /// By path prefix (`/static/`).
    #[serde(default)]
    pub prefixes: BTreeMap<String, UnixMillis>,
    /// By tag (`Cache-Tag` / `Surrogate-Key` member).
    #[serde(default)]
    pub tags: BTreeMap<String, UnixMillis>,
}

/// What one purge asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeRequest {
    /// Exact paths with query.
    pub urls: Vec<String>,
    /// Path prefixes.
    pub prefixes: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Everything.
    pub all: bool,
}

impl PurgeRequest {
    /// Reads `url=`, `prefix=`, `tag=` (repeatable) and `all=1` from a query string, checking
    /// each value. URLs may be absolute; only their path and query count.
    pub fn from_query(query: &str) -> Result<PurgeRequest, String> {
        let mut request = PurgeRequest::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value).ok_or_else(|| format!("`{name}`: invalid percent-encoding"))?;
            if value.is_empty() || value.len() > MAX_ITEM_BYTES {
                return Err(format!("`{name}`: must be 1 to {MAX_ITEM_BYTES} bytes"));
            }
            match name {
                "url" => request.urls.push(path_and_query(&value)?),
                "prefix" if value.starts_with('/') => request.prefixes.push(value),
                "prefix" => return Err("`prefix`: must start with '/'".into()),
                "tag" if !value.contains([' ', ',']) => request.tags.push(value),
                "tag" => return Err("`tag`: must not contain spaces or commas".into()),
                "all" if value == "1" || value == "true" => request.all = true,
                other => return Err(format!("unknown parameter `{other}`; use url, prefix, tag or all=1")),
            }
        }
        if request == PurgeRequest::default() {
            return Err("nothing to purge: give url, prefix, tag or all=1".into());
        }
        Ok(request)
    }
}

impl PurgeStamps {
    /// Records `request` at `now`. Stamps only move forward.
    pub fn apply(&mut self, request: &PurgeRequest, now: UnixMillis) {
        let stamp = |map: &mut BTreeMap<String, UnixMillis>, item: &String| {
            let entry = map.entry(item.clone()).or_default();
            *entry = (*entry).max(now);
        };
        request.urls.iter().for_each(|u| stamp(&mut self.urls, u));
        request.prefixes.iter().for_each(|p| stamp(&mut self.prefixes, p));
        request.tags.iter().for_each(|t| stamp(&mut self.tags, t));
        if request.all || self.urls.len() + self.prefixes.len() + self.tags.len() > MAX_STAMPS {
            self.all = self.all.max(now);
            self.urls.clear();
            self.prefixes.clear();
            self.tags.clear();
        }
    }

    /// Whether an entry for `path_and_query` with `tags`, produced by a request sent at
    /// `request_time`, has been purged since.
    pub fn purged(&self, path_and_query: &str, tags: &[String], request_time: UnixMillis) -> bool {
        let path = path_and_query.split('?').next().unwrap_or_default();
        let newest = [self.all, self.urls.get(path_and_query).copied().unwrap_or(0)]
            .into_iter()
            .chain(self.prefixes.iter().filter(|(p, _)| path.starts_with(p.as_str())).map(|(_, s)| *s))
            .chain(tags.iter().filter_map(|t| self.tags.get(t).copied()))
            .max()
            .unwrap_or(0);
        newest >= request_time && newest != 0
    }
}

/// The tags of a response: members of `Cache-Tag` and `Surrogate-Key` (separated by commas,
/// spaces or tabs), deduplicated, in order. The edge and the shield both read tags with this, so
/// a purge by tag selects the same entries in both tiers.
pub fn response_tags(headers: &http::HeaderMap) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for name in ["cache-tag", "surrogate-key"] {
        for line in headers.get_all(name) {
            for tag in
                String::from_utf8_lossy(line.as_bytes()).split([',', ' ', '\t']).filter(|t| !t.is_empty())
            {
                if !tags.iter().any(|t| t == tag) {
                    tags.push(tag.to_owned());
                }
            }
        }
    }
    tags
}

fn path_and_query(url: &str) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|_| format!("`url`: `{url}` is not a URL or path"))?;
    let pq = uri.path_and_query().map(|pq| pq.as_str().to_owned()).unwrap_or_default();
    if !pq.starts_with('/') {
        return Err(format!("`url`: `{url}` has no path"));
    }
    Ok(pq)
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}
