//! What the origin learns about the caller: identity headers in, credentials out.
//!
//! On every route, client-sent copies of the identity headers are removed in every spelling
//! (`x_auth_subject` too: CGI-style stacks read it as `X-Auth-Subject`), and so is the API key
//! (header in every spelling, and query parameter), so the plain key never leaves the edge and
//! an origin can trust the identity headers. On an authenticated route, the gateway then sets
//! them from the verified identity and removes `Authorization` unless the route forwards it.
//! Pure header editing.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::auth::identity::{self, Identity};
use crate::config::auth::{AuthSettings, RouteAuth};
use crate::forward::{canonical, strip_spellings};

/// Edits the upstream `headers` for `identity` and returns the query to forward.
pub fn apply(
    headers: &mut HeaderMap,
    query: Option<&str>,
    settings: &AuthSettings,
    route: Option<&RouteAuth>,
    identity: &Identity,
) -> Option<String> {
    let identity_names = settings.identity_headers.all().map(|name| canonical(name.as_str()));
    let key_header = canonical(settings.api_keys.header.as_str());
    strip_spellings(headers, |name| name == key_header || identity_names.contains(&name.into()));
    let query = match (&settings.api_keys.query, query) {
        (Some(param), Some(q)) => identity::without_param(q, param),
        (_, query) => query.map(str::to_owned),
    };
    let Some(route) = route else { return query };
    if !route.forward_authorization {
        headers.remove(AUTHORIZATION);
    }
    for (name, value) in identity.headers(&settings.identity_headers) {
        headers.insert(name, value);
    }
    query
}
