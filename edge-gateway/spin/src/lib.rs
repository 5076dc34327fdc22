//! The edge gateway as a Spin HTTP component (spin-sdk 5.2, WASI 0.2).
//!
//! This crate is a thin adapter: it turns Spin's incoming request into the core's
//! [`http::Request`], implements the core's [`Ports`](edge_gateway_core::ports::Ports) over Spin's
//! capabilities, and turns the core's response back into a `wasi:http` response. Every decision
//! (routing, header rewriting, failover, refusals) is made by [`edge_gateway_core::Gateway`].
//!
//! The component exports `wasi:http/incoming-handler@0.2.0`, which every Spin release since 2.0
//! serves (Spin 3.x and 4.x, Fermyon's hosted platform, SpinKube): see
//! `docs/decisions/0008-spin-wasi-0-2.md`.
//!
//! | port | Spin capability |
//! |---|---|
//! | key-value | `fermyon:spin/key-value@2.0.0` store `default`, opened once per request |
//! | rate-limit counters | `wasi:keyvalue@0.2.0-draft2` compare-and-swap in the same store, see [`counters`] |
//! | upstream | `wasi:http/outgoing-handler` (WASI 0.2), timeouts as `request-options` |
//! | clock | `std::time::SystemTime` (the host's wall clock) |
//! | entropy | `wasi:random` |
//! | log | stderr |
//!
//! Bodies are never buffered whole: the client's request body is copied into the outgoing
//! request, and the shield's response body into the client's response, one chunk at a time
//! while both connections are open (see [`pipe`]).
//!
//! **Config is re-read on every request.** Spin creates a fresh instance for each request to a
//! WASI 0.2 component, so the core's in-memory config cache lives for one request only: each
//! request reads `routes/current` and the version document it names from the key-value store
//! (two reads). The core's `config_ttl_ms` has no effect on Spin. Having no memory between
//! requests, an instance whose `routes/current` leads to a broken document serves
//! `routes/last-good` instead (see the core's `live` module).
//!
//! A panic aborts the instance (stable Rust cannot unwind on wasm32): Spin answers that request
//! with an empty 500, and the next request gets a fresh instance anyway.
//!
//! The client address comes from the **last** `spin-client-addr` header: Spin appends its own
//! `spin-*` headers after the ones the client sent, so earlier instances may be forged (see
//! [`message`]). Every `spin-*` header is removed before the request reaches the core. Spin
//! knows nothing about the client's location: a deployment names the headers its CDN sets
//! (`settings.client_location`), else region choice uses the configured default position, or
//! each pool's order.
//!
//! **Region health.** Spin has no cron trigger in the HTTP world, and each instance lives for
//! one request, so passive observations (breakers, ejections) last one request only and the
//! shared `health/snapshot` is what carries health between requests. Every instance, once its
//! response is complete, runs the core's `probe_if_elected`: a one-per-interval exact limit on
//! the rate-limit counters (compare-and-swap) elects at most one instance per shortest
//! health-check interval, which probes every due shield and writes the snapshot. This runs
//! after the response because a WASI 0.2 instance keeps running after `ResponseOutparam::set`
//! and the body's `finish`: Spin's trigger (and the test host) return the response as soon as
//! it is set and let the instance's task run until the handler returns. No client waits for a
//! probe; with no traffic, nothing is probed (the snapshot then ages out and regions count as
//! unknown).
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod counters;
mod message;
mod pipe;
mod ports;
mod upstream;

use edge_gateway_core::{Body, Gateway};
use spin_sdk::http::{ErrorCode, IncomingRequest, OutgoingResponse, ResponseOutparam};

use crate::message::SpinStream;
use crate::ports::SpinPorts;

/// The export. Its only code is the ABI glue `http_component` generates, which needs `unsafe`.
#[allow(unsafe_code)] // Safety: the glue is spin-sdk's, generated for the WIT it was built from.
mod export {
    use spin_sdk::http::{IncomingRequest, ResponseOutparam};

    /// Spin calls this once per fresh instance.
    #[spin_sdk::http_component]
    async fn handle(request: IncomingRequest, out: ResponseOutparam) {
        super::serve(request, out).await;
    }
}

/// Serves one request.
async fn serve(request: IncomingRequest, out: ResponseOutparam) {
    let (request, client) = match message::from_spin(request) {
        Ok(parts) => parts,
        Err(error) => return fail(out, &error),
    };
    let ports = SpinPorts::open();
    let gateway = Gateway::new();
    let response = gateway.handle(&ports, request, &client).await;
    respond(out, response).await;
    probe_after_response(&gateway, &ports).await;
}

/// Probes the shields when this instance wins the interval's election, after the response is
/// complete (see the crate docs, "Region health").
async fn probe_after_response(gateway: &Gateway, ports: &SpinPorts) {
    match gateway.probe_if_elected(ports).await {
        Ok(Some(report)) => {
            let changed: Vec<String> = report
                .changed
                .iter()
                .map(|(region, healthy)| {
                    format!("{region} {}", if *healthy { "healthy" } else { "unhealthy" })
                })
                .collect();
            eprintln!(
                "edge-gateway INFO health probe: {} region(s) probed; changed: {}",
                report.probed.len(),
                if changed.is_empty() { "none".to_owned() } else { changed.join(", ") }
            );
        }
        Ok(None) => {}
        Err(error) => eprintln!("edge-gateway WARN health probe: {error}"),
    }
}

/// Sends the core's response: the head at once, then the body as it streams.
async fn respond(out: ResponseOutparam, response: http::Response<Body<SpinStream>>) {
    let (head, body) = response.into_parts();
    let outgoing = match message::fields(&head.headers) {
        Ok(fields) => OutgoingResponse::new(fields),
        Err(error) => return fail(out, &error),
    };
    if outgoing.set_status_code(head.status.as_u16()).is_err() {
        return fail(out, &anyhow::anyhow!("invalid status {}", head.status));
    }
    let Ok(destination) = outgoing.body() else {
        return fail(out, &anyhow::anyhow!("the response body was already taken"));
    };
    out.set(outgoing);
    if let Err(error) = pipe::send_body(body, destination).await {
        eprintln!("edge-gateway ERROR response body: {error}");
    }
}

/// Answers with a host error: Spin turns it into an empty 500.
fn fail(out: ResponseOutparam, error: &anyhow::Error) {
    eprintln!("edge-gateway ERROR {error:#}");
    let code = ErrorCode::InternalError(Some(error.to_string()));
    spin_sdk::wit::wasi::http0_2_0::types::ResponseOutparam::set(out.into_inner(), Err(code));
}
