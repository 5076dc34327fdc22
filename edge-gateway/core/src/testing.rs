//! In-memory fakes of every port, for tests here and in other crates (feature `testing`).
//!
//! [`FakePorts`] bundles them: a map for KV, a scripted upstream that records what it was sent,
//! a clock you move by hand, counting entropy and a log you can read back.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use bytes::Bytes;
use http::{Request, Response};

use crate::body::Body;
use crate::ports::{
    BodyError, Clock, Entropy, Fetch, FetchError, Fetched, KeyValue, KvError, Level, Log, Ports, Timeouts,
    UnixMillis, Upstream, UpstreamError,
};

/// A key-value store in memory. `fail` makes every read fail.
#[derive(Debug, Default)]
pub struct MemoryKv {
    values: RefCell<HashMap<String, Vec<u8>>>,
    /// When set, reads fail with this message.
    pub fail: RefCell<Option<String>>,
    reads: Cell<usize>,
    writes: RefCell<Vec<(String, Option<std::time::Duration>)>>,
}

impl MemoryKv {
    /// Stores `value` under `key`.
    pub fn put(&self, key: &str, value: impl Into<Vec<u8>>) {
        self.values.borrow_mut().insert(key.to_owned(), value.into());
    }

    /// Removes `key`.
    pub fn delete(&self, key: &str) {
        self.values.borrow_mut().remove(key);
    }

    /// How many reads were made.
    pub fn reads(&self) -> usize {
        self.reads.get()
    }

    /// The value under `key`, without counting a read.
    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.values.borrow().get(key).cloned()
    }

    /// The keys written through the port, with their TTLs, in order.
    pub fn writes(&self) -> Vec<(String, Option<std::time::Duration>)> {
        self.writes.borrow().clone()
    }
}

impl KeyValue for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.reads.set(self.reads.get() + 1);
        if let Some(message) = self.fail.borrow().clone() {
            return Err(KvError(message));
        }
        Ok(self.values.borrow().get(key).cloned())
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Option<std::time::Duration>) -> Result<(), KvError> {
        if let Some(message) = self.fail.borrow().clone() {
            return Err(KvError(message));
        }
        self.writes.borrow_mut().push((key.to_owned(), ttl));
        self.values.borrow_mut().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
}

/// What the fake fetcher answers for a URL.
pub type FetchScript = Box<dyn Fn(&str) -> Result<Fetched, FetchError>>;

/// A document fetcher that answers from a script and counts requests per URL.
pub struct FakeFetch {
    script: RefCell<FetchScript>,
    calls: RefCell<Vec<String>>,
    /// How many times each fetch yields to the executor before answering, so concurrent
    /// requests overlap (0 by default).
    pub yields: Cell<u32>,
}

impl Default for FakeFetch {
    fn default() -> Self {
        FakeFetch {
            script: RefCell::new(Box::new(|url| Err(FetchError(format!("no document at {url}"))))),
            calls: RefCell::default(),
            yields: Cell::new(0),
        }
    }
}

/// A future that is pending once (waking itself) and then ready.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

pub use crate::join::JoinAll;

impl std::fmt::Debug for FakeFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeFetch").field("calls", &self.calls.borrow().len()).finish()
    }
}

impl FakeFetch {
    /// Replaces the script.
    pub fn answer(&self, script: impl Fn(&str) -> Result<Fetched, FetchError> + 'static) {
        *self.script.borrow_mut() = Box::new(script);
    }

    /// How many fetches of `url` were made.
    pub fn calls(&self, url: &str) -> usize {
        self.calls.borrow().iter().filter(|u| *u == url).count()
    }
}

/// A 200 document with `Cache-Control: max-age=<max_age>`.
pub fn document(body: &str, max_age: Option<u64>) -> Fetched {
    let mut headers = http::HeaderMap::new();
    if let Some(age) = max_age {
        headers.insert(http::header::CACHE_CONTROL, format!("max-age={age}").parse().expect("valid header"));
    }
    Fetched { status: http::StatusCode::OK, headers, body: Bytes::from(body.to_owned()) }
}

impl Fetch for FakeFetch {
    async fn get(
        &self,
        url: &str,
        _timeout: std::time::Duration,
        limit: usize,
    ) -> Result<Fetched, FetchError> {
        self.calls.borrow_mut().push(url.to_owned());
        for _ in 0..self.yields.get() {
            YieldNow(false).await;
        }
        let fetched = (self.script.borrow())(url)?;
        if fetched.body.len() > limit {
            return Err(FetchError(format!("body exceeds {limit} bytes")));
        }
        Ok(fetched)
    }
}

/// A clock that moves only when told. Clones share one time (the fake counter store reads the
/// same clock as the gateway, plus its own skew).
#[derive(Debug, Default, Clone)]
pub struct ManualClock(std::rc::Rc<Cell<UnixMillis>>);

impl ManualClock {
    /// Moves the clock forward.
    pub fn advance(&self, millis: u64) {
        self.0.set(self.0.get() + millis);
    }

    /// Sets the time.
    pub fn set(&self, now: UnixMillis) {
        self.0.set(now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixMillis {
        self.0.get()
    }
}

/// Entropy that counts up: predictable ids in tests.
#[derive(Debug, Default)]
pub struct CountingEntropy(Cell<u8>);

impl Entropy for CountingEntropy {
    fn fill(&self, buf: &mut [u8]) {
        for byte in buf {
            self.0.set(self.0.get().wrapping_add(1));
            *byte = self.0.get();
        }
    }
}

/// A log that keeps its lines.
#[derive(Debug, Default)]
pub struct MemoryLog(RefCell<Vec<(Level, String)>>);

impl MemoryLog {
    /// Every line so far.
    pub fn lines(&self) -> Vec<(Level, String)> {
        self.0.borrow().clone()
    }

    /// True when a line at `level` contains `text`.
    pub fn contains(&self, level: Level, text: &str) -> bool {
        self.0.borrow().iter().any(|(l, line)| *l == level && line.contains(text))
    }
}

impl Log for MemoryLog {
    fn log(&self, level: Level, message: &str) {
        self.0.borrow_mut().push((level, message.to_owned()));
    }
}

/// A metrics store that keeps every data point written.
#[derive(Debug)]
pub struct MemoryMetrics {
    points: RefCell<Vec<crate::ports::DataPoint>>,
    /// Whether the platform has the store at all (default yes); off, [`Ports::metrics`] is `None`.
    pub enabled: Cell<bool>,
}

impl Default for MemoryMetrics {
    fn default() -> Self {
        MemoryMetrics { points: RefCell::default(), enabled: Cell::new(true) }
    }
}

impl MemoryMetrics {
    /// Every point so far, in order.
    pub fn points(&self) -> Vec<crate::ports::DataPoint> {
        self.points.borrow().clone()
    }
}

impl crate::ports::Metrics for MemoryMetrics {
    fn write(&self, point: &crate::ports::DataPoint) {
        self.points.borrow_mut().push(point.clone());
    }
}

/// The body stream type of the fakes: plain bytes.
pub type FakeStream = Bytes;

/// What the scripted upstream answers.
pub type Script =
    Box<dyn Fn(&Request<Body<FakeStream>>) -> Result<Response<Body<FakeStream>>, UpstreamError>>;

/// An upstream that answers from a script and records every request it was sent.
pub struct FakeUpstream {
    script: RefCell<Script>,
    sent: RefCell<Vec<(Request<Body<FakeStream>>, Timeouts)>>,
}

impl Default for FakeUpstream {
    fn default() -> Self {
        FakeUpstream {
            script: RefCell::new(Box::new(|_| Ok(ok_response("origin")))),
            sent: RefCell::default(),
        }
    }
}

impl std::fmt::Debug for FakeUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeUpstream").field("sent", &self.sent.borrow().len()).finish()
    }
}

impl FakeUpstream {
    /// Replaces the script.
    pub fn answer(
        &self,
        script: impl Fn(&Request<Body<FakeStream>>) -> Result<Response<Body<FakeStream>>, UpstreamError> + 'static,
    ) {
        *self.script.borrow_mut() = Box::new(script);
    }

    /// The requests sent so far, with their time limits.
    pub fn sent(&self) -> std::cell::Ref<'_, Vec<(Request<Body<FakeStream>>, Timeouts)>> {
        self.sent.borrow()
    }
}

/// A 200 response with a text body.
pub fn ok_response(text: &'static str) -> Response<Body<FakeStream>> {
    Response::new(Body::Stream(Bytes::from_static(text.as_bytes())))
}

impl Upstream for FakeUpstream {
    type Stream = FakeStream;

    async fn send(
        &self,
        request: Request<Body<FakeStream>>,
        timeouts: Timeouts,
    ) -> Result<Response<Body<FakeStream>>, UpstreamError> {
        let answer = (self.script.borrow())(&request);
        self.sent.borrow_mut().push((request, timeouts));
        answer
    }

    /// Reads the "stream" like a platform would: refused past `limit`.
    async fn limit_body(&self, stream: FakeStream, limit: u64) -> Result<Body<FakeStream>, BodyError> {
        let read = stream.len() as u64;
        if read > limit { Err(BodyError::TooLarge { read, limit }) } else { Ok(Body::Bytes(stream)) }
    }
}

/// An edge cache in memory: what was put, with the TTL it was given. `enabled: false` makes it
/// behave like a platform without a cache (Spin).
#[derive(Debug)]
pub struct MemoryCache {
    entries: RefCell<HashMap<String, (http::StatusCode, http::HeaderMap, Bytes, std::time::Duration)>>,
    /// Whether the platform has a cache.
    pub enabled: Cell<bool>,
    /// Statuses this cache drops on `put` (see [`crate::ports::EdgeCache::keeps`]).
    pub refused_statuses: RefCell<Vec<http::StatusCode>>,
    puts: Cell<usize>,
}

impl Default for MemoryCache {
    fn default() -> Self {
        MemoryCache {
            entries: RefCell::default(),
            enabled: Cell::new(true),
            refused_statuses: RefCell::default(),
            puts: Cell::new(0),
        }
    }
}

impl MemoryCache {
    /// How many entries were stored.
    pub fn puts(&self) -> usize {
        self.puts.get()
    }

    /// The TTL the last put of `key` was given.
    pub fn kept_for(&self, key_contains: &str) -> Option<std::time::Duration> {
        self.entries.borrow().iter().find(|(k, _)| k.contains(key_contains)).map(|(_, e)| e.3)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.borrow().is_empty()
    }
}

fn bytes_of(body: &Body<FakeStream>) -> Bytes {
    match body {
        Body::Empty => Bytes::new(),
        Body::Bytes(b) | Body::Stream(b) => b.clone(),
    }
}

impl crate::ports::EdgeCache for MemoryCache {
    type Stream = FakeStream;

    fn available(&self) -> bool {
        self.enabled.get()
    }

    async fn get(&self, key: &str) -> Result<Option<Response<Body<FakeStream>>>, crate::ports::CacheError> {
        Ok(self.entries.borrow().get(key).map(|(status, headers, body, _)| {
            let mut response = Response::new(Body::Stream(body.clone()));
            *response.status_mut() = *status;
            *response.headers_mut() = headers.clone();
            response
        }))
    }

    async fn put(
        &self,
        key: &str,
        response: Response<Body<FakeStream>>,
        keep: std::time::Duration,
    ) -> Response<Body<FakeStream>> {
        if self.refused_statuses.borrow().contains(&response.status()) {
            return response;
        }
        self.puts.set(self.puts.get() + 1);
        let entry = (response.status(), response.headers().clone(), bytes_of(response.body()), keep);
        self.entries.borrow_mut().insert(key.to_owned(), entry);
        response
    }

    async fn delete(&self, key: &str) -> Result<bool, crate::ports::CacheError> {
        Ok(self.entries.borrow_mut().remove(key).is_some())
    }

    /// Like the Workers Cache API locally: statuses outside its list are dropped.
    fn keeps(&self, status: http::StatusCode) -> bool {
        !self.refused_statuses.borrow().contains(&status)
    }

    async fn get_range(
        &self,
        key: &str,
        first: u64,
        last: u64,
    ) -> Result<Option<Body<FakeStream>>, crate::ports::CacheError> {
        let entries = self.entries.borrow();
        let Some((_, _, body, _)) = entries.get(key) else { return Ok(None) };
        let (first, last) = (first as usize, last as usize);
        Ok((last < body.len() && first <= last).then(|| Body::Stream(body.slice(first..=last))))
    }
}

/// Exact-limit counters in memory: each key's record, answered by
/// [`crate::ratelimit::counter::serve`] like a Durable Object or Spin's compare-and-swap.
#[derive(Debug, Default)]
pub struct MemoryCounters {
    records: RefCell<HashMap<String, Vec<u8>>>,
    clock: ManualClock,
    /// The store's clock runs this many milliseconds ahead of the gateway's (negative: behind).
    pub skew_ms: Cell<i64>,
    /// When set, every call fails with this reason (the store is down or too slow).
    pub fail: RefCell<Option<String>>,
    /// Instances live for one request (Spin): [`crate::ports::Counters::leases`] says no.
    pub one_request_instances: Cell<bool>,
    /// Published approximate shares, per key and instance, with when each was written.
    shares: RefCell<HashMap<String, Vec<(UnixMillis, crate::ratelimit::approximate::Share)>>>,
    /// How long a written share takes to become visible to readers (KV propagation).
    pub propagation_ms: Cell<u64>,
    /// Whether the fake offers approximate shares at all (Workers KV) — default yes.
    pub no_shares: Cell<bool>,
    /// Times each call yields before answering (lets concurrent requests interleave).
    pub yields: Cell<u32>,
    exchanges: Cell<usize>,
    calls: Cell<usize>,
}

impl MemoryCounters {
    /// Counters that read `clock`.
    pub fn with_clock(clock: ManualClock) -> MemoryCounters {
        MemoryCounters { clock, ..MemoryCounters::default() }
    }

    /// Calls answered or failed so far.
    pub fn calls(&self) -> usize {
        self.calls.get()
    }

    /// Approximate exchanges so far.
    pub fn exchanges(&self) -> usize {
        self.exchanges.get()
    }

    /// The record under `key`, if any.
    pub fn record(&self, key: &str) -> Option<crate::ratelimit::counter::Record> {
        self.records.borrow().get(key).map(|b| crate::ratelimit::counter::Record::from_stored(Some(b)))
    }

    /// Every key with a record.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.records.borrow().keys().cloned().collect();
        keys.sort();
        keys
    }
}

impl crate::ports::Counters for MemoryCounters {
    async fn call(
        &self,
        key: &str,
        call: &crate::ratelimit::counter::CounterCall,
        _deadline: std::time::Duration,
    ) -> Result<crate::ratelimit::lease::Grant, crate::ports::CounterError> {
        self.calls.set(self.calls.get() + 1);
        for _ in 0..self.yields.get() {
            YieldNow(false).await;
        }
        if let Some(reason) = self.fail.borrow().clone() {
            return Err(crate::ports::CounterError(reason));
        }
        let now = self.clock.now().saturating_add_signed(self.skew_ms.get());
        let mut records = self.records.borrow_mut();
        let settings = crate::ratelimit::lease::LeaseSettings::default();
        let (grant, stored) =
            crate::ratelimit::counter::serve(records.get(key).map(Vec::as_slice), call, &settings, now);
        records.insert(key.to_owned(), stored);
        Ok(grant)
    }

    fn leases(&self) -> bool {
        !self.one_request_instances.get()
    }

    fn shares(&self) -> bool {
        !self.no_shares.get()
    }

    async fn exchange(
        &self,
        key: &str,
        mine: &crate::ratelimit::approximate::Share,
        _keep: std::time::Duration,
    ) -> Result<Vec<crate::ratelimit::approximate::Share>, crate::ports::CounterError> {
        self.exchanges.set(self.exchanges.get() + 1);
        for _ in 0..self.yields.get() {
            YieldNow(false).await;
        }
        if let Some(reason) = self.fail.borrow().clone() {
            return Err(crate::ports::CounterError(reason));
        }
        let now = self.clock.now();
        let mut shares = self.shares.borrow_mut();
        let written = shares.entry(key.to_owned()).or_default();
        written.push((now, mine.clone()));
        // Readers see each instance's newest write older than the propagation delay (their
        // own write at once), as KV shows the previous value until a new one has propagated.
        let visible_before = now.saturating_sub(self.propagation_ms.get());
        let mut propagated: HashMap<String, UnixMillis> = HashMap::new();
        for (at, share) in written.iter().filter(|(at, _)| *at <= visible_before) {
            let newest = propagated.entry(share.instance.clone()).or_default();
            *newest = (*newest).max(*at);
        }
        // Versions older than an instance's newest propagated one are gone for every reader.
        written.retain(|(at, share)| propagated.get(&share.instance).is_none_or(|newest| at >= newest));
        let mut visible: HashMap<&str, &crate::ratelimit::approximate::Share> = HashMap::new();
        for (at, share) in written.iter() {
            if share.instance == mine.instance {
                visible.insert(&share.instance, share); // a writer reads its own write
            } else if *at <= visible_before {
                visible.insert(&share.instance, share);
            }
        }
        let visible: Vec<crate::ratelimit::approximate::Share> =
            visible.values().map(|s| (*s).clone()).collect();
        Ok(visible)
    }
}

/// All fakes together.
#[derive(Debug)]
pub struct FakePorts {
    /// KV.
    pub kv: MemoryKv,
    /// Upstream.
    pub upstream: FakeUpstream,
    /// Document fetches.
    pub fetch: FakeFetch,
    /// The edge cache.
    pub cache: MemoryCache,
    /// The exact-limit counters (on the same clock).
    pub counters: MemoryCounters,
    /// The purge endpoint's secret.
    pub purge_secret: RefCell<Option<String>>,
    /// The shields' purge secret.
    pub shield_purge_secret: RefCell<Option<String>>,
    /// Clock.
    pub clock: ManualClock,
    /// Entropy.
    pub entropy: CountingEntropy,
    /// Log.
    pub log: MemoryLog,
    /// Per-request data points.
    pub metrics: MemoryMetrics,
}

impl Default for FakePorts {
    fn default() -> Self {
        let clock = ManualClock::default();
        FakePorts {
            kv: MemoryKv::default(),
            upstream: FakeUpstream::default(),
            fetch: FakeFetch::default(),
            cache: MemoryCache::default(),
            counters: MemoryCounters::with_clock(clock.clone()),
            purge_secret: RefCell::default(),
            shield_purge_secret: RefCell::default(),
            clock,
            entropy: CountingEntropy::default(),
            log: MemoryLog::default(),
            metrics: MemoryMetrics::default(),
        }
    }
}

impl FakePorts {
    /// Publishes `document` as version `id` the way `scripts/routes publish` does: document,
    /// then `routes/current`, then `routes/last-good`.
    pub fn publish(&self, id: &str, document: &str) {
        self.force_current(id, document);
        self.kv.put(crate::live::LAST_GOOD_KEY, id.as_bytes());
    }

    /// Writes `document` as version `id` and points `routes/current` at it, bypassing
    /// validation, like a hand-made KV write.
    pub fn force_current(&self, id: &str, document: &str) {
        self.kv.put(&crate::live::version_key(id), document.as_bytes());
        self.kv.put(crate::live::CURRENT_KEY, id.as_bytes());
    }
}

impl Ports for FakePorts {
    type Stream = FakeStream;
    type Kv = MemoryKv;
    type Upstream = FakeUpstream;
    type Fetch = FakeFetch;
    type Crypto = crate::auth::CoreVerifier;
    type Cache = MemoryCache;
    type Counters = MemoryCounters;
    type Clock = ManualClock;
    type Entropy = CountingEntropy;
    type Log = MemoryLog;

    fn kv(&self) -> &MemoryKv {
        &self.kv
    }
    fn upstream(&self) -> &FakeUpstream {
        &self.upstream
    }
    fn fetch(&self) -> &FakeFetch {
        &self.fetch
    }
    fn crypto(&self) -> &crate::auth::CoreVerifier {
        &crate::auth::CoreVerifier
    }
    fn cache(&self) -> &MemoryCache {
        &self.cache
    }
    fn counters(&self) -> &MemoryCounters {
        &self.counters
    }
    fn purge_secret(&self) -> Option<String> {
        self.purge_secret.borrow().clone()
    }
    fn shield_purge_secret(&self) -> Option<String> {
        self.shield_purge_secret.borrow().clone()
    }
    fn metrics(&self) -> Option<&dyn crate::ports::Metrics> {
        self.metrics.enabled.get().then_some(&self.metrics as &dyn crate::ports::Metrics)
    }
    fn clock(&self) -> &ManualClock {
        &self.clock
    }
    fn entropy(&self) -> &CountingEntropy {
        &self.entropy
    }
    fn log(&self) -> &MemoryLog {
        &self.log
    }
}
