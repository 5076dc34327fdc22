//! The edge cache on Workers: `caches.default`, one location's cache.
//!
//! The Cache API applies its own rules on `put` (it reads `Cache-Control`, `Expires`, refuses
//! `Set-Cookie`, and may match on `Vary`), while the core decides freshness itself from the
//! origin's headers (RFC 9111, with stale-while-revalidate and stale-if-error, which the Cache API
//! does not support). So an entry is put with those fields moved into one internal header and
//! `Cache-Control: max-age=<keep>` in their place — the Cache API then only bounds how long the
//! entry exists — and they are moved back on `get`. Keys are `https://<host>/__edge_cache/<sha256
//! of the core's key>`. The body is teed: the client reads one branch, `put` the other, inside
//! `waitUntil`, so storing never delays the response.

use std::rc::Rc;
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use edge_gateway_core::Body;
use edge_gateway_core::cache::key::digest;
use edge_gateway_core::ports::{CacheError, EdgeCache};
use http::{HeaderMap, HeaderName, HeaderValue};
use worker::{Context, web_sys};

use crate::convert;

type Stream = web_sys::ReadableStream;

/// Fields the Cache API would act on or rewrite (it sets `Date` and `Age` to its own clock on
/// `put`, which would lose the origin's `Date` and the age the entry arrived with), kept aside
/// while an entry is stored.
const STASHED: [HeaderName; 6] = [
    http::header::CACHE_CONTROL,
    http::header::SET_COOKIE,
    http::header::VARY,
    http::header::EXPIRES,
    http::header::DATE,
    http::header::AGE,
];
const STASH: HeaderName = HeaderName::from_static("x-edge-cache-stash");
/// Statuses `put` keeps locally (see [`DefaultCache::keeps`]).
const KEPT_STATUSES: [u16; 13] = [200, 203, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501];

/// `caches.default`, with the request's `waitUntil` for background stores.
pub(crate) struct DefaultCache {
    ctx: Rc<Context>,
}

impl DefaultCache {
    pub(crate) fn new(ctx: Rc<Context>) -> DefaultCache {
        DefaultCache { ctx }
    }
}

/// The Cache API key for a core key (whose first line is `GET <absolute URL>`).
fn key_url(key: &str) -> String {
    let host = key
        .lines()
        .next()
        .and_then(|line| line.split_once("://"))
        .and_then(|(_, rest)| rest.split('/').next())
        .filter(|host| !host.is_empty())
        .unwrap_or("edge-cache.invalid");
    format!("https://{host}/__edge_cache/{}", digest(key))
}

/// Moves the stashed fields into [`STASH`] and sets the storage lifetime.
fn for_storage(headers: &HeaderMap, keep: Duration) -> HeaderMap {
    let mut stored = headers.clone();
    let mut stash: Vec<(String, String)> = Vec::new();
    for name in &STASHED {
        for value in stored.get_all(name) {
            stash.push((name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()));
        }
        stored.remove(name);
    }
    let encoded = Base64UrlUnpadded::encode_string(&serde_json::to_vec(&stash).unwrap_or_default());
    stored.insert(STASH, HeaderValue::from_str(&encoded).expect("base64url is a valid header value"));
    let max_age =
        HeaderValue::from_str(&format!("public, max-age={}", keep.as_secs().max(1))).expect("ascii");
    stored.insert(http::header::CACHE_CONTROL, max_age);
    stored
}

/// Undoes [`for_storage`] on an entry read back.
fn from_storage(headers: &mut HeaderMap) {
    let Some(stash) = headers.remove(STASH) else { return };
    for name in &STASHED {
        headers.remove(name);
    }
    headers.remove("cf-cache-status");
    let decoded = Base64UrlUnpadded::decode_vec(stash.to_str().unwrap_or_default()).unwrap_or_default();
    let fields: Vec<(String, String)> = serde_json::from_slice(&decoded).unwrap_or_default();
    for (name, value) in fields {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value))
        {
            headers.append(name, value);
        }
    }
}

impl EdgeCache for DefaultCache {
    type Stream = Stream;

    fn available(&self) -> bool {
        true
    }

    async fn get(&self, key: &str) -> Result<Option<http::Response<Body<Stream>>>, CacheError> {
        let cache = worker::Cache::default();
        let Some(found) = cache.get(key_url(key), true).await.map_err(|e| CacheError(e.to_string()))? else {
            return Ok(None);
        };
        let found: web_sys::Response = found.into();
        let mut response = convert::from_fetch_response(&found).map_err(|e| CacheError(e.to_string()))?;
        if !response.headers().contains_key(STASH) {
            return Ok(None); // not written by this gateway
        }
        from_storage(response.headers_mut());
        Ok(Some(response))
    }

    async fn put(
        &self,
        key: &str,
        response: http::Response<Body<Stream>>,
        keep: Duration,
    ) -> http::Response<Body<Stream>> {
        let status = response.status();
        let stored_headers = for_storage(response.headers(), keep);
        let client = match convert::outgoing(response) {
            Ok(client) => client,
            Err(error) => {
                worker::console_warn!("edge cache: cannot store {key:?}: {error}");
                return convert::bad_request("unrepresentable response");
            }
        };
        if let Ok(copy) = client.clone() {
            let mut stored = http::Response::new(copy.body().map_or(Body::Empty, Body::Stream));
            *stored.status_mut() = status;
            *stored.headers_mut() = stored_headers;
            if let Ok(stored) = convert::outgoing(stored) {
                let url = key_url(key);
                self.ctx.wait_until(async move {
                    if let Err(error) =
                        worker::Cache::default().put(url.as_str(), worker::Response::from(stored)).await
                    {
                        worker::console_warn!("edge cache: put failed: {error}");
                    }
                });
            }
        }
        convert::from_fetch_response(&client).unwrap_or_else(|_| convert::bad_request("unreadable response"))
    }

    /// The statuses the Cache API keeps locally: Miniflare's cache applies the understood
    /// statuses of RFC 9111 as `http-cache-semantics` lists them, and drops a 204 (no body)
    /// too; `put` drops any other silently. The README's caching section records this and
    /// Cloudflare's production rules.
    fn keeps(&self, status: http::StatusCode) -> bool {
        KEPT_STATUSES.contains(&status.as_u16())
    }

    /// `cache.match` with `Range: bytes=first-last`, which the Cache API answers with 206 and
    /// the sliced body; anything else (the entry went away, a 200) is `None`.
    async fn get_range(&self, key: &str, first: u64, last: u64) -> Result<Option<Body<Stream>>, CacheError> {
        let error = |e: worker::Error| CacheError(e.to_string());
        let headers = worker::Headers::new();
        headers.set("range", &format!("bytes={first}-{last}")).map_err(error)?;
        let request =
            worker::Request::new_with_init(&key_url(key), worker::RequestInit::new().with_headers(headers))
                .map_err(error)?;
        let Some(found) = worker::Cache::default().get(&request, true).await.map_err(error)? else {
            return Ok(None);
        };
        let expected = format!("bytes {first}-{last}/");
        let range = found.headers().get("content-range").map_err(error)?;
        if found.status_code() != 206 || !range.is_some_and(|r| r.starts_with(&expected)) {
            return Ok(None);
        }
        let found: web_sys::Response = found.into();
        Ok(Some(found.body().map_or(Body::Empty, Body::Stream)))
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let outcome = worker::Cache::default()
            .delete(key_url(key), true)
            .await
            .map_err(|e| CacheError(e.to_string()))?;
        Ok(matches!(outcome, worker::CacheDeletionOutcome::Success))
    }
}
