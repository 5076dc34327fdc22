//! Under which key a request is cached, and which request fields select a variant.
//!
//! The primary key is the core's normalized URL ([`normalize_url`]) of the request as the
//! origin sees it: scheme `http`, the origin's authority (or the client's `Host` when the
//! shield preserves it, since only then can the origin's answer depend on it), the
//! percent-normalized path and query. Nothing else the client sends is keyed, so unkeyed
//! headers such as `X-Forwarded-Host` cannot change a stored body; fields named in the stored
//! response's `Vary` select a variant ([`variance`]). `GET` and `HEAD` share entries (Pingora
//! fetches `HEAD` misses as `GET`). Pure.

use edge_gateway_core::cache::key::{normalize_field, normalize_url, vary_names};
use http::header::HOST;
use http::{HeaderMap, HeaderValue, Uri};
use pingora_cache::key::HashBinary;
use pingora_cache::{CacheKey, VarianceBuilder};

/// The cache key for a request to `path_and_query`, addressed to `authority`.
pub fn primary(authority: &str, path_and_query: &str) -> CacheKey {
    let url = format!("http://{authority}{path_and_query}");
    let normalized = match url.parse::<Uri>() {
        Ok(uri) => normalize_url(&uri, &HeaderMap::new()),
        Err(_) => url,
    };
    CacheKey::new(normalized, "")
}

/// The authority keyed for a request: the client's `Host` when preserved, else the origin's.
pub fn authority<'a>(request_headers: &'a HeaderMap, origin: &'a str, preserve_host: bool) -> &'a str {
    let client = request_headers.get(HOST).and_then(|h: &HeaderValue| h.to_str().ok());
    match (preserve_host, client) {
        (true, Some(host)) => host,
        _ => origin,
    }
}

/// The variant of a stored response (headers `stored`) that a request (headers `request`)
/// selects: one hash over the request's normalized value of each field in `Vary`; `None`
/// when the response does not vary.
pub fn variance(stored: &HeaderMap, request: &HeaderMap) -> Option<HashBinary> {
    let names = vary_names(stored)?;
    let mut builder = VarianceBuilder::new();
    for name in names {
        // Absent and empty differ: an absent field is keyed with a value no field can have.
        let value = normalize_field(request, &name).map_or_else(|| b"\0absent".to_vec(), String::into_bytes);
        builder.add_owned_name_value(name.as_str().to_owned(), value);
    }
    builder.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora_cache::key::CacheHashKey;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        map
    }

    #[test]
    fn equivalent_urls_share_a_key_and_different_ones_do_not() {
        let same = [("/a%7e?x=%4a", "/a~?x=J"), ("/p", "/p")];
        for (a, b) in same {
            assert_eq!(primary("h:1", a).combined_bin(), primary("h:1", b).combined_bin(), "{a} {b}");
        }
        let different = [("/a?x=1", "/a?x=2"), ("/a", "/b"), ("/a", "/a?")];
        for (a, b) in different {
            assert_ne!(primary("h:1", a).combined_bin(), primary("h:1", b).combined_bin(), "{a} {b}");
        }
    }

    #[test]
    fn unkeyed_headers_do_not_reach_the_key_unless_host_is_preserved() {
        let req = headers(&[("host", "evil.example"), ("x-forwarded-host", "evil.example")]);
        assert_eq!(authority(&req, "origin:9000", false), "origin:9000");
        assert_eq!(authority(&req, "origin:9000", true), "evil.example");
    }

    #[test]
    fn variance_follows_vary_fields_only() {
        let stored = headers(&[("vary", "Accept-Encoding")]);
        let gzip = variance(&stored, &headers(&[("accept-encoding", "gzip")]));
        let gzip_again = variance(&stored, &headers(&[("accept-encoding", "gzip"), ("cookie", "a=1")]));
        let br = variance(&stored, &headers(&[("accept-encoding", "br")]));
        let none = variance(&stored, &headers(&[]));
        assert!(gzip.is_some());
        assert_eq!(gzip, gzip_again);
        assert_ne!(gzip, br);
        assert_ne!(gzip, none);
        assert_eq!(variance(&headers(&[]), &headers(&[("accept-encoding", "gzip")])), None);
    }
}
