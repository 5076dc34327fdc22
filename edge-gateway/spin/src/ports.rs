//! The core's ports over Spin: key-value, clock, entropy and log (outbound HTTP is in
//! [`crate::upstream`], the rate-limit counters in [`crate::counters`]).
//!
//! Nothing here decides anything; each type forwards one call to one Spin or WASI capability.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edge_gateway_core::Body;
use edge_gateway_core::auth::CoreVerifier;
use edge_gateway_core::ports::{
    CacheError, Clock, EdgeCache, Entropy, KeyValue, KvError, Level, Log, Ports, UnixMillis,
};
use spin_sdk::key_value::Store;

use crate::counters::SpinCounters;
use crate::message::SpinStream;
use crate::upstream::{SpinDocuments, SpinUpstream};

/// The Spin variable that enables the admin API and status page (`[variables]` in `spin.toml`,
/// set with `SPIN_VARIABLE_ADMIN_SECRET` or a runtime-config provider).
pub(crate) const ADMIN_SECRET_VARIABLE: &str = "admin_secret";

/// The label of the key-value store that holds the routes (`key_value_stores` in `spin.toml`).
pub(crate) const ROUTES_STORE: &str = "default";

/// The routes store (`fermyon:spin/key-value@2.0.0`), opened once per request.
pub(crate) struct SpinKv {
    /// The open store, or why it could not be opened (reported on every read).
    store: Result<Store, String>,
}

impl KeyValue for SpinKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match &self.store {
            Ok(store) => store.get(key).map_err(|e| KvError(format!("{e:?}"))),
            Err(reason) => Err(KvError(reason.clone())),
        }
    }

    /// Spin's store has no expiry: the core also writes the age inside every shared value.
    async fn put(&self, key: &str, value: &[u8], _ttl: Option<Duration>) -> Result<(), KvError> {
        match &self.store {
            Ok(store) => store.set(key, value).map_err(|e| KvError(format!("{e:?}"))),
            Err(reason) => Err(KvError(reason.clone())),
        }
    }
}

/// Spin has no cache API: cacheable routes are forwarded to the shields, whose cache is the
/// only tier (`Cache-Status: edge-gateway; fwd=bypass; detail=no-edge-cache`).
pub(crate) struct NoEdgeCache;

impl EdgeCache for NoEdgeCache {
    type Stream = SpinStream;

    fn available(&self) -> bool {
        false
    }

    async fn get(&self, _key: &str) -> Result<Option<http::Response<Body<SpinStream>>>, CacheError> {
        Ok(None)
    }

    async fn put(
        &self,
        _key: &str,
        response: http::Response<Body<SpinStream>>,
        _keep: Duration,
    ) -> http::Response<Body<SpinStream>> {
        response
    }

    async fn delete(&self, _key: &str) -> Result<bool, CacheError> {
        Ok(false)
    }
}

/// The host's wall clock. Allowed here and only here: the core bans reading the time itself.
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the adapter is where the clock is read
    fn now(&self) -> UnixMillis {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }
}

/// Randomness from `wasi:random`, which every WASI 0.2 HTTP host provides.
pub(crate) struct WasiEntropy;

impl Entropy for WasiEntropy {
    fn fill(&self, buf: &mut [u8]) {
        let bytes = wasi::random::random::get_random_bytes(buf.len() as u64);
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
    }
}

/// Log lines on stderr, where Spin collects a component's logs.
pub(crate) struct StderrLog;

impl Log for StderrLog {
    fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        };
        eprintln!("edge-gateway {level} {message}");
    }
}

/// All ports of one request.
pub(crate) struct SpinPorts {
    kv: SpinKv,
    upstream: SpinUpstream,
    counters: SpinCounters,
}

impl SpinPorts {
    /// Opens the routes store. A failure is not fatal here: it surfaces as a KV read error, which
    /// the core answers with 503.
    pub(crate) fn open() -> SpinPorts {
        let store =
            Store::open(ROUTES_STORE).map_err(|e| format!("opening key-value store `{ROUTES_STORE}`: {e:?}"));
        SpinPorts { kv: SpinKv { store }, upstream: SpinUpstream, counters: SpinCounters::new() }
    }
}

impl Ports for SpinPorts {
    type Stream = SpinStream;
    type Kv = SpinKv;
    type Upstream = SpinUpstream;
    type Fetch = SpinDocuments;
    type Crypto = CoreVerifier;
    type Cache = NoEdgeCache;
    type Counters = SpinCounters;
    type Clock = SystemClock;
    type Entropy = WasiEntropy;
    type Log = StderrLog;

    fn kv(&self) -> &SpinKv {
        &self.kv
    }
    fn upstream(&self) -> &SpinUpstream {
        &self.upstream
    }
    fn fetch(&self) -> &SpinDocuments {
        &SpinDocuments
    }
    fn crypto(&self) -> &CoreVerifier {
        &CoreVerifier
    }
    fn counters(&self) -> &SpinCounters {
        &self.counters
    }
    fn cache(&self) -> &NoEdgeCache {
        &NoEdgeCache
    }
    /// Read only when a request is for an admin path; undefined or empty disables the API.
    fn admin_secret(&self) -> Option<String> {
        spin_sdk::variables::get(ADMIN_SECRET_VARIABLE).ok().filter(|s| !s.is_empty())
    }
    fn clock(&self) -> &SystemClock {
        &SystemClock
    }
    fn entropy(&self) -> &WasiEntropy {
        &WasiEntropy
    }
    fn log(&self) -> &StderrLog {
        &StderrLog
    }
}
