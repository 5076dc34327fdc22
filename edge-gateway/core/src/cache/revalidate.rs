//! Conditional revalidation of a stored response (RFC 9111 §4.3).
//!
//! Decides which validators a conditional request carries (§4.3.1) and how a 304 Not Modified
//! updates the stored headers (§4.3.4, §3.2). It never sends the request and never decides
//! whether revalidation is needed (see [`super::decision`]).
//!
//! After a merge the caller records the revalidation's request and response times in the new
//! [`super::age::StoredMeta`], so the age restarts from the 304.

use http::header::{CONNECTION, ETAG, HeaderName, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use http::{HeaderMap, HeaderValue};

use super::directives::split_list;
use super::freshness::parse_http_date;

/// Fields a 304 never changes in the stored response: `Content-Length` (§3.2), fields
/// describing the stored body as encoded (§3.2 "depends upon"), hop-by-hop fields (§3.1), and
/// `Set-Cookie`, which belongs to the client that triggered the revalidation alone.
const NOT_MERGED: [&str; 11] = [
    "content-length",
    "content-encoding",
    "content-range",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "set-cookie",
];

/// The validators to send when revalidating a response stored with `stored_headers`:
/// `If-None-Match` from `ETag`, `If-Modified-Since` from a valid `Last-Modified` (§4.3.1).
///
/// Both are sent when both exist (the origin evaluates `If-None-Match` first, RFC 9110
/// §13.2.2). An empty map means the response cannot be validated, only refetched.
pub fn revalidation_headers(stored_headers: &HeaderMap) -> HeaderMap {
    let mut conditional = HeaderMap::new();
    if let Some(etag) = stored_headers.get(ETAG) {
        conditional.insert(IF_NONE_MATCH, etag.clone());
    }
    let modified = stored_headers.get(LAST_MODIFIED);
    if let Some(modified) = modified.filter(|v| v.to_str().ok().and_then(parse_http_date).is_some()) {
        conditional.insert(IF_MODIFIED_SINCE, modified.clone());
    }
    conditional
}

/// The stored headers updated from a 304 Not Modified (RFC 9111 §4.3.4): every field in the
/// 304 replaces all stored lines of that name, except those in the exclusion list above and any
/// the 304's `Connection` names.
pub fn merge_304(stored_headers: &HeaderMap, not_modified_headers: &HeaderMap) -> HeaderMap {
    let mut merged = stored_headers.clone();
    let connection_named: Vec<String> = not_modified_headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| split_list(&String::from_utf8_lossy(v.as_bytes())))
        .map(|name| name.to_ascii_lowercase())
        .collect();
    let skip = |name: &HeaderName| {
        NOT_MERGED.contains(&name.as_str()) || connection_named.iter().any(|n| n == name.as_str())
    };
    for name in not_modified_headers.keys().filter(|name| !skip(name)) {
        merged.remove(name);
        for value in not_modified_headers.get_all(name) {
            merged.append(name.clone(), value.clone());
        }
    }
    merged
}

/// True when the 304's strong `ETag`, if any, differs from the stored one: the 304 then does
/// not describe the stored response and must not update it (§4.3.4, selecting the response).
pub fn etag_mismatch(stored_headers: &HeaderMap, not_modified_headers: &HeaderMap) -> bool {
    match (stored_headers.get(ETAG), not_modified_headers.get(ETAG)) {
        (Some(stored), Some(fresh)) => !same_entity(stored, fresh),
        _ => false,
    }
}

/// Weak comparison of two entity tags (RFC 9110 §8.8.3.2): `W/` prefixes are ignored.
fn same_entity(a: &HeaderValue, b: &HeaderValue) -> bool {
    let opaque = |v: &HeaderValue| {
        let bytes = v.as_bytes();
        bytes.strip_prefix(b"W/").unwrap_or(bytes).to_vec()
    };
    opaque(a) == opaque(b)
}
