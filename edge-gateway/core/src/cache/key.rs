//! Cache keys and `Vary` matching (RFC 9111 §2, §4.1).
//!
//! Decides the string under which a response is stored and found: method, normalized URL,
//! the request's values of the fields the response varies on, and any extra parts the caller
//! adds (e.g. a route id or a tenant). It never decides storability and never reads a store.
//!
//! # Normalization, and why no more
//!
//! Two requests get one key only when every origin must treat them alike; anything else would
//! let one client's response be served for another's request. So:
//!
//! * scheme and host are lower-cased, a trailing dot on the host is dropped, and the default
//!   port (80 for `http`, 443 for `https`) is removed (RFC 3986 §6.2.2.1, §6.2.3);
//! * in path and query, percent-encoding hex digits are upper-cased and percent-encoded
//!   *unreserved* characters (`A-Z a-z 0-9 - . _ ~`) are decoded (RFC 3986 §6.2.2.1-2).
//!   Reserved ones such as `%2F` stay encoded: `/a%2Fb` and `/a/b` are different resources;
//! * dot segments are *not* removed and the query is *not* sorted: parameter order is
//!   significant to some origins (repeated keys, signed URLs), so `?a=1&b=2` and `?b=2&a=1`
//!   are two keys. A duplicate entry is cheap; a wrongly shared one is a poisoning.
//!
//! # Unkeyed headers
//!
//! Only `Host` (for origin-form targets) and the fields named in `Vary` reach the key.
//! Headers such as `X-Forwarded-Host`, `X-Forwarded-Scheme`, `X-Original-URL`,
//! `X-Rewrite-URL` or `X-HTTP-Method-Override` are unkeyed: requests differing only in them
//! share an entry. They must therefore never change the response body — the gateway rewrites
//! the forwarding headers itself ([`crate::forward`]) and origins must not honour the rest —
//! or a single request carrying them poisons the entry for everyone (web cache poisoning).

use http::header::{HOST, VARY};
use http::{HeaderMap, HeaderName, Method, Uri};

use super::directives::split_list;

/// The request's values for the fields a stored response varies on, normalized (§4.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VaryValues(Vec<(HeaderName, Option<String>)>);

impl VaryValues {
    /// Captures, from the request that produced a response, the values of the fields named in
    /// the response's `Vary`. `None` for `Vary: *`, which no later request matches.
    pub fn capture(response_headers: &HeaderMap, request_headers: &HeaderMap) -> Option<Self> {
        let names = vary_names(response_headers)?;
        Some(Self(
            names.into_iter().map(|name| (name.clone(), normalize_field(request_headers, &name))).collect(),
        ))
    }

    /// The captured field names, sorted and without duplicates.
    pub fn names(&self) -> Vec<HeaderName> {
        self.0.iter().map(|(name, _)| name.clone()).collect()
    }
}

/// The field names a response varies on, lower-case, sorted, deduplicated; `None` for `*`.
pub fn vary_names(response_headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names = Vec::new();
    for line in response_headers.get_all(VARY) {
        for member in split_list(&String::from_utf8_lossy(line.as_bytes())) {
            if member == "*" {
                return None;
            }
            // Names are case-insensitive; `HeaderName` lower-cases. Invalid names are ignored.
            if let Ok(name) = HeaderName::from_bytes(member.as_bytes()) {
                names.push(name);
            }
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    Some(names)
}

/// True when `request_headers` presents the same normalized values as the request that
/// produced the stored response (RFC 9111 §4.1).
pub fn vary_matches(stored: &VaryValues, request_headers: &HeaderMap) -> bool {
    stored.0.iter().all(|(name, value)| normalize_field(request_headers, name) == *value)
}

/// One field's value for keying: all lines combined, list members trimmed and joined by `,`
/// (§4.1: whitespace and line splits are not significant). Case is kept: some values are
/// case-sensitive. `None` when the field is absent, which differs from present-but-empty.
pub fn normalize_field(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut lines = headers.get_all(name).iter().peekable();
    lines.peek()?;
    let members: Vec<String> =
        lines.flat_map(|v| split_list(&String::from_utf8_lossy(v.as_bytes()))).collect();
    Some(members.join(","))
}

/// The cache key: `METHOD url`, then one line per `vary` field (`name: value`, or `name` alone
/// when absent), then each extra part, length-prefixed so no part can imitate another.
///
/// `uri` should be absolute; for an origin-form target the `Host` header supplies the
/// authority and the scheme is taken as `https`.
pub fn cache_key(
    method: &Method,
    uri: &Uri,
    request_headers: &HeaderMap,
    vary: &[HeaderName],
    extra_parts: &[&str],
) -> String {
    let mut key = format!("{method} {}", normalize_url(uri, request_headers));
    let mut names: Vec<&HeaderName> = vary.iter().collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    for name in names {
        match normalize_field(request_headers, name) {
            Some(value) => key.push_str(&format!("\n{name}: {value}")),
            None => key.push_str(&format!("\n{name}")),
        }
    }
    for part in extra_parts {
        key.push_str(&format!("\n#{}:{part}", part.len()));
    }
    key
}

/// The normalized absolute URL of a request; see the module docs for what is normalized.
pub fn normalize_url(uri: &Uri, request_headers: &HeaderMap) -> String {
    let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
    let authority = match uri.authority() {
        Some(authority) => authority.as_str().to_owned(),
        None => request_headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_owned(),
    };
    let authority = normalize_authority(&scheme, &authority);
    let path = normalize_percent(if uri.path().is_empty() { "/" } else { uri.path() });
    match uri.query() {
        Some(query) => format!("{scheme}://{authority}{path}?{}", normalize_percent(query)),
        None => format!("{scheme}://{authority}{path}"),
    }
}

/// Lower-cases the host, drops a trailing dot, a user-info part and the scheme's default port.
fn normalize_authority(scheme: &str, authority: &str) -> String {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host).to_ascii_lowercase();
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority.as_str(), None),
    };
    let host = host.trim_end_matches('.');
    let default = matches!((scheme, port), ("http", Some("80")) | ("https", Some("443")));
    match port {
        Some(port) if !default && !port.is_empty() => format!("{host}:{port}"),
        _ => host.to_owned(),
    }
}

/// Upper-cases percent-encoding hex digits and decodes encoded unreserved characters.
fn normalize_percent(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => hex(hi).zip(hex(lo)).map(|(hi, lo)| hi * 16 + lo),
            _ => None,
        };
        match decoded {
            Some(byte) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => out.push(byte),
            Some(byte) => out.extend_from_slice(format!("%{byte:02X}").as_bytes()),
            None => out.push(bytes[i]),
        }
        i += if decoded.is_some() { 3 } else { 1 };
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Hex SHA-256 of a cache key, for caches whose keys must be short (URLs of the Workers Cache API).
pub fn digest(key: &str) -> String {
    use sha2::{Digest, Sha256};
    crate::auth::apikey::hex(&Sha256::digest(key.as_bytes()))
}
