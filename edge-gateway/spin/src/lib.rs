//! The edge gateway as a Spin HTTP component (spin-sdk 7, WASI 0.3).
//!
//! This crate is a thin adapter: it turns Spin's incoming request into the core's
//! [`http::Request`], implements the core's [`Ports`](edge_gateway_core::ports::Ports) over Spin's
//! capabilities, and turns the core's response back into a `wasi:http` response. Every decision
//! (routing, header rewriting, failover, refusals) is made by [`edge_gateway_core::Gateway`].
//!
//! | port | Spin capability |
//! |---|---|
//! | key-value | `spin:key-value` store `default`, opened once per request |
//! | upstream | `wasi:http/client` (WASI 0.3), timeouts as `request-options` |
//! | clock | `std::time::SystemTime` (the host's wall clock) |
//! | entropy | `wasi:random` |
//! | log | stderr |
//!
//! Bodies are never buffered: the client's request body stream is handed to the outgoing request
//! as it is, and the shield's response body stream is handed to the client's response, so the
//! bytes flow host-to-host without passing through this component (see [`message`]).
//!
//! **Config is re-read on every request.** Spin creates a fresh instance for each request, so the
//! core's in-memory config cache lives for one request only: each request reads `routes/current`
//! and the version document it names from the key-value store (two reads). The core's
//! `config_ttl_ms` has no effect on Spin. Having no memory between requests, an instance whose
//! `routes/current` leads to a broken document serves `routes/last-good` instead (see the core's
//! `live` module).
//!
//! A panic aborts the instance (stable Rust cannot unwind on wasm32): the host answers that
//! request with a 500 (the project's test host with a problem+json body) and the next request
//! gets a fresh instance anyway.
//!
//! The client address comes from the `spin-client-addr` header that Spin sets; every `spin-*`
//! header is removed before the request reaches the core. Spin knows nothing about the client's
//! location, so region choice falls back to each pool's configured order.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod message;
mod ports;
mod upstream;

use edge_gateway_core::Gateway;
use spin_sdk::http::Request;
use spin_sdk::http_service;
use spin_sdk::wasip3::http::types::Response;

use crate::ports::SpinPorts;

/// Serves one request: Spin calls this once per fresh instance.
#[http_service]
async fn handle(request: Request) -> anyhow::Result<Response> {
    let (request, client) = message::from_spin(request)?;
    let ports = SpinPorts::open().await;
    let response = Gateway::new().handle(&ports, request, &client).await;
    message::into_spin(response)
}
