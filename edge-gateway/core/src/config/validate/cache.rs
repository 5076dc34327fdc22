//! Validation of a route's `cache`, with JSON paths.

use std::time::Duration;

use http::HeaderName;

use super::Errors;
use crate::config::edge_cache::RouteCache;
use crate::config::raw::RawRouteCache;

const MAX_CACHE_SECONDS: u64 = 365 * 24 * 3600;

pub(super) fn check_route_cache(raw: &RawRouteCache, base: &str, errors: &mut Errors) -> RouteCache {
    let mut seconds = |value: Option<u64>, field: &str| {
        value.and_then(|s| {
            if s > MAX_CACHE_SECONDS {
                errors.push(format!("{base}.{field}"), format!("must be at most {MAX_CACHE_SECONDS}"));
                return None;
            }
            Some(Duration::from_secs(s))
        })
    };
    let ttl = seconds(raw.ttl_s, "ttl_s");
    let stale_while_revalidate = seconds(raw.stale_while_revalidate_s, "stale_while_revalidate_s");
    let stale_if_error = seconds(raw.stale_if_error_s, "stale_if_error_s");
    let mut key_headers = Vec::new();
    for (j, name) in raw.key_headers.iter().enumerate() {
        match HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()) {
            Ok(header) if !key_headers.contains(&header) => key_headers.push(header),
            Ok(_) => errors.push(format!("{base}.key_headers[{j}]"), format!("`{name}` listed twice")),
            Err(_) => {
                errors.push(format!("{base}.key_headers[{j}]"), format!("`{name}` is not a header name"))
            }
        }
    }
    let key_query = raw.key_query.as_ref().map(|params| {
        for (j, param) in params.iter().enumerate() {
            if param.is_empty() || param.contains(['&', '=', '#']) {
                errors.push(
                    format!("{base}.key_query[{j}]"),
                    "must be a parameter name without '&', '=' or '#'",
                );
            }
        }
        let mut sorted = params.clone();
        sorted.sort();
        sorted.dedup();
        sorted
    });
    RouteCache {
        bypass: raw.bypass,
        ttl,
        stale_while_revalidate,
        stale_if_error,
        key_headers,
        key_query,
        store_set_cookie: raw.store_set_cookie,
    }
}
