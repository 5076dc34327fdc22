//! The ports: one narrow trait per I/O seam.
//!
//! The core decides; adapters act. Each trait here is implemented once per platform (Workers,
//! Spin) and once in memory (`crate::testing`). None of them is `Send`: both edge runtimes run
//! one request per single-threaded isolate or instance.
#![allow(async_fn_in_trait)] // single-threaded wasm: no `Send` bound wanted on these futures

use std::time::Duration;

use crate::auth::{Algorithm, Jwk, JwtError, SignatureVerifier};
use crate::body::Body;

/// Milliseconds since the Unix epoch, as read from a [`Clock`].
pub type UnixMillis = u64;

/// The key-value store that holds the routes, API keys and shared key sets (Workers KV, Spin
/// key-value).
pub trait KeyValue {
    /// The value under `key`, or `None` when the key does not exist.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;

    /// Stores `value` under `key`, to expire after `ttl` where the store supports it (Workers KV
    /// rounds up to its 60 s minimum; Spin's store keeps values until overwritten, so readers
    /// must also check the age written inside the value).
    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError>;
}

/// Fetches small documents from services the gateway depends on (JWKS, OIDC discovery).
pub trait Fetch {
    /// `GET url`, with the whole exchange bounded by `timeout` and the body by `limit` bytes.
    async fn get(&self, url: &str, timeout: Duration, limit: usize) -> Result<Fetched, FetchError>;
}

/// A fetched document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The status.
    pub status: http::StatusCode,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The whole body (at most the requested limit).
    pub body: bytes::Bytes,
}

/// Why a fetch produced no document: unreachable, timed out, or the body exceeded the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fetch failed: {0}")]
pub struct FetchError(pub String);

/// A key-value read that failed for a reason other than a missing key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key-value store: {0}")]
pub struct KvError(pub String);

/// The only source of time for the core.
pub trait Clock {
    /// Now, in milliseconds since the Unix epoch.
    fn now(&self) -> UnixMillis;
}

/// The only source of randomness for the core (request ids, trace ids).
pub trait Entropy {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Routine facts (config version switched).
    Info,
    /// Degraded but serving (kept the last-known-good config).
    Warn,
    /// A request failed on the gateway's side.
    Error,
}

/// Where the core's log lines go (console on Workers, stderr on Spin).
pub trait Log {
    /// Writes one line as given. The core calls [`Log::record`] instead.
    fn log(&self, level: Level, message: &str);

    /// Writes one line with every control character escaped (`\n` becomes `\\n`), so a
    /// client-controlled field (a token's `kid`, a path, a header) cannot forge log lines. The
    /// only way the core logs.
    fn record(&self, level: Level, message: &str) {
        self.log(level, &escape_controls(message));
    }
}

/// `text` with control characters written as Rust escapes; borrowed when there are none.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() { out.extend(c.escape_default()) } else { out.push(c) }
    }
    std::borrow::Cow::Owned(out)
}

/// One request as a metrics store counts it (a Workers Analytics Engine data point). The core
/// decides what a point holds ([`crate::access_log::data_point`]); an adapter only writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint {
    /// The sampling index: the route id, or `-` when no route matched.
    pub index: String,
    /// Labels, in order: route id, status, cache status, region, rate-limit decision.
    pub blobs: [String; 5],
    /// Numbers, in order: duration in milliseconds, upstream attempts.
    pub doubles: [f64; 2],
}

/// Where per-request data points go (Workers Analytics Engine). Writing never fails the
/// request: an adapter that cannot write drops the point.
pub trait Metrics {
    /// Writes one point, without waiting for the store.
    fn write(&self, point: &DataPoint);
}

/// Time limits for one upstream attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Until the connection to the shield is open.
    pub connect: Duration,
    /// Until the response head has arrived, counted from the start of the attempt.
    pub response: Duration,
}

/// Sends a request to an origin shield.
pub trait Upstream {
    /// The platform's streaming body type.
    type Stream;

    /// Sends `request` and returns the response head with its body still streaming.
    async fn send(
        &self,
        request: http::Request<Body<Self::Stream>>,
        timeouts: Timeouts,
    ) -> Result<http::Response<Body<Self::Stream>>, UpstreamError>;

    /// Reads a client body whose length was not declared (chunked) into memory, refusing it
    /// as soon as it exceeds `limit` bytes: an undeclared length cannot be checked before
    /// forwarding. The read body can also be replayed to another region. The default keeps
    /// the stream as it is, for platforms whose host enforces the limit itself.
    async fn limit_body(&self, stream: Self::Stream, limit: u64) -> Result<Body<Self::Stream>, BodyError> {
        let _ = limit;
        Ok(Body::Stream(stream))
    }
}

/// Why a client body was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// More than the limit arrived.
    #[error("request body exceeds {limit} bytes")]
    TooLarge {
        /// Bytes read before giving up (more than the limit).
        read: u64,
        /// The limit.
        limit: u64,
    },
    /// The client's stream failed (connection lost, malformed chunking).
    #[error("reading the request body failed: {0}")]
    Read(String),
}

/// Why an upstream attempt produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The shield could not be reached (refused, DNS, TLS): nothing was sent, a retry is safe.
    #[error("connect failed: {0}")]
    Connect(String),
    /// No response head within the time limit: the request may have been processed.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The shield answered with something that is not HTTP, or the platform refused the request.
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// The edge cache of one location (Workers' `caches.default`; Spin has none).
pub trait EdgeCache {
    /// The platform's streaming body type.
    type Stream;

    /// Whether the platform has a cache at all. Without one, cacheable routes are forwarded
    /// and say `Cache-Status: edge-gateway; fwd=bypass; detail=no-edge-cache`.
    fn available(&self) -> bool;

    /// The response stored under `key`, as it was put (headers included), or `None`.
    async fn get(&self, key: &str) -> Result<Option<http::Response<Body<Self::Stream>>>, CacheError>;

    /// Stores `response` under `key` for at most `keep`, and returns it for the client: the
    /// body is streamed to both (on Workers the store completes after the response, in
    /// `waitUntil`). A failed store is logged by the adapter, never surfaced.
    async fn put(
        &self,
        key: &str,
        response: http::Response<Body<Self::Stream>>,
        keep: Duration,
    ) -> http::Response<Body<Self::Stream>>;

    /// Removes the entry under `key` in this location; `true` when there was one.
    async fn delete(&self, key: &str) -> Result<bool, CacheError>;

    /// Whether `put` really keeps a response with `status`. A platform whose cache silently
    /// drops some statuses says so here, and the gateway reports those responses as not stored
    /// (`Cache-Status: …; detail=platform-refuses-status`) instead of claiming `stored`.
    fn keeps(&self, status: http::StatusCode) -> bool {
        let _ = status;
        true
    }

    /// Bytes `first..=last` of the body stored under `key`, when the platform can slice a
    /// stored entry itself (Workers: `cache.match` with `Range`). `None` (the default) makes the
    /// gateway answer the range request with the whole response, which RFC 9110 §14.2 allows.
    async fn get_range(
        &self,
        key: &str,
        first: u64,
        last: u64,
    ) -> Result<Option<Body<Self::Stream>>, CacheError> {
        let _ = (key, first, last);
        Ok(None)
    }
}

/// A cache operation that failed (the request is then served as a miss).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("edge cache: {0}")]
pub struct CacheError(pub String);

/// The counters of exact rate limits (a Durable Object per key on Workers, the key-value
/// store's compare-and-swap on Spin). Each store runs [`crate::ratelimit::counter::serve`]
/// atomically for one key.
pub trait Counters {
    /// Sends `call` to the counter named `key` and returns its grant, or an error when the
    /// store fails or does not answer within `deadline` (adapters enforce it where the platform
    /// can time a call out).
    async fn call(
        &self,
        key: &str,
        call: &crate::ratelimit::counter::CounterCall,
        deadline: Duration,
    ) -> Result<crate::ratelimit::lease::Grant, CounterError>;

    /// Whether this instance outlives the request, so that leased tokens can be spent by later
    /// requests (Workers isolates). Spin starts an instance per request: there every call asks
    /// for one request's cost and nothing is held locally.
    fn leases(&self) -> bool {
        true
    }

    /// Whether [`Counters::exchange`] works here. Without it, approximate policies are counted
    /// exactly by [`Counters::call`] (Spin, whose atomics are as cheap as a read).
    fn shares(&self) -> bool {
        false
    }

    /// Approximate mode: publishes this instance's `mine` for `key`, kept for `keep`, and returns
    /// every instance's published share as the store now shows them (possibly stale).
    async fn exchange(
        &self,
        key: &str,
        mine: &crate::ratelimit::approximate::Share,
        keep: Duration,
    ) -> Result<Vec<crate::ratelimit::approximate::Share>, CounterError> {
        let _ = (key, mine, keep);
        Err(CounterError("no shared store for approximate counts".into()))
    }
}

/// No counter store: every call fails, so each policy's `on_store_error` decides. For
/// deployments without one (a Worker without the `RATE_LIMITER` binding).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCounters;

impl Counters for NoCounters {
    async fn call(
        &self,
        _key: &str,
        _call: &crate::ratelimit::counter::CounterCall,
        _deadline: Duration,
    ) -> Result<crate::ratelimit::lease::Grant, CounterError> {
        Err(CounterError("no counter store is configured".into()))
    }
}

/// A counter call that produced no grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("counter store: {0}")]
pub struct CounterError(pub String);

/// JWT signature checks: the core's pure-Rust verifier, or a platform's native one (Web Crypto
/// on Workers). Same contract as [`SignatureVerifier`], asynchronous.
pub trait SignatureCheck {
    /// `Ok(())` when `signature` signs `signing_input` under `key` (which fits `alg`).
    async fn verify(
        &self,
        alg: Algorithm,
        key: &Jwk,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JwtError>;
}

/// Every synchronous verifier (the core's, test doubles) is an asynchronous one that never waits.
impl<V: SignatureVerifier> SignatureCheck for V {
    async fn verify(
        &self,
        alg: Algorithm,
        key: &Jwk,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JwtError> {
        SignatureVerifier::verify(self, alg, key, signing_input, signature)
    }
}

/// Everything the pipeline needs from its platform, bundled.
pub trait Ports {
    /// The platform's streaming body type.
    type Stream;
    /// Key-value store with the routes.
    type Kv: KeyValue;
    /// Outbound HTTP to the shields.
    type Upstream: Upstream<Stream = Self::Stream>;
    /// Outbound HTTP for small documents (key sets).
    type Fetch: Fetch;
    /// JWT signature checks.
    type Crypto: SignatureCheck;
    /// The edge cache.
    type Cache: EdgeCache<Stream = Self::Stream>;
    /// The counters of exact rate limits.
    type Counters: Counters;
    /// Time.
    type Clock: Clock;
    /// Randomness.
    type Entropy: Entropy;
    /// Logging.
    type Log: Log;

    /// The routes store.
    fn kv(&self) -> &Self::Kv;
    /// Outbound HTTP.
    fn upstream(&self) -> &Self::Upstream;
    /// Document fetches.
    fn fetch(&self) -> &Self::Fetch;
    /// Signature checks.
    fn crypto(&self) -> &Self::Crypto;
    /// The edge cache.
    fn cache(&self) -> &Self::Cache;
    /// The rate-limit counters.
    fn counters(&self) -> &Self::Counters;
    /// The shared secret of the purge endpoint (a Workers secret, a Spin variable); `None`
    /// disables the endpoint.
    fn purge_secret(&self) -> Option<String> {
        None
    }
    /// The shared secret of the admin API and status page (`/__gateway/admin/…`: a Workers
    /// secret `ADMIN_SECRET`, a Spin variable `admin_secret`); `None` (or empty) disables them,
    /// and their paths answer 404 as if absent.
    fn admin_secret(&self) -> Option<String> {
        None
    }
    /// The origin shields' purge secret; with it, a purge at the gateway also purges every
    /// region's shield.
    fn shield_purge_secret(&self) -> Option<String> {
        None
    }
    /// Where per-request data points go; `None` (the default) writes none, and the pipeline
    /// builds none.
    fn metrics(&self) -> Option<&dyn Metrics> {
        None
    }
    /// Time.
    fn clock(&self) -> &Self::Clock;
    /// Randomness.
    fn entropy(&self) -> &Self::Entropy;
    /// Logging.
    fn log(&self) -> &Self::Log;
}
