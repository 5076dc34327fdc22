//! Which stored URLs a successful unsafe request makes obsolete (RFC 9111 §4.4), in the
//! shield's key form.
//!
//! The core's [`invalidated_urls`] decides the rule (non-safe method, 2xx/3xx status, the
//! target URI plus `Location` / `Content-Location` when they share its origin); this module
//! feeds it the request as the origin sees it (the authority the key uses) and puts each URL
//! in the shield's key form ([`super::key::url`]), so that the store can drop every entry of
//! those URLs, in every scope and variant. Pure: it names URLs and removes nothing.

use edge_gateway_core::cache::invalidated_urls;
use http::{HeaderMap, Method, StatusCode, Uri};

use super::key;
use super::selector::path_of;

/// The URLs (as [`key::url`] makes them) to invalidate after `method` on `path_and_query`
/// (keyed under `authority`) answered `status` with `response_headers`; empty for safe
/// methods and error statuses.
pub fn urls(
    method: &Method,
    authority: &str,
    path_and_query: &str,
    status: StatusCode,
    response_headers: &HeaderMap,
) -> Vec<String> {
    if method.is_safe() || !(status.is_success() || status.is_redirection()) {
        return Vec::new();
    }
    let target = key::url(authority, path_and_query);
    let Ok(uri) = target.parse::<Uri>() else { return vec![target] };
    let mut urls: Vec<String> = invalidated_urls(method, &uri, &HeaderMap::new(), status, response_headers)
        .iter()
        .map(|url| key::url(authority, path_of(url)))
        .collect();
    if !urls.contains(&target) {
        urls.insert(0, target);
    }
    urls.dedup();
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap())).collect()
    }

    #[test]
    fn invalidation_table() {
        let created = headers(&[("location", "/items/7"), ("content-location", "http://o:9/items/7?v=1")]);
        let elsewhere = headers(&[("location", "http://other/items/7")]);
        let rows: &[(Method, u16, &HeaderMap, &[&str])] = &[
            (
                Method::POST,
                201,
                &created,
                &["http://o:9/items", "http://o:9/items/7", "http://o:9/items/7?v=1"],
            ),
            (Method::PUT, 204, &elsewhere, &["http://o:9/items"]),
            (Method::DELETE, 303, &HeaderMap::new(), &["http://o:9/items"]),
            (Method::PATCH, 200, &HeaderMap::new(), &["http://o:9/items"]),
            (Method::from_bytes(b"PURGEX").unwrap(), 200, &HeaderMap::new(), &["http://o:9/items"]),
            (Method::POST, 500, &created, &[]),
            (Method::POST, 404, &created, &[]),
            (Method::GET, 200, &created, &[]),
            (Method::OPTIONS, 200, &created, &[]),
        ];
        for (method, status, response, expected) in rows {
            let status = StatusCode::from_u16(*status).unwrap();
            assert_eq!(urls(method, "o:9", "/items", status, response), *expected, "{method} {status}");
        }
        // The shield's key form: the same normalization as the key itself.
        let got = urls(&Method::POST, "o:9", "//a//%7e?x=%4a", StatusCode::OK, &HeaderMap::new());
        assert_eq!(got, [key::url("o:9", "/a/~?x=J")]);
    }
}
