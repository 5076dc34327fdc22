//! The `RateLimiter` class: one object per counter key, answering counter calls atomically.
// The glue `#[durable_object]` generates (`new`, `fetch` for wasm-bindgen) carries no docs;
// everything written here does.
#![allow(missing_docs)]

use std::cell::RefCell;

use edge_gateway_core::GatewayError;
use edge_gateway_core::problem::{PROBLEM_JSON, Problem};
use edge_gateway_core::ratelimit::counter::{self, CounterCall, Record};
use edge_gateway_core::ratelimit::lease::LeaseSettings;
use worker::{DurableObject, Env, Method, Request, Response, ResponseBuilder, State, durable_object};

/// The storage key of an object's record.
const RECORD_KEY: &str = "record";
/// Largest call body accepted (a call is a few hundred bytes).
const MAX_CALL_BYTES: usize = 16 * 1024;

/// One counter of an exact limit (a Durable Object class; one object per counter key).
#[durable_object(fetch)]
pub struct RateLimiter {
    state: State,
    /// The record as stored: `None` until read from storage, then `Some(None)` for a fresh
    /// counter or `Some(Some(json))`.
    record: RefCell<Option<Option<Vec<u8>>>>,
    /// When this instance was constructed (`Date.now()`): a re-created object is younger than
    /// its record.
    born_at: u64,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        RateLimiter { state, record: RefCell::new(None), born_at: now() }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let answer = match (req.method(), req.path().as_str()) {
            (Method::Post, "/lease") => self.lease(&mut req).await,
            (Method::Get, "/stats") => self.stats().await,
            (_, "/lease") => {
                Err(problem(&GatewayError::MethodNotAllowed { allow: vec![http::Method::POST] }))
            }
            (_, "/stats") => Err(problem(&GatewayError::MethodNotAllowed { allow: vec![http::Method::GET] })),
            _ => Err(problem(&GatewayError::RouteNotFound)),
        };
        Ok(answer.unwrap_or_else(|refusal| refusal))
    }
}

impl RateLimiter {
    /// Answers one counter call: the grant as JSON.
    async fn lease(&self, req: &mut Request) -> Result<Response, Response> {
        let body = req.bytes().await.map_err(|e| bad_request(&format!("unreadable body: {e}")))?;
        if body.len() > MAX_CALL_BYTES {
            return Err(bad_request(&format!("a counter call is at most {MAX_CALL_BYTES} bytes")));
        }
        let call = CounterCall::from_json(&body).ok_or_else(|| bad_request("not a counter call"))?;
        self.load().await?;
        let now = now();
        // Synchronous from reading the copy to replacing it: no other call interleaves.
        let (grant, stored) = {
            let mut record = self.record.borrow_mut();
            let current = record.as_ref().and_then(|r| r.as_deref());
            let (grant, stored) = counter::serve(current, &call, &LeaseSettings::default(), now);
            *record = Some(Some(stored.clone()));
            (grant, stored)
        };
        // serde_json writes UTF-8; stored as text so the record can be read in a dashboard.
        let text = String::from_utf8(stored).map_err(|_| internal("record is not UTF-8"))?;
        self.state
            .storage()
            .put(RECORD_KEY, text)
            .await
            .map_err(|e| internal(&format!("storage put: {e}")))?;
        json(counter::grant_to_json(&grant))
    }

    /// `{"calls": N, "age_ms": …, "record": …}`: calls answered (stored, so they survive
    /// eviction), how long this instance of the object has lived, and the record itself.
    async fn stats(&self) -> Result<Response, Response> {
        self.load().await?;
        let record = Record::from_stored(self.record.borrow().as_ref().and_then(|r| r.as_deref()));
        let age_ms = now().saturating_sub(self.born_at);
        let body = serde_json::json!({ "calls": record.calls, "age_ms": age_ms, "record": record });
        json(body.to_string().into_bytes())
    }

    /// Reads the stored record into memory once per object lifetime.
    async fn load(&self) -> Result<(), Response> {
        if self.record.borrow().is_some() {
            return Ok(());
        }
        let stored: Option<String> =
            self.state.storage().get(RECORD_KEY).await.map_err(|e| internal(&format!("storage get: {e}")))?;
        let mut record = self.record.borrow_mut();
        // Another call may have loaded (and advanced) it while this one waited.
        if record.is_none() {
            *record = Some(stored.map(String::into_bytes));
        }
        Ok(())
    }
}

/// `Date.now()`.
fn now() -> u64 {
    worker::js_sys::Date::now() as u64
}

fn json(body: Vec<u8>) -> Result<Response, Response> {
    ResponseBuilder::new()
        .with_header("content-type", "application/json")
        .map(|b| b.fixed(body))
        .map_err(|e| internal(&format!("response: {e}")))
}

fn bad_request(reason: &str) -> Response {
    problem(&GatewayError::BadRequest(reason.to_owned()))
}

fn internal(reason: &str) -> Response {
    worker::console_error!("RateLimiter: {reason}");
    problem(&GatewayError::Internal)
}

/// A problem response (RFC 9457); the object has no request id, so `-`.
fn problem(error: &GatewayError) -> Response {
    let problem = Problem::from_error(error, "-");
    let builder = ResponseBuilder::new().with_status(problem.status);
    match builder.clone().with_header("content-type", PROBLEM_JSON) {
        Ok(with_type) => with_type.fixed(problem.to_json()),
        Err(_) => builder.fixed(problem.to_json()),
    }
}
