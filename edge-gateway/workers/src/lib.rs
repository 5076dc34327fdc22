//! Cloudflare Workers adapter: runs the core pipeline inside workerd.
//!
//! This is the only crate that names `worker`. It turns the runtime's `Request` into the core's
//! `http::Request` without touching the body stream, implements the core's ports over Workers
//! facilities (KV binding `ROUTES`, the `RateLimiter` Durable Objects of exact rate limits,
//! `fetch`, `Date.now`, `crypto.getRandomValues`, `console`, and the optional Analytics Engine
//! dataset `ANALYTICS` for per-request data points),
//! and turns the core's response back into a runtime `Response`. Bodies stay JavaScript
//! `ReadableStream`s end to end: they never cross into wasm memory.
//!
//! One [`Gateway`] lives per isolate, so the parsed routes are shared by every request the
//! isolate serves until their TTL runs out.
//!
//! Region health is learned by a cron trigger ([`scheduled`], `crons` in `wrangler.toml`): it
//! probes every shield's health check and writes `health/snapshot` to KV, which every isolate
//! re-reads beside its own passive observations (see the core's `stages::health`).
#![deny(missing_docs)]

mod analytics;
mod cache;
mod convert;
mod headers;
mod limiter;
mod ports;
mod shares;
mod webcrypto;

use std::rc::Rc;
use std::time::Duration;

use edge_gateway_core::Gateway;
use worker::wasm_bindgen::{JsCast, JsValue, prelude::wasm_bindgen};
use worker::{Context, Delay, Env, event, web_sys};

pub use crate::limiter::RateLimiter;
use crate::ports::WorkersPorts;

thread_local! {
    /// The isolate's gateway: its parsed config outlives a single request.
    static GATEWAY: Rc<Gateway> = Rc::new(Gateway::new());
}

/// The `fetch` handler: every request the Worker receives.
#[event(fetch)]
async fn fetch(request: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let ctx = Rc::new(ctx);
    let ports = WorkersPorts::new(env.clone(), ctx.clone());
    let gateway = GATEWAY.with(Rc::clone);
    let (request, client) = match convert::incoming(&request) {
        Ok(converted) => converted,
        Err(error) => return convert::outgoing(convert::bad_request(&error)),
    };
    let (response, deferred) = gateway.handle_deferred(&ports, request, &client).await;
    if let Some(deferred) = deferred {
        // Revalidate an entry served stale (stale-while-revalidate) after the response.
        let background = WorkersPorts::new(env, ctx.clone());
        ctx.wait_until(async move { gateway.run_deferred(&background, deferred).await });
    }
    convert::outgoing(response)
}

/// The `[vars]` entry with the number of probe rounds per cron invocation.
const PROBE_ROUNDS_VAR: &str = "PROBE_ROUNDS";
/// Probe rounds per invocation when `PROBE_ROUNDS` is unset or unreadable.
const DEFAULT_PROBE_ROUNDS: u32 = 6;
/// Time between cron invocations (`* * * * *`, the finest Workers cron).
const CRON_PERIOD_MS: u64 = 60_000;

/// The `scheduled` handler (cron triggers): probes every region's shield and publishes the
/// health snapshot.
///
/// Workers cron fires once a minute at best and health checks are due every few seconds (seed
/// 10 s), so one invocation probes in rounds: `PROBE_ROUNDS` of them (default 6), the k-th
/// starting k × the shortest health-check interval after the first, and none starting a full
/// minute after the invocation began, so one invocation's rounds never overlap the next one's
/// (both read and write `health/probe-state`). Only the regions due are probed in a round
/// (the core decides), so a region with a longer interval is not probed more often. Sleeping
/// between rounds costs wall time, not CPU time, and a cron invocation may run for minutes.
/// The alternative, a Durable Object alarm every interval, would add a class and a binding for
/// what one cron invocation per minute already does.
///
/// Written out instead of `#[event(scheduled)]`: the macro hands over a `ScheduleContext`
/// whose JavaScript object cannot be taken back out, and the core's ports take the execution
/// context (`waitUntil`) that fetch events have; a scheduled event's `ctx` is the same kind
/// of object.
#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    wasm_bindgen_futures = ::worker::wasm_bindgen_futures,
    js_sys = ::worker::js_sys
)]
pub async fn scheduled(
    _event: worker::worker_sys::ScheduledEvent,
    env: Env,
    ctx: worker::worker_sys::ScheduleContext,
) -> Result<JsValue, JsValue> {
    let ctx = Rc::new(Context::new(ctx.unchecked_into()));
    let rounds = probe_rounds(&env);
    let ports = WorkersPorts::new(env, ctx);
    let gateway = GATEWAY.with(Rc::clone);
    let started = now_ms();
    for round in 0..rounds {
        let report = match gateway.probe(&ports).await {
            Ok(report) => report,
            Err(error) => {
                worker::console_error!("health probe round {round}: {error}");
                break;
            }
        };
        let changed: Vec<String> = report
            .changed
            .iter()
            .map(|(region, healthy)| format!("{region} {}", if *healthy { "healthy" } else { "unhealthy" }))
            .collect();
        worker::console_log!(
            "health probe round {}/{rounds}: {} region(s) probed; changed: {}",
            round + 1,
            report.probed.len(),
            if changed.is_empty() { "none".to_owned() } else { changed.join(", ") }
        );
        let Some(next) = report.interval_ms.map(|interval| u64::from(round + 1).saturating_mul(interval))
        else {
            break;
        };
        if round + 1 == rounds || next >= CRON_PERIOD_MS {
            break;
        }
        let wait = (started + next).saturating_sub(now_ms());
        Delay::from(Duration::from_millis(wait)).await;
    }
    Ok(JsValue::UNDEFINED)
}

/// `PROBE_ROUNDS` from `[vars]`, at least 1.
fn probe_rounds(env: &Env) -> u32 {
    env.var(PROBE_ROUNDS_VAR)
        .ok()
        .and_then(|v| v.to_string().trim().parse::<u32>().ok())
        .unwrap_or(DEFAULT_PROBE_ROUNDS)
        .max(1)
}

fn now_ms() -> u64 {
    worker::js_sys::Date::now() as u64
}

/// Logs panics to the console before worker-build's shim resets the instance.
#[event(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        worker::console_error!("panic: {info}");
    }));
}
