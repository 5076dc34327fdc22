//! Under which key a request is cached, and which request fields select a variant.
//!
//! The primary key is the core's normalized URL ([`normalize_url`]) of the request as the
//! origin sees it: scheme `http`, the origin's authority (or the client's `Host` when the
//! shield preserves it, since only then can the origin's answer depend on it), the
//! percent-normalized path and query. Nothing else the client sends is keyed, so unkeyed
//! headers such as `X-Forwarded-Host` cannot change a stored body; fields named in the stored
//! response's `Vary` select a variant ([`variance`]). `GET` and `HEAD` share entries (Pingora
//! fetches `HEAD` misses as `GET`). Pure.

use std::borrow::Cow;

use edge_gateway_core::cache::key::{normalize_field, normalize_url, vary_names};
use edge_gateway_core::forward::CACHE_SCOPE;
use edge_gateway_core::normalize;
use http::header::HOST;
use http::{HeaderMap, HeaderValue, Uri};
use pingora_cache::key::{CacheHashKey, HashBinary};
use pingora_cache::{CacheKey, VarianceBuilder};

/// Separates the URL from the gateway's scope in a primary key: `#` never appears in a
/// normalized URL, so [`url_of`] recovers the URL (purge selects entries by it) unambiguously.
const SCOPE_MARK: char = '#';

/// What the gateway said about a request ([`CACHE_SCOPE`]): the route it matched and whether
/// it was authenticated. Requests without it (health checks, direct calls) have none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The value as sent, keyed verbatim.
    pub value: String,
    /// Whether the request was authenticated at the edge.
    pub authenticated: bool,
}

/// The scope of a request, when the gateway set a well-formed one.
pub fn scope(request_headers: &HeaderMap) -> Option<Scope> {
    let value = request_headers.get(CACHE_SCOPE)?.to_str().ok()?;
    let (route, auth) = value.split_once("; ")?;
    let route = route.strip_prefix("route=")?;
    let authenticated = match auth {
        "auth=1" => true,
        "auth=0" => false,
        _ => return None,
    };
    let well_formed =
        !route.is_empty() && route.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    well_formed.then(|| Scope { value: value.to_owned(), authenticated })
}

/// The cache key for a request to `path_and_query`, addressed to `authority`, in `scope`.
///
/// The path is first put in the gateway's normal form ([`normalize::path`]), so the shield and
/// the gateway agree on which resource a request names; the scope keeps one route's (and one
/// authentication state's) answers from being served to another.
///
/// The key's hash is computed once here and kept in the key (Pingora asks for it several
/// times per request: lookup, cache lock, eviction).
pub fn primary(authority: &str, path_and_query: &str, scope: Option<&Scope>) -> CacheKey {
    let mut key = url(authority, path_and_query);
    if let Some(scope) = scope {
        key.reserve(1 + scope.value.len());
        key.push(SCOPE_MARK);
        key.push_str(&scope.value);
    }
    let mut key = CacheKey::new(key, "");
    let hash = key.primary_bin();
    key.set_primary_bin_override(hash);
    key
}

/// The normalized URL part of a primary key ([`primary`]): what purge and invalidation name
/// entries by, whatever their scope.
///
/// Most requests need no work beyond the gateway's path normalization: an authority already in
/// normal form and no percent-encoding or fragment mean [`normalize_url`] would return its
/// input, so the URL is assembled in one allocation; anything else takes the full route.
pub fn url(authority: &str, path_and_query: &str) -> String {
    let (path, query) = path_and_query.split_once('?').map_or((path_and_query, None), |(p, q)| (p, Some(q)));
    let path = normalize::path(path).unwrap_or(Cow::Borrowed(path));
    let plain = |part: &str| !part.bytes().any(|b| b == b'%' || b == b'#');
    if plain_authority(authority) && path.starts_with('/') && plain(&path) && query.is_none_or(plain) {
        let query_len = query.map_or(0, |q| q.len() + 1);
        let mut url = String::with_capacity(7 + authority.len() + path.len() + query_len + 40);
        url.push_str("http://");
        url.push_str(authority);
        url.push_str(&path);
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        return url;
    }
    normalized_url(authority, &path, query)
}

/// An authority [`normalize_url`] leaves as it is: lower-case host of letters, digits, `.` and
/// `-` (no trailing dot), an optional non-default port, no user-info.
fn plain_authority(authority: &str) -> bool {
    let (host, port) = authority.split_once(':').map_or((authority, None), |(h, p)| (h, Some(p)));
    let host_ok = !host.is_empty()
        && !host.ends_with('.')
        && host.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| !p.is_empty() && p != "80" && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// The full route of [`url`]: through [`Uri`] and the core's [`normalize_url`].
fn normalized_url(authority: &str, path: &str, query: Option<&str>) -> String {
    let url = match query {
        Some(query) => format!("http://{authority}{path}?{query}"),
        None => format!("http://{authority}{path}"),
    };
    match url.parse::<Uri>() {
        Ok(uri) => normalize_url(&uri, &HeaderMap::new()),
        Err(_) => url,
    }
}

/// The URL part of a primary key made by [`primary`].
pub fn url_of(primary: &str) -> &str {
    primary.split_once(SCOPE_MARK).map_or(primary, |(url, _)| url)
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
        let same = [("/a%7e?x=%4a", "/a~?x=J"), ("/p", "/p"), ("/%61dmin/x", "/admin/x"), ("//a//b", "/a/b")];
        for (a, b) in same {
            assert_eq!(
                primary("h:1", a, None).combined_bin(),
                primary("h:1", b, None).combined_bin(),
                "{a} {b}"
            );
        }
        let different = [("/a?x=1", "/a?x=2"), ("/a", "/b"), ("/a", "/a?")];
        for (a, b) in different {
            assert_ne!(
                primary("h:1", a, None).combined_bin(),
                primary("h:1", b, None).combined_bin(),
                "{a} {b}"
            );
        }
    }

    /// Regression (issue 9, finding 2): one route's or one identity's answer is never another's.
    #[test]
    fn the_gateways_scope_separates_routes_and_authentication() {
        let scoped = |value: &str| scope(&headers(&[("x-edge-cache-scope", value)]));
        let admin = scoped("route=admin; auth=1").expect("well-formed");
        assert!(admin.authenticated);
        let open = scoped("route=open; auth=0").expect("well-formed");
        let keys = [
            primary("h:1", "/admin/x", None),
            primary("h:1", "/admin/x", Some(&admin)),
            primary("h:1", "/admin/x", Some(&open)),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a.combined_bin(), b.combined_bin());
            }
        }
        assert_eq!(url_of(keys[1].primary_key_str().unwrap()), "http://h:1/admin/x");
        for bad in ["route=; auth=1", "route=a b; auth=1", "route=a; auth=2", "admin", "route=a#b; auth=0"] {
            assert_eq!(scoped(bad), None, "{bad}");
        }
    }

    /// The one-allocation route of `url` gives exactly what the full route gives.
    #[test]
    fn url_fast_and_full_routes_agree() {
        let authorities = ["origin:9000", "h", "Origin:9000", "h:80", "h.:1", "a@h:1", "h:", "127.0.0.1:9"];
        let targets = [
            "/",
            "/a/b?x=1&y=2",
            "/a%7e?x=%4a",
            "//a//b",
            "/a?b?c",
            "/a#frag",
            "/a?x#f",
            "/%61dmin/x",
            "/a b",
            "/a/./b/../c",
            "/ü",
            "/a?",
        ];
        for authority in authorities {
            for target in targets {
                let (path, query) = target.split_once('?').map_or((target, None), |(p, q)| (p, Some(q)));
                let path = normalize::path(path).unwrap_or(Cow::Borrowed(path));
                assert_eq!(
                    url(authority, target),
                    normalized_url(authority, &path, query),
                    "{authority} {target}"
                );
            }
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
