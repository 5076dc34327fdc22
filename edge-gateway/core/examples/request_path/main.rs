//! Serves requests through the whole core pipeline over the in-memory fakes, natively, so that
//! `valgrind --tool=callgrind` can count the instructions of the request path (see
//! `docs/profile.md` and `scripts/bench/profile`).
//!
//! `cargo run --release -p edge-gateway-core --example request_path -- <kind> [n]`
//!
//! The upstream is the fake one, answering like an origin shield (seven headers, a short body).
//!
//! Kinds (each a route of one routes document, like `scripts/bench/workerd.mjs`'s):
//! - `plain`: a proxied route, no auth, no limit, no cache (the "gateway" row of the bench);
//! - `cached`: an edge-cache hit (the entry is stored by a warm-up request);
//! - `jwt`: an HS256 route, the same token on every request (verified-token cache hit);
//! - `limited`: an exact rate limit never exceeded (leases from one global counter);
//! - `refresh`: the plain route with the config TTL expired before every request (one KV read
//!   of `routes/current`, version unchanged);
//! - `cold`: a new [`Gateway`] per request, as on Spin (two KV reads and a parse of the document);
//! - `empty`: the driver alone (requests built and dropped, never served), to subtract;
//! - `phases`: each phase alone, `n` times, in functions named `phase_*` ([`phases`]).
//!
//! Only [`measured`] is meant to be counted (`--toggle-collect=*measured*`): requests are built
//! before it, and one warm-up request per kind has loaded the config, the key set, the cache
//! entry and the lease. Every response is checked, so a profile never measures a refusal.

mod phases;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use base64ct::{Base64UrlUnpadded, Encoding};
use edge_gateway_core::testing::{FakePorts, FakeStream};
use edge_gateway_core::{Body, ClientInfo, Gateway};
use http::{Request, Response, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

const NOW_MS: u64 = 1_700_000_000_000;
const SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
/// Extra routes before the bench routes, so the router and the config are not trivially small.
const FILLER_ROUTES: usize = 20;
const TTL_MS: u64 = 60_000;

/// One kind of request: its path and headers, and what its response must show.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Cached,
    Jwt,
    Limited,
    Refresh,
    Cold,
    Empty,
    Phases,
}

impl Kind {
    fn parse(name: &str) -> Option<Kind> {
        let kinds = [
            ("plain", Kind::Plain),
            ("cached", Kind::Cached),
            ("jwt", Kind::Jwt),
            ("limited", Kind::Limited),
            ("refresh", Kind::Refresh),
            ("cold", Kind::Cold),
            ("empty", Kind::Empty),
            ("phases", Kind::Phases),
        ];
        kinds.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    fn path(self) -> &'static str {
        match self {
            Kind::Cached => "/cached/item?id=1",
            Kind::Jwt => "/hs/item?id=1",
            Kind::Limited => "/limited/item?id=1",
            _ => "/bench/item?id=1",
        }
    }
}

fn routes() -> String {
    let mut routes: Vec<serde_json::Value> = (0..FILLER_ROUTES)
        .map(|i| json!({"id": format!("f{i}"), "path": format!("/svc{i}/items/{{id}}"), "pool": "main"}))
        .collect();
    routes.extend([
        json!({"id": "hs", "path": "/hs/{*rest}", "pool": "main", "auth": {"jwt": ["hs"]}}),
        json!({"id": "limited", "path": "/limited/{*rest}", "pool": "main", "rate_limit": ["exact"]}),
        json!({"id": "cached", "path": "/cached/{*rest}", "pool": "main", "cache": {"ttl_s": 3600}}),
        json!({"id": "bench", "path": "/{*rest}", "pool": "main"}),
    ]);
    json!({
        "settings": {"config_ttl_ms": TTL_MS, "rate_limit_deadline_ms": 1000},
        "regions": [{"name": "bench", "shield": "http://127.0.0.1:9101", "lat": 0, "lon": 0}],
        "pools": {"main": {"regions": ["bench"]}},
        "auth": {"issuers": {"hs": {
            "issuer": "https://idp.test", "audiences": ["bench"], "algorithms": ["HS256"],
            "jwks": {"keys": [{"kty": "oct", "kid": "hs-1", "k": Base64UrlUnpadded::encode_string(SECRET)}]}
        }}},
        "rate_limits": {"exact": {"limit": 1_000_000_000u64, "period_s": 60, "key": ["global"],
                                  "mode": "exact", "on_store_error": "fail_closed"}},
        "routes": routes,
    })
    .to_string()
}

/// An HS256 token for the `hs` issuer, valid for two hours from [`NOW_MS`].
fn token() -> String {
    let b64 = |v: serde_json::Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    let now = NOW_MS / 1000;
    let claims = json!({"iss": "https://idp.test", "sub": "bench", "aud": "bench", "scope": "read",
                        "iat": now, "exp": now + 7200});
    let input = format!("{}.{}", b64(json!({"alg": "HS256", "kid": "hs-1"})), b64(claims));
    let mut block = [0u8; 64];
    block[..SECRET.len()].copy_from_slice(SECRET);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(input.as_bytes()).finalize();
    let mac = Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    format!("{input}.{}", Base64UrlUnpadded::encode_string(&mac))
}

/// The request wrk sends (`Host` only) plus what a typical client adds.
fn request(kind: Kind, token: &str) -> Request<Body<FakeStream>> {
    let mut builder = Request::get(format!("http://gateway.test{}", kind.path()))
        .header("host", "gateway.test")
        .header("user-agent", "bench/1.0")
        .header("accept", "*/*");
    if kind == Kind::Jwt {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::Empty).expect("request")
}

/// What the fake upstream answers: an origin shield's response to a small GET.
fn shield_response() -> Response<Body<FakeStream>> {
    let mut response = Response::new(Body::Stream(bytes::Bytes::from_static(b"{\"id\":1}")));
    *response.status_mut() = StatusCode::OK;
    let headers = [
        ("content-type", "application/json"),
        ("content-length", "8"),
        ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ("etag", "\"33a64df5\""),
        ("cache-control", "public, max-age=60"),
        ("cache-status", "origin-shield; hit"),
        ("age", "3"),
    ];
    for (name, value) in headers {
        response.headers_mut().insert(name, http::HeaderValue::from_static(value));
    }
    response
}

fn client() -> ClientInfo {
    ClientInfo { ip: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))), ..ClientInfo::default() }
}

/// Panics unless `response` is what `kind` must produce: a profile of refusals is worthless.
fn check(kind: Kind, response: &Response<Body<FakeStream>>) {
    assert_eq!(response.status(), 200, "{} answered {}", kind.path(), response.status());
    let cache_status = response.headers().get("cache-status").and_then(|v| v.to_str().ok()).unwrap_or("");
    match kind {
        Kind::Cached => assert!(cache_status.contains("; hit"), "not a hit: {cache_status}"),
        Kind::Limited => assert!(response.headers().contains_key("ratelimit"), "no RateLimit fields"),
        _ => {}
    }
}

/// The instance state of one run: the gateway and its ports.
struct World {
    gateway: Gateway,
    ports: FakePorts,
    client: ClientInfo,
}

impl World {
    fn new() -> World {
        let ports = FakePorts::default();
        ports.clock.set(NOW_MS);
        ports.publish("bench", &routes());
        ports.upstream.answer(|_| Ok(shield_response()));
        World { gateway: Gateway::new(), ports, client: client() }
    }

    fn serve(&self, gateway: &Gateway, request: Request<Body<FakeStream>>) -> Response<Body<FakeStream>> {
        pollster::block_on(gateway.handle(&self.ports, request, &self.client))
    }
}

/// Serves `requests` one after the other; the only function a profile counts.
#[inline(never)]
fn measured(world: &World, kind: Kind, requests: Vec<Request<Body<FakeStream>>>) -> usize {
    let mut served = 0;
    for request in requests {
        match kind {
            Kind::Empty | Kind::Phases => drop(black_box(request)),
            Kind::Cold => {
                let response = world.serve(&Gateway::new(), request);
                check(kind, &response);
                served += 1;
            }
            _ => {
                if kind == Kind::Refresh {
                    world.ports.clock.advance(TTL_MS);
                }
                let response = world.serve(&world.gateway, request);
                check(kind, &response);
                served += 1;
            }
        }
    }
    served
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "plain".into());
    let kind = Kind::parse(&name).unwrap_or_else(|| {
        eprintln!("usage: request_path <plain|cached|jwt|limited|refresh|cold|empty|phases> [n]");
        std::process::exit(2)
    });
    let n: usize = args.next().map_or(1000, |n| n.parse().expect("n: a number"));
    let world = World::new();
    let token = token();
    if kind == Kind::Phases {
        return phases::run(&world, &token, n);
    }
    // Warm-up: config loaded, key set parsed, token verified, cache entry stored, lease taken;
    // the second request already takes the measured path.
    if kind != Kind::Empty {
        let first = world.serve(&world.gateway, request(kind, &token));
        assert_eq!(first.status(), 200, "warm-up answered {}", first.status());
        check(kind, &world.serve(&world.gateway, request(kind, &token)));
    }
    let requests: Vec<_> = (0..n).map(|_| request(kind, &token)).collect();
    let served = measured(&world, kind, requests);
    println!("{name}: {served} requests served");
}
