//! Cloudflare Workers adapter: runs the core pipeline inside workerd.
//!
//! This is the only crate that names `worker`. It turns the runtime's `Request` into the core's
//! `http::Request` without touching the body stream, implements the core's ports over Workers
//! facilities (KV binding `ROUTES`, the `RateLimiter` Durable Objects of exact rate limits,
//! `fetch`, `Date.now`, `crypto.getRandomValues`, `console`),
//! and turns the core's response back into a runtime `Response`. Bodies stay JavaScript
//! `ReadableStream`s end to end: they never cross into wasm memory.
//!
//! One [`Gateway`] lives per isolate, so the parsed routes are shared by every request the
//! isolate serves until their TTL runs out.
#![deny(missing_docs)]

mod cache;
mod convert;
mod headers;
mod limiter;
mod ports;
mod shares;
mod webcrypto;

use std::rc::Rc;

use edge_gateway_core::Gateway;
use worker::{Context, Env, event, web_sys};

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

/// Logs panics to the console before worker-build's shim resets the instance.
#[event(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        worker::console_error!("panic: {info}");
    }));
}
