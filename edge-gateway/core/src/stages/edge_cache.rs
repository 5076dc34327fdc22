//! The edge-cache stage's pieces: whether a request may use the cache and under which key,
//! how an entry is stored and read back, and what `Cache-Status` says.
//!
//! The decisions are [`crate::cache`]'s (RFC 9111/5861/9211); this module adapts them to one
//! location's key-value-like cache ([`crate::ports::EdgeCache`]). An entry is the response as
//! the origin sent it plus one internal header, `x-edge-cache-meta`, holding when it was
//! requested and received, the request's values of the fields the response varies on, its
//! tags and its path (for purges); the header never reaches a client. A route's `ttl_s` and
//! default `stale-*` windows change only the headers the policy reads, never what clients see.

use std::borrow::Cow;
use std::rc::Rc;
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use http::header::{AGE, CACHE_CONTROL};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use serde::{Deserialize, Serialize};

use crate::body::Body;
use crate::cache::key::{normalize_field, vary_names};
use crate::cache::purge::{self, PurgeStamps};
use crate::cache::{
    CACHE_STATUS, CacheControl, CacheStatus, Forward, StoreOptions, StoredMeta, age_header, cache_key,
    cache_status, current_age, freshness_lifetime, invalidated_urls, storable,
};
use crate::config::Route;
use crate::config::edge_cache::RouteCache;
use crate::ports::{EdgeCache, KeyValue, Level, Log, Ports, UnixMillis};

/// This cache's name in `Cache-Status`.
pub const CACHE_NAME: &str = "edge-gateway";
/// The internal header carrying an entry's metadata.
const META: HeaderName = HeaderName::from_static("x-edge-cache-meta");
/// How long an entry with validators is kept past its freshness and stale windows, for
/// revalidation.
const KEEP_FOR_REVALIDATION: Duration = Duration::from_secs(60);

/// What the cache stage does for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Forward without looking; `Cache-Status` says why.
    Forward(Forward, Option<&'static str>),
    /// Look up `key`; `path` is the path and query purges match.
    Lookup {
        /// The cache key.
        key: String,
        /// Path and query as received.
        path: String,
    },
}

/// Whether and how `route` uses the cache for this request.
pub fn plan(route: &Route, head: &Parts, available: bool) -> Plan {
    let Some(cache) = &route.cache else { return Plan::Forward(Forward::Bypass, None) };
    if cache.bypass {
        return Plan::Forward(Forward::Bypass, Some("route-bypass"));
    }
    if !available {
        return Plan::Forward(Forward::Bypass, Some("no-edge-cache"));
    }
    if head.method != Method::GET {
        return Plan::Forward(Forward::Method, None);
    }
    let key = key_for(route.id.as_str(), cache, &head.uri, &head.headers);
    let path = head.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
    Plan::Lookup { key, path }
}

/// The key of a GET for `uri` through the route `route_id` with `cache`, for these request
/// headers: the normalized URL with only the keyed query parameters, the keyed headers, the route.
pub fn key_for(route_id: &str, cache: &RouteCache, uri: &http::Uri, headers: &HeaderMap) -> String {
    let query = uri.query().map(|q| keyed_query(q, cache.key_query.as_deref()));
    let mut keyed = http::Uri::builder().path_and_query(match &query {
        Some(q) if !q.is_empty() => format!("{}?{q}", uri.path()),
        _ => uri.path().to_owned(),
    });
    if let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) {
        keyed = keyed.scheme(scheme.clone()).authority(authority.clone());
    }
    let keyed = keyed.build().unwrap_or_else(|_| uri.clone());
    cache_key(&Method::GET, &keyed, headers, &cache.key_headers, &[route_id])
}

/// After a successful unsafe request through a cached route, evicts this location's entries
/// for the target and its same-origin `Location`/`Content-Location` under the same route
/// (RFC 9111 §4.4). Other locations keep theirs until they expire or are purged.
pub async fn invalidate<P: Ports>(
    ports: &P,
    route: &Route,
    head: &Parts,
    status: StatusCode,
    response_headers: &HeaderMap,
) {
    let Some(cache) = route.cache.as_ref().filter(|c| !c.bypass) else { return };
    if !ports.cache().available() {
        return;
    }
    for url in invalidated_urls(&head.method, &head.uri, &head.headers, status, response_headers) {
        let Ok(uri) = url.parse::<http::Uri>() else { continue };
        let _ = ports.cache().delete(&key_for(&route.id, cache, &uri, &head.headers)).await;
    }
}

/// The query as keyed: all of it, or only the listed parameters, sorted.
fn keyed_query(query: &str, keep: Option<&[String]>) -> String {
    let Some(keep) = keep else { return query.to_owned() };
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|pair| keep.iter().any(|k| pair.split('=').next() == Some(k.as_str())))
        .collect();
    pairs.sort_unstable();
    pairs.join("&")
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    req: UnixMillis,
    resp: UnixMillis,
    vary: Vec<(String, Option<String>)>,
    tags: Vec<String>,
    path: String,
}

/// A stored response read back.
pub struct Entry<S> {
    /// Status, headers (without the internal header) and times.
    pub stored: StoredMeta,
    vary: Vec<(String, Option<String>)>,
    tags: Vec<String>,
    path: String,
    /// The stored body.
    pub body: Body<S>,
}

impl<S> Entry<S> {
    /// Whether the request has the values the stored response varies on.
    pub fn vary_matches(&self, request: &HeaderMap) -> bool {
        self.vary.iter().all(|(name, value)| {
            HeaderName::from_bytes(name.as_bytes()).is_ok_and(|n| normalize_field(request, &n) == *value)
        })
    }

    /// Whether a purge since this entry was requested concerns it.
    pub fn purged(&self, stamps: &PurgeStamps) -> bool {
        stamps.purged(&self.path, &self.tags, self.stored.request_time)
    }

    /// The metadata the policy reads: the route's TTL and default stale windows applied.
    /// Borrowed when the route changes nothing (no copy on the hit path).
    pub fn policy_view(&self, cache: &RouteCache) -> Cow<'_, StoredMeta> {
        match policy_headers(&self.stored.headers, cache) {
            Cow::Borrowed(_) => Cow::Borrowed(&self.stored),
            Cow::Owned(headers) => Cow::Owned(StoredMeta {
                status: self.stored.status,
                headers,
                request_time: self.stored.request_time,
                response_time: self.stored.response_time,
            }),
        }
    }

    /// The response for a client: stored headers, `Age`, this cache's `Cache-Status`.
    pub fn respond(self, now: UnixMillis, status: &CacheStatus<'_>) -> Response<Body<S>> {
        let age = current_age(&self.stored, now);
        let mut response = Response::new(self.body);
        *response.status_mut() = self.stored.status;
        *response.headers_mut() = self.stored.headers;
        response.headers_mut().insert(AGE, age_header(age));
        response.headers_mut().append(CACHE_STATUS, cache_status(status));
        response
    }
}

/// Reads `key`; an unreadable or foreign entry is a miss.
pub async fn lookup<P: Ports>(ports: &P, key: &str) -> Option<Entry<P::Stream>> {
    let response = match ports.cache().get(key).await {
        Ok(response) => response?,
        Err(error) => {
            ports
                .log()
                .record(Level::Warn, &format!("edge cache: lookup failed, serving as a miss: {error}"));
            return None;
        }
    };
    let (mut parts, body) = response.into_parts();
    let meta = parts.headers.remove(META)?;
    let meta: Meta =
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(meta.to_str().ok()?).ok()?).ok()?;
    let stored = StoredMeta {
        status: parts.status,
        headers: parts.headers,
        request_time: meta.req,
        response_time: meta.resp,
    };
    Some(Entry { stored, vary: meta.vary, tags: meta.tags, path: meta.path, body })
}

/// The headers the policy reads: `ttl_s` replaces `max-age`/`s-maxage` (as `max-age`, so the
/// stale windows still apply); default `stale-while-revalidate`/`stale-if-error` are added
/// when the origin gave none.
pub fn policy_headers<'h>(headers: &'h HeaderMap, cache: &RouteCache) -> Cow<'h, HeaderMap> {
    if cache.ttl.is_none() && cache.stale_while_revalidate.is_none() && cache.stale_if_error.is_none() {
        return Cow::Borrowed(headers);
    }
    let given = CacheControl::from_headers(headers);
    let mut members: Vec<String> = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .flat_map(|line| {
            String::from_utf8_lossy(line.as_bytes())
                .split(',')
                .map(|m| m.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|m| !m.is_empty())
        .filter(|m| {
            let name = m.split('=').next().unwrap_or_default().trim().to_ascii_lowercase();
            cache.ttl.is_none() || (name != "max-age" && name != "s-maxage")
        })
        .collect();
    if let Some(ttl) = cache.ttl {
        members.push(format!("max-age={}", ttl.as_secs()));
    }
    if let (None, Some(swr)) = (given.stale_while_revalidate, cache.stale_while_revalidate) {
        members.push(format!("stale-while-revalidate={}", swr.as_secs()));
    }
    if let (None, Some(sie)) = (given.stale_if_error, cache.stale_if_error) {
        members.push(format!("stale-if-error={}", sie.as_secs()));
    }
    let mut view = headers.clone();
    match HeaderValue::from_str(&members.join(", ")) {
        Ok(value) => {
            view.insert(CACHE_CONTROL, value);
        }
        Err(_) => return Cow::Borrowed(headers),
    }
    Cow::Owned(view)
}

/// Stores a response from the origin when the policy allows, returning what the client gets
/// and whether it was stored (or why not).
#[allow(clippy::too_many_arguments)]
pub async fn store<P: Ports>(
    ports: &P,
    key: &str,
    path: &str,
    cache: &RouteCache,
    request: &HeaderMap,
    response: Response<Body<P::Stream>>,
    request_time: UnixMillis,
    response_time: UnixMillis,
) -> (Response<Body<P::Stream>>, Result<(), &'static str>) {
    let view = policy_headers(response.headers(), cache);
    let opts = StoreOptions { store_set_cookie: cache.store_set_cookie };
    if let Err(why) = storable(&Method::GET, request, response.status(), &view, opts) {
        return (response, Err(why.detail()));
    }
    if !ports.cache().keeps(response.status()) {
        return (response, Err("platform-refuses-status"));
    }
    let Some(names) = vary_names(response.headers()) else { return (response, Err("vary-star")) };
    let directives = CacheControl::from_headers(&view);
    let window = directives.stale_while_revalidate.max(directives.stale_if_error).unwrap_or(0);
    let mut keep = freshness_lifetime(&view, response.status(), response_time) + Duration::from_secs(window);
    let validators = response.headers().contains_key(http::header::ETAG)
        || response.headers().contains_key(http::header::LAST_MODIFIED);
    if keep.is_zero() && !validators {
        return (response, Err("no-freshness"));
    }
    if validators {
        // Kept past its stale windows so it can still be revalidated (a 304 instead of a body).
        keep += KEEP_FOR_REVALIDATION;
    }
    let meta = Meta {
        req: request_time,
        resp: response_time,
        vary: names.iter().map(|n| (n.as_str().to_owned(), normalize_field(request, n))).collect(),
        tags: purge::response_tags(response.headers()),
        path: path.to_owned(),
    };
    let encoded = Base64UrlUnpadded::encode_string(&serde_json::to_vec(&meta).unwrap_or_default());
    let (mut parts, body) = response.into_parts();
    parts.headers.insert(META, HeaderValue::from_str(&encoded).expect("base64url is a valid header value"));
    let mut stored = ports.cache().put(key, Response::from_parts(parts, body), keep).await;
    stored.headers_mut().remove(META);
    (stored, Ok(()))
}

/// Adds this cache's `Cache-Status` member to a response that did not come from the cache.
pub fn mark<S>(response: &mut Response<Body<S>>, status: &CacheStatus<'_>) {
    response.headers_mut().remove(META);
    response.headers_mut().append(CACHE_STATUS, cache_status(status));
}

/// A forward's `Cache-Status`: reason, the status the next hop answered, stored or why not.
pub fn forwarded<'a>(
    reason: Forward,
    fwd_status: StatusCode,
    stored: Result<(), &'a str>,
) -> CacheStatus<'a> {
    CacheStatus {
        fwd_status: Some(fwd_status),
        stored: stored.is_ok(),
        detail: stored.err(),
        ..CacheStatus::forward(CACHE_NAME, reason)
    }
}

/// The purge stamps of one instance, re-read from KV at most once per `ttl`.
#[derive(Debug, Default)]
pub struct Stamps {
    state: std::cell::RefCell<Option<(Rc<PurgeStamps>, UnixMillis)>>,
}

impl Stamps {
    /// The current stamps; a KV failure keeps the previous copy (or none).
    pub async fn current<P: Ports>(&self, ports: &P, now: UnixMillis, ttl: Duration) -> Rc<PurgeStamps> {
        if let Some((stamps, at)) = self.state.borrow().as_ref()
            && now.saturating_sub(*at) < ttl.as_millis() as u64
        {
            return stamps.clone();
        }
        let fresh = match ports.kv().get(purge::PURGE_KEY).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
            Ok(None) => Some(PurgeStamps::default()),
            Err(_) => None,
        };
        let mut state = self.state.borrow_mut();
        let stamps = match (fresh, state.take()) {
            (Some(fresh), _) => Rc::new(fresh),
            (None, Some((old, _))) => old,
            (None, None) => Rc::new(PurgeStamps::default()),
        };
        *state = Some((stamps.clone(), now));
        stamps
    }

    /// Forgets the copy, so the next lookup re-reads KV (after this instance purged).
    pub fn invalidate(&self) {
        self.state.borrow_mut().take();
    }
}
