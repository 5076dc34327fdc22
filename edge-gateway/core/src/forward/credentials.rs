//! What the origin learns about the caller: identity headers in, credentials out.
//!
//! On every route, client-sent copies of the identity headers are removed, so an origin can
//! trust them. On an authenticated route, the gateway then sets them from the verified
//! identity, removes `Authorization` unless the route forwards it, and removes the API key
//! (header and query parameter) so the plain key never leaves the edge. Pure header editing.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::auth::identity::{self, Identity};
use crate::config::auth::{AuthSettings, RouteAuth};

/// Edits the upstream `headers` for `identity` and returns the query to forward.
pub fn apply(
    headers: &mut HeaderMap,
    query: Option<&str>,
    settings: &AuthSettings,
    route: Option<&RouteAuth>,
    identity: &Identity,
) -> Option<String> {
    for name in settings.identity_headers.all() {
        headers.remove(name);
    }
    let Some(route) = route else { return query.map(str::to_owned) };
    if !route.forward_authorization {
        headers.remove(AUTHORIZATION);
    }
    let mut query = query.map(str::to_owned);
    if route.api_key {
        headers.remove(&settings.api_keys.header);
        if let (Some(param), Some(q)) = (&settings.api_keys.query, &query) {
            query = identity::without_param(q, param);
        }
    }
    for (name, value) in identity.headers(&settings.identity_headers) {
        headers.insert(name, value);
    }
    query
}
