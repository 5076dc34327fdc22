//! Which stored responses an unsafe request makes obsolete (RFC 9111 §4.4).
//!
//! Decides the normalized URLs (see [`super::key::normalize_url`]) whose stored responses, for
//! every method and variant, must be evicted after a successful unsafe request: the target
//! URI, and the `Location` and `Content-Location` URIs when they share its origin. It never
//! evicts anything itself.
//!
//! The same-origin rule is what keeps one origin from evicting another's entries (§4.4). Only
//! absolute URIs and absolute paths (`/x`) are resolved; relative paths (`x`, `../x`) are
//! skipped, which merely leaves an entry to expire on its own.

use http::header::{CONTENT_LOCATION, LOCATION};
use http::{HeaderMap, Method, StatusCode, Uri};

use super::key::normalize_url;

/// The normalized URLs to evict after `method` on `uri` answered `status` (RFC 9111 §4.4).
///
/// Empty for safe methods (`GET`, `HEAD`, `OPTIONS`, `TRACE`) and for statuses outside
/// 2xx-3xx ("non-error" responses).
pub fn invalidated_urls(
    method: &Method,
    uri: &Uri,
    request_headers: &HeaderMap,
    status: StatusCode,
    response_headers: &HeaderMap,
) -> Vec<String> {
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE);
    if safe || !(status.is_success() || status.is_redirection()) {
        return Vec::new();
    }
    let target = normalize_url(uri, request_headers);
    let origin = origin_of(&target).to_owned();
    let mut urls = vec![target];
    for name in [LOCATION, CONTENT_LOCATION] {
        let Some(reference) = response_headers.get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let Some(url) = resolve(&origin, reference.trim(), request_headers) else {
            continue;
        };
        if origin_of(&url) == origin && !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

/// `scheme://authority` of a normalized URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..].find('/').map_or(url, |i| &url[..after_scheme + i])
}

/// Resolves an absolute URI or an absolute path against `origin`, normalized.
fn resolve(origin: &str, reference: &str, request_headers: &HeaderMap) -> Option<String> {
    let absolute = if reference.starts_with('/') && !reference.starts_with("//") {
        format!("{origin}{reference}")
    } else {
        reference.to_owned()
    };
    let uri: Uri = absolute.parse().ok()?;
    uri.scheme()?;
    Some(normalize_url(&uri, request_headers))
}
