//! A route's validated edge-cache settings: [`RouteCache`].
//!
//! Produced by the validation pass from a route's `cache`; the cache stage
//! ([`crate::stages::edge_cache`]) reads them. Nothing here decides about a response.

use std::time::Duration;

use http::HeaderName;

/// How a route uses the edge cache.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteCache {
    /// Forward every request without looking in the cache.
    pub bypass: bool,
    /// Freshness lifetime replacing the origin's.
    pub ttl: Option<Duration>,
    /// Default `stale-while-revalidate`.
    pub stale_while_revalidate: Option<Duration>,
    /// Default `stale-if-error`.
    pub stale_if_error: Option<Duration>,
    /// Request headers in the key.
    pub key_headers: Vec<HeaderName>,
    /// Query parameters in the key (sorted); `None` keeps the whole query.
    pub key_query: Option<Vec<String>>,
    /// Store responses with `Set-Cookie`.
    pub store_set_cookie: bool,
}
