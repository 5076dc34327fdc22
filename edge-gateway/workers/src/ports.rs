//! The core's ports over Workers facilities.
//!
//! KV is the `ROUTES` binding; outbound HTTP is the runtime's `fetch`, raced against a timer
//! and aborted when the response head is late. Workers' `fetch` has no separate connect
//! timeout, so the response timeout bounds the whole attempt.

use edge_gateway_core::Body;
use edge_gateway_core::ports::{
    Clock, Entropy, KeyValue, KvError, Level, Log, Ports, Timeouts, UnixMillis, Upstream, UpstreamError,
};
use futures_util::future::{Either, select};
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::{Delay, Env, web_sys};

use crate::convert;

/// The KV namespace binding that holds the routes.
pub(crate) const ROUTES_BINDING: &str = "ROUTES";

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

/// All ports of one request.
pub(crate) struct WorkersPorts {
    kv: RoutesKv,
    upstream: Fetch,
    clock: JsClock,
    entropy: WebCrypto,
    log: Console,
}

impl WorkersPorts {
    pub(crate) fn new(env: Env) -> WorkersPorts {
        WorkersPorts { kv: RoutesKv(env), upstream: Fetch, clock: JsClock, entropy: WebCrypto, log: Console }
    }
}

impl Ports for WorkersPorts {
    type Stream = web_sys::ReadableStream;
    type Kv = RoutesKv;
    type Upstream = Fetch;
    type Clock = JsClock;
    type Entropy = WebCrypto;
    type Log = Console;

    fn kv(&self) -> &RoutesKv {
        &self.kv
    }
    fn upstream(&self) -> &Fetch {
        &self.upstream
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

/// The `ROUTES` KV namespace.
pub(crate) struct RoutesKv(Env);

impl KeyValue for RoutesKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let store =
            self.0.kv(ROUTES_BINDING).map_err(|e| KvError(format!("binding {ROUTES_BINDING}: {e}")))?;
        store.get(key).bytes().await.map_err(|e| KvError(e.to_string()))
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
                let response: web_sys::Response = response.into();
                convert::from_fetch_response(&response).map_err(|e| UpstreamError::Protocol(e.to_string()))
            }
            Either::Left((Err(error), _)) => Err(classify(&error.to_string())),
            Either::Right(((), _)) => {
                controller.abort();
                Err(UpstreamError::Timeout(timeouts.response))
            }
        }
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
