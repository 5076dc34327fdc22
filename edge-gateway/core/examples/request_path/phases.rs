//! The request path's phases one at a time: each `phase_*` function runs one stage's public
//! entry point `n` times on inputs built before it, so its inclusive instruction count divided by
//! `n` is that phase's cost, whatever the compiler inlined into the pipeline.
//!
//! The inputs are those of the `plain`, `jwt` and `limited` kinds, on warm state (config loaded,
//! token verified, lease held), as in the whole-request runs.

use std::hint::black_box;
use std::rc::Rc;

use edge_gateway_core::auth::identity::Identity;
use edge_gateway_core::cache::status::{CacheStatus, Forward};
use edge_gateway_core::config::Config;
use edge_gateway_core::forward::{self, ForwardFacts, Trace};
use edge_gateway_core::live::LiveConfig;
use edge_gateway_core::ratelimit::key::KeyFacts;
use edge_gateway_core::routing::RouteMatch;
use edge_gateway_core::stages::edge_cache::{self, CACHE_NAME};
use edge_gateway_core::stages::{Authenticator, Limiter};
use edge_gateway_core::testing::FakeStream;
use edge_gateway_core::{Body, limits};
use http::request::Parts;
use http::{HeaderMap, Response};

use crate::{Kind, World, request, shield_response};

/// The phases, by the name `scripts/bench/profile` prints.
pub(crate) const PHASES: [&str; 9] = [
    "config_ttl_check",
    "limits_and_normalize",
    "routing",
    "auth_jwt_cached",
    "rate_limit_exact",
    "trace_ids",
    "upstream_request_headers",
    "response_headers",
    "cache_status_mark",
];

/// Warm per-instance state of each stage, outside any [`edge_gateway_core::Gateway`].
struct Stages {
    live: LiveConfig,
    config: Rc<Config>,
    auth: Authenticator,
    limiter: Limiter,
}

fn heads(kind: Kind, n: usize, token: &str) -> Vec<Parts> {
    (0..n).map(|_| request(kind, token).into_parts().0).collect()
}

fn route(config: &Config, head: &Parts) -> usize {
    let host = limits::host(head).unwrap_or_default();
    match config.router.lookup(&config.routes, host, &head.method, head.uri.path()) {
        RouteMatch::Found { route, .. } => route,
        other => panic!("no route for {}: {other:?}", head.uri),
    }
}

fn warm(world: &World, token: &str) -> Stages {
    let live = LiveConfig::default();
    let config = pollster::block_on(live.current(&world.ports)).expect("config");
    let (auth, limiter) = (Authenticator::default(), Limiter::default());
    for _ in 0..2 {
        let jwt = request(Kind::Jwt, token).into_parts().0;
        let policy = config.routes[route(&config, &jwt)].auth.as_ref();
        pollster::block_on(auth.authenticate(&world.ports, &config, policy, &jwt)).expect("token");
        let limited = request(Kind::Limited, token).into_parts().0;
        limit(&world.ports, &limiter, &config, &limited, world);
    }
    Stages { live, config, auth, limiter }
}

fn limit(
    ports: &edge_gateway_core::testing::FakePorts,
    limiter: &Limiter,
    config: &Config,
    head: &Parts,
    world: &World,
) {
    let route = &config.routes[route(config, head)];
    let facts = KeyFacts {
        route_id: &route.id,
        identity: &Identity::Anonymous,
        client_ip: world.client.ip,
        headers: &head.headers,
    };
    let fields = pollster::block_on(limiter.check(ports, config, route, &facts)).expect("admitted");
    assert!(!fields.is_empty(), "the limited route answers RateLimit fields");
}

#[inline(never)]
fn phase_config_ttl_check(world: &World, stages: &Stages, n: usize) {
    for _ in 0..n {
        black_box(pollster::block_on(stages.live.current(&world.ports)).expect("config"));
    }
}

#[inline(never)]
fn phase_limits_and_normalize(stages: &Stages, mut heads: Vec<Parts>) {
    for head in &mut heads {
        limits::check(head, &stages.config.settings).expect("within limits");
        limits::normalize(head).expect("normal");
    }
    black_box(heads);
}

#[inline(never)]
fn phase_routing(stages: &Stages, heads: Vec<Parts>) {
    let config = &stages.config;
    for head in &heads {
        let host = limits::host(head).unwrap_or_default();
        black_box(config.router.lookup(&config.routes, host, &head.method, head.uri.path()));
    }
}

#[inline(never)]
fn phase_auth_jwt_cached(world: &World, stages: &Stages, heads: Vec<Parts>) {
    let config = &stages.config;
    let policy = config.routes[route(config, &heads[0])].auth.as_ref();
    for head in &heads {
        let identity = pollster::block_on(stages.auth.authenticate(&world.ports, config, policy, head));
        black_box(identity.expect("valid token"));
    }
}

#[inline(never)]
fn phase_rate_limit_exact(world: &World, stages: &Stages, heads: Vec<Parts>) {
    for head in &heads {
        limit(&world.ports, &stages.limiter, &stages.config, head, world);
    }
}

#[inline(never)]
fn phase_trace_ids(world: &World, heads: Vec<Parts>) {
    for head in &heads {
        let trace = Trace::start(&head.headers, &world.ports.entropy);
        black_box(forward::trace::request_id(&head.headers, &trace));
        black_box(trace);
    }
}

/// What `pipeline/failover.rs` does before sending: the upstream headers, path and URI.
#[inline(never)]
fn phase_upstream_request_headers(world: &World, stages: &Stages, heads: Vec<Parts>, traces: Vec<Trace>) {
    let config = &stages.config;
    for (head, trace) in heads.iter().zip(&traces) {
        let host = limits::host(head).unwrap_or_default().to_owned();
        let proto = head.uri.scheme_str().unwrap_or("https").to_owned();
        let facts = ForwardFacts {
            client_ip: world.client.ip,
            proto: &proto,
            host: &host,
            request_id: &trace.trace_id,
            trace,
        };
        black_box(forward::upstream_headers(&head.headers, &facts));
        let route = &config.routes[route(config, head)];
        let path = forward::edit_path(&route.path_edit, head.uri.path(), &[]);
        let region = &config.regions[config.pools[route.pool].regions[0]];
        black_box(forward::upstream_uri(region, &path, head.uri.query()).expect("uri"));
    }
}

#[inline(never)]
fn phase_response_headers(mut responses: Vec<HeaderMap>, request_id: &str) {
    for headers in &mut responses {
        forward::client_headers(headers, request_id, "bench", "bench");
    }
    black_box(responses);
}

#[inline(never)]
fn phase_cache_status_mark(mut responses: Vec<Response<Body<FakeStream>>>) {
    for response in &mut responses {
        let status = CacheStatus {
            fwd_status: Some(response.status()),
            ..CacheStatus::forward(CACHE_NAME, Forward::Bypass)
        };
        edge_cache::mark(response, &status);
    }
    black_box(responses);
}

/// Runs every phase `n` times.
pub(crate) fn run(world: &World, token: &str, n: usize) {
    let stages = warm(world, token);
    phase_config_ttl_check(world, &stages, n);
    phase_limits_and_normalize(&stages, heads(Kind::Plain, n, token));
    phase_routing(&stages, heads(Kind::Plain, n, token));
    phase_auth_jwt_cached(world, &stages, heads(Kind::Jwt, n, token));
    phase_rate_limit_exact(world, &stages, heads(Kind::Limited, n, token));
    phase_trace_ids(world, heads(Kind::Plain, n, token));
    let traces = (0..n).map(|_| Trace::start(&HeaderMap::new(), &world.ports.entropy)).collect();
    phase_upstream_request_headers(world, &stages, heads(Kind::Plain, n, token), traces);
    let shield_headers = || shield_response().into_parts().0.headers;
    phase_response_headers((0..n).map(|_| shield_headers()).collect(), "0af7651916cd43dd8448eb211c80319c");
    phase_cache_status_mark((0..n).map(|_| shield_response()).collect());
    println!("phases: {} × {n}", PHASES.len());
}
