//! The core's ports over Workers facilities.
//!
//! KV is the `ROUTES` binding (routes, API keys, shared key sets); exact rate-limit counters are
//! the `RATE_LIMITER` Durable Objects ([`crate::limiter`]); outbound HTTP is the
//! runtime's `fetch`, raced against a timer and aborted when the response head is late. Workers' `fetch` has no separate connect
//! timeout, so the response timeout bounds the whole attempt.

use edge_gateway_core::Body;
use std::time::Duration;

use edge_gateway_core::ports::{
    BodyError, Clock, Entropy, Fetch as FetchPort, FetchError, Fetched, KeyValue, KvError, Level, Log,
    Metrics, Ports, Timeouts, UnixMillis, Upstream, UpstreamError,
};
use futures_util::future::{Either, select};
use std::rc::Rc;
use worker::wasm_bindgen::prelude::wasm_bindgen;

use worker::{Context, Delay, Env, web_sys};

use crate::analytics::Analytics;
use crate::cache::DefaultCache;
use crate::convert;
use crate::headers::to_header_map;
use crate::limiter::WorkersCounters;
use crate::webcrypto::WebCryptoVerifier;

/// The KV namespace binding that holds the routes.
pub(crate) const ROUTES_BINDING: &str = "ROUTES";
/// The Workers secret that enables the purge endpoint (`wrangler secret put PURGE_SECRET`).
pub(crate) const PURGE_SECRET: &str = "PURGE_SECRET";
/// The Workers secret that enables the admin API and status page (`wrangler secret put
/// ADMIN_SECRET`).
pub(crate) const ADMIN_SECRET: &str = "ADMIN_SECRET";
/// The shields' purge secret (`SHIELD_PURGE_SECRET` on each shield), forwarded on purges.
pub(crate) const SHIELD_PURGE_SECRET: &str = "SHIELD_PURGE_SECRET";

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

/// All ports of one request.
pub(crate) struct WorkersPorts {
    kv: RoutesKv,
    upstream: Fetch,
    documents: Documents,
    cache: DefaultCache,
    counters: WorkersCounters,
    clock: JsClock,
    entropy: WebCrypto,
    log: Console,
    analytics: Option<Analytics>,
}

impl WorkersPorts {
    pub(crate) fn new(env: Env, ctx: Rc<Context>) -> WorkersPorts {
        WorkersPorts {
            analytics: Analytics::from_env(&env),
            counters: WorkersCounters::new(env.clone()),
            kv: RoutesKv(env),
            upstream: Fetch,
            documents: Documents,
            cache: DefaultCache::new(ctx),
            clock: JsClock,
            entropy: WebCrypto,
            log: Console,
        }
    }
}

impl Ports for WorkersPorts {
    type Stream = web_sys::ReadableStream;
    type Kv = RoutesKv;
    type Upstream = Fetch;
    type Fetch = Documents;
    type Crypto = WebCryptoVerifier;
    type Cache = DefaultCache;
    type Counters = WorkersCounters;
    type Clock = JsClock;
    type Entropy = WebCrypto;
    type Log = Console;

    fn kv(&self) -> &RoutesKv {
        &self.kv
    }
    fn upstream(&self) -> &Fetch {
        &self.upstream
    }
    fn fetch(&self) -> &Documents {
        &self.documents
    }
    fn crypto(&self) -> &WebCryptoVerifier {
        &WebCryptoVerifier
    }
    fn counters(&self) -> &WorkersCounters {
        &self.counters
    }
    fn cache(&self) -> &DefaultCache {
        &self.cache
    }
    // Read only when a request is for the purge endpoint, never on the request path.
    fn purge_secret(&self) -> Option<String> {
        self.kv.secret(PURGE_SECRET)
    }
    fn shield_purge_secret(&self) -> Option<String> {
        self.kv.secret(SHIELD_PURGE_SECRET)
    }
    // Read only when a request is for an admin path.
    fn admin_secret(&self) -> Option<String> {
        self.kv.secret(ADMIN_SECRET)
    }
    // Present only with the optional `ANALYTICS` dataset binding.
    fn metrics(&self) -> Option<&dyn Metrics> {
        self.analytics.as_ref().map(|a| a as &dyn Metrics)
    }
    fn clock(&self) -> &JsClock {
        &self.clock
    }
    fn entropy(&self) -> &WebCrypto {
        &self.entropy
    }
    fn log(&self) -> &Console {
        &self.log
    }
}

/// The `ROUTES` KV namespace, and the environment it comes from.
pub(crate) struct RoutesKv(Env);

impl RoutesKv {
    /// A Workers secret (or plain text binding) of the environment.
    fn secret(&self, name: &str) -> Option<String> {
        self.0.secret(name).ok().map(|s| s.to_string())
    }
}

impl KeyValue for RoutesKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let store =
            self.0.kv(ROUTES_BINDING).map_err(|e| KvError(format!("binding {ROUTES_BINDING}: {e}")))?;
        store.get(key).bytes().await.map_err(|e| KvError(e.to_string()))
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        let store =
            self.0.kv(ROUTES_BINDING).map_err(|e| KvError(format!("binding {ROUTES_BINDING}: {e}")))?;
        let mut put = store.put_bytes(key, value).map_err(|e| KvError(e.to_string()))?;
        if let Some(ttl) = ttl {
            // Workers KV refuses expirations under 60 s.
            put = put.expiration_ttl(ttl.as_secs().max(60));
        }
        put.execute().await.map_err(|e| KvError(e.to_string()))
    }
}

/// Small documents (key sets) with the runtime's `fetch`, raced against a timer.
pub(crate) struct Documents;

impl FetchPort for Documents {
    async fn get(&self, url: &str, timeout: Duration, limit: usize) -> Result<Fetched, FetchError> {
        let url = url.parse().map_err(|e| FetchError(format!("bad URL: {e}")))?;
        let pending = async move {
            let mut response = worker::Fetch::Url(url).send().await.map_err(|e| FetchError(e.to_string()))?;
            let headers = to_header_map(&response.headers().0);
            let declared = headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
            if declared.is_some_and(|len| len > limit) {
                return Err(FetchError(format!("body exceeds {limit} bytes")));
            }
            let body = response.bytes().await.map_err(|e| FetchError(e.to_string()))?;
            if body.len() > limit {
                return Err(FetchError(format!("body exceeds {limit} bytes")));
            }
            let status = http::StatusCode::from_u16(response.status_code())
                .map_err(|_| FetchError("invalid status".into()))?;
            Ok(Fetched { status, headers, body: body.into() })
        };
        match select(Box::pin(pending), Delay::from(timeout)).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(((), _)) => Err(FetchError(format!("timed out after {timeout:?}"))),
        }
    }
}

/// The runtime's `fetch`.
pub(crate) struct Fetch;

impl Upstream for Fetch {
    type Stream = web_sys::ReadableStream;

    async fn send(
        &self,
        request: http::Request<Body<web_sys::ReadableStream>>,
        timeouts: Timeouts,
    ) -> Result<http::Response<Body<web_sys::ReadableStream>>, UpstreamError> {
        let controller = web_sys::AbortController::new()
            .map_err(|e| UpstreamError::Protocol(format!("no AbortController: {e:?}")))?;
        let request = convert::to_fetch_request(request, &controller.signal())
            .map_err(|e| UpstreamError::Protocol(format!("cannot build request: {e:?}")))?;
        let fetch = worker::Fetch::Request(worker::Request::from(request));
        let pending = fetch.send();
        let timer = Delay::from(timeouts.response);
        match select(Box::pin(pending), timer).await {
            Either::Left((Ok(response), _)) => {
                // Before the conversion: it rebuilds the response, which panics on a 1xx.
                convert::refuse_interim(response.status_code()).map_err(UpstreamError::Protocol)?;
                let response: web_sys::Response = response.into();
                convert::from_fetch_response(&response).map_err(UpstreamError::Protocol)
            }
            Either::Left((Err(error), _)) => Err(classify(&error.to_string())),
            Either::Right(((), _)) => {
                controller.abort();
                Err(UpstreamError::Timeout(timeouts.response))
            }
        }
    }

    async fn limit_body(
        &self,
        stream: web_sys::ReadableStream,
        limit: u64,
    ) -> Result<Body<web_sys::ReadableStream>, BodyError> {
        read_capped(stream, limit).await
    }
}

/// Reads a client body chunk by chunk with the stream's own reader, cancelling it as soon as
/// more than `limit` bytes have arrived.
async fn read_capped(
    stream: web_sys::ReadableStream,
    limit: u64,
) -> Result<Body<web_sys::ReadableStream>, BodyError> {
    use worker::js_sys::{Reflect, Uint8Array};
    use worker::wasm_bindgen::{JsCast, JsValue};
    use worker::wasm_bindgen_futures::JsFuture;
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let failed = |e: JsValue| BodyError::Read(format!("{e:?}"));
    let mut body: Vec<u8> = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(failed)?;
        let done = Reflect::get(&chunk, &JsValue::from_str("done")).map_err(failed)?;
        if done.as_bool().unwrap_or(true) {
            return Ok(Body::Bytes(body.into()));
        }
        let value: Uint8Array =
            Reflect::get(&chunk, &JsValue::from_str("value")).map_err(failed)?.unchecked_into();
        let read = body.len() as u64 + u64::from(value.length());
        if read > limit {
            let _cancelled = reader.cancel();
            return Err(BodyError::TooLarge { read, limit });
        }
        body.extend_from_slice(&value.to_vec());
    }
}

/// Sorts a `fetch` rejection: only a refused or unresolvable connection proves nothing was
/// sent. workerd's "Network connection lost" can also mean a connection that broke after the
/// request went out, so it is a protocol error: not replayed for non-idempotent methods.
fn classify(message: &str) -> UpstreamError {
    let lower = message.to_ascii_lowercase();
    let connect = ["connection refused", "econnrefused", "dns", "resolve", "unreachable", "no such host"];
    if connect.iter().any(|needle| lower.contains(needle)) {
        UpstreamError::Connect(message.to_owned())
    } else {
        UpstreamError::Protocol(message.to_owned())
    }
}

/// `Date.now()`.
pub(crate) struct JsClock;

impl Clock for JsClock {
    fn now(&self) -> UnixMillis {
        worker::js_sys::Date::now() as UnixMillis
    }
}

/// `crypto.getRandomValues`.
pub(crate) struct WebCrypto;

impl Entropy for WebCrypto {
    fn fill(&self, buf: &mut [u8]) {
        get_random_values(buf);
    }
}

/// `console.log` / `console.warn` / `console.error`.
pub(crate) struct Console;

impl Log for Console {
    fn log(&self, level: Level, message: &str) {
        match level {
            Level::Info => worker::console_log!("{message}"),
            Level::Warn => worker::console_warn!("{message}"),
            Level::Error => worker::console_error!("{message}"),
        }
    }
}
