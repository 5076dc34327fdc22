//! Exact rate limits on Durable Objects: the `RateLimiter` class and the gateway's client of it.
//!
//! One object per counter key (`id_from_name(key)`) holds the truth of one exact limit. It runs
//! the core's [`counter::serve`] on its stored record, with `Date.now()` as `now`; the object is
//! single-threaded and the step is synchronous between reading its in-memory copy and writing it
//! back, so every decision is atomic without a transaction. The record is also written to the
//! object's storage (key `record`), which survives eviction: a re-created object reads it back
//! before its first answer.
//!
//! The wire (all JSON, bodies as the core defines them):
//! - `POST /lease` with a [`CounterCall`] → 200 with the grant; a malformed call → 400 problem.
//! - `GET /stats` → `{"calls": N, "age_ms": A, "record": …}`: calls answered so far and the
//!   age of this instance of the object (for tests and benchmarks).
//!
//! [`WorkersCounters`] is the core's `Counters` port over the `RATE_LIMITER` binding: one stub
//! fetch per call, raced against the call's deadline. It never decides anything itself: what a
//! failure means is the policy's `on_store_error`, in the core.
//!
//! Approximate policies do not reach the object: [`Counters::exchange`] trades this isolate's
//! share through Workers KV ([`crate::shares`]).
//!
//! This module never panics: every failure becomes a response (object) or a `CounterError`
//! (client).

mod object;

use std::time::Duration;

use edge_gateway_core::ports::{CounterError, Counters};
use edge_gateway_core::ratelimit::approximate::Share;
use edge_gateway_core::ratelimit::counter::{self, CounterCall};
use edge_gateway_core::ratelimit::lease::Grant;
use futures_util::future::{Either, select};
use worker::js_sys::Uint8Array;
use worker::{Delay, Env, Method, Request, RequestInit};

pub use object::RateLimiter;

/// The Durable Object namespace binding of the counters.
pub(crate) const RATE_LIMITER_BINDING: &str = "RATE_LIMITER";
/// The URL the client sends its calls to (the object sees only its path).
const LEASE_URL: &str = "https://rate-limiter.internal/lease";

/// The core's `Counters` over the `RATE_LIMITER` Durable Object namespace.
pub(crate) struct WorkersCounters(Env);

impl WorkersCounters {
    pub(crate) fn new(env: Env) -> WorkersCounters {
        WorkersCounters(env)
    }

    /// One call to the object named `key`, without the deadline.
    async fn send(&self, key: &str, call: &CounterCall) -> Result<Grant, CounterError> {
        let namespace = self
            .0
            .durable_object(RATE_LIMITER_BINDING)
            .map_err(|e| CounterError(format!("no Durable Object binding {RATE_LIMITER_BINDING}: {e}")))?;
        let failed = |what: &str, e: worker::Error| CounterError(format!("{what}: {e}"));
        let stub =
            namespace.id_from_name(key).and_then(|id| id.get_stub()).map_err(|e| failed("no stub", e))?;
        let body = Uint8Array::from(call.to_json().as_slice());
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        let request = Request::new_with_init(LEASE_URL, &init).map_err(|e| failed("request", e))?;
        let mut response = stub.fetch_with_request(request).await.map_err(|e| failed("object call", e))?;
        let status = response.status_code();
        if !(200..300).contains(&status) {
            return Err(CounterError(format!("object answered {status}")));
        }
        let body = response.bytes().await.map_err(|e| failed("object body", e))?;
        counter::grant_from_json(&body).ok_or_else(|| CounterError("object answered with no grant".into()))
    }
}

impl Counters for WorkersCounters {
    async fn call(&self, key: &str, call: &CounterCall, deadline: Duration) -> Result<Grant, CounterError> {
        // A grant that arrives after the deadline is lost; its tokens stay charged (never
        // over-admits) until its window ends.
        match select(Box::pin(self.send(key, call)), Delay::from(deadline)).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(((), _)) => Err(CounterError(format!("deadline of {deadline:?} passed"))),
        }
    }

    /// Approximate policies share their counts through the routes KV (see [`crate::shares`]).
    fn shares(&self) -> bool {
        true
    }

    async fn exchange(&self, key: &str, mine: &Share, keep: Duration) -> Result<Vec<Share>, CounterError> {
        crate::shares::exchange(&self.0, key, mine, keep).await
    }
}
