//! Micro-benchmarks of the per-request decisions: route lookup, config parsing, JWT checks,
//! path normalisation, rate-limit decisions.
//!
//! `cargo bench -p edge-gateway-core`. Baselines in the same run: a `HashMap` lookup of the exact
//! path (the cheapest possible router), `serde_json::Value` parsing of the same document
//! (parsing without validation or router compilation), and a verified-token cache hit (what a
//! repeated token costs instead of a signature check).
#![allow(missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edge_gateway_core::config::Config;
use http::Method;

/// A document with `n` routes over a few hosts, params and catch-alls.
fn document(n: usize) -> String {
    let routes: Vec<String> = (0..n)
        .map(|i| {
            let host = match i % 3 {
                0 => r#"["api.example.com"]"#,
                1 => r#"["*.example.com"]"#,
                _ => "[]",
            };
            format!(
                r#"{{"id":"r{i}","hosts":{host},"methods":["GET","POST"],"path":"/svc{i}/items/{{id}}/{{*rest}}","pool":"p"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"regions":[{{"name":"eu","shield":"http://127.0.0.1:9101","lat":1,"lon":2}}],
            "pools":{{"p":{{"regions":["eu"]}}}},"routes":[{}]}}"#,
        routes.join(",")
    )
}

/// The lookup every routing benchmark measures: a catch-all route near the end of 100.
fn lookup_svc97(config: &Config) -> edge_gateway_core::routing::RouteMatch {
    config.router.lookup(
        &config.routes,
        black_box("x.example.com"),
        &Method::GET,
        black_box("/svc97/items/7/a/b"),
    )
}

fn routing(c: &mut Criterion) {
    let config = Config::from_json(document(100).as_bytes()).unwrap();
    let exact: HashMap<String, usize> = (0..100).map(|i| (format!("/svc{i}/items/7/a/b"), i)).collect();
    let mut group = c.benchmark_group("route_lookup_100_routes");
    group.bench_function("gateway_router", |b| b.iter(|| lookup_svc97(&config)));
    group.bench_function("baseline_hashmap_exact_path", |b| {
        b.iter(|| exact.get(black_box("/svc97/items/7/a/b")))
    });
    group.finish();
}

fn parsing(c: &mut Criterion) {
    let doc = document(100);
    let mut group = c.benchmark_group("config_parse_100_routes");
    group.bench_function("validate_and_compile", |b| {
        b.iter(|| Config::from_json(black_box(doc.as_bytes())).unwrap())
    });
    group.bench_function("baseline_serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(doc.as_bytes())).unwrap())
    });
    group.finish();
}

/// Signature + claims check per algorithm, natively; the token cache hit is the baseline.
fn jwt(c: &mut Criterion) {
    use edge_gateway_core::auth::{IssuerPolicy, IssuerPolicySpec, Jwks, TokenCache, verify};
    use jwt_compact::alg::{Ed25519, Es256, Hs256, Hs256Key, Rsa, RsaPrivateKey, SigningKey as _};
    use jwt_compact::jwk::JsonWebKey;
    use jwt_compact::{AlgorithmExt as _, Claims, Header};

    let now = 1_700_000_000_000u64;
    let claims =
        Claims::new(serde_json::json!({"iss": "https://i.test", "sub": "s", "exp": now / 1000 + 600}));
    let header = |kid: &str| Header::empty().with_key_id(kid);
    let secret = [7u8; 32];
    let ec = jwt_compact::alg::SigningKey::<Es256>::from_slice(&[9u8; 32]).unwrap();
    let ed = jwt_compact::alg::SigningKey::<Ed25519>::from_slice(&[5u8; 32]).unwrap();
    let rsa = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let jwk = |kid: &str, key: JsonWebKey<'_>| {
        let mut value = serde_json::to_value(key).unwrap();
        value["kid"] = serde_json::json!(kid);
        value
    };
    let keys = serde_json::json!({"keys": [
        {"kty": "oct", "kid": "hs", "k": <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(&secret)},
        jwk("es", JsonWebKey::from(&ec.to_verifying_key())),
        jwk("ed", JsonWebKey::from(&ed.to_verifying_key())),
        jwk("rs", JsonWebKey::from(&rsa.to_public_key())),
    ]});
    let jwks = Jwks::parse(keys.to_string().as_bytes()).unwrap().jwks;
    let policy = IssuerPolicy::try_from(IssuerPolicySpec {
        issuer: "https://i.test".into(),
        algorithms: ["HS256", "ES256", "EdDSA", "RS256"].map(String::from).to_vec(),
        ..IssuerPolicySpec::default()
    })
    .unwrap();
    let tokens = [
        ("HS256", Hs256.token(&header("hs"), &claims, &Hs256Key::new(secret)).unwrap()),
        ("ES256", Es256.token(&header("es"), &claims, &ec).unwrap()),
        ("EdDSA", Ed25519.token(&header("ed"), &claims, &ed).unwrap()),
        ("RS256", Rsa::rs256().token(&header("rs"), &claims, &rsa).unwrap()),
    ];
    let mut group = c.benchmark_group("jwt_verify");
    for (name, token) in &tokens {
        group.bench_function(*name, |b| b.iter(|| verify(black_box(token), &jwks, &policy, now).unwrap()));
    }
    let mut cache = TokenCache::new(512, 300_000);
    cache.insert(&tokens[3].1, verify(&tokens[3].1, &jwks, &policy, now).unwrap(), now);
    group.bench_function("baseline_token_cache_hit", |b| {
        b.iter(|| cache.get(black_box(&tokens[3].1), now).is_some())
    });
    group.finish();
}

/// The normalisation every request pays before routing: an already-normal path (the common
/// case, no allocation) and one that needs decoding and merging, against the route lookup that
/// follows it.
fn normalisation(c: &mut Criterion) {
    let config = Config::from_json(document(100).as_bytes()).unwrap();
    let mut group = c.benchmark_group("normalise_then_route");
    group.bench_function("normal_path", |b| {
        b.iter(|| edge_gateway_core::normalize::path(black_box("/svc97/items/7/a/b")).unwrap())
    });
    group.bench_function("encoded_path", |b| {
        b.iter(|| edge_gateway_core::normalize::path(black_box("/svc97/%69tems//7/%61/b")).unwrap())
    });
    group.bench_function("baseline_route_lookup", |b| b.iter(|| lookup_svc97(&config)));
    group.finish();
}

/// The rate-limit decisions a request pays: one sliding-window and one GCRA check, a
/// hierarchical check of three policies, a lease grant at the counter, a local spend from a
/// lease (what most requests cost in exact mode), and building a counter key.
fn ratelimit(c: &mut Criterion) {
    use edge_gateway_core::auth::identity::Identity;
    use edge_gateway_core::ratelimit::key::{KeyFacts, counter_key};
    use edge_gateway_core::ratelimit::lease::{self, LeaseRequest, LeaseSettings, Local};
    use edge_gateway_core::ratelimit::{
        Algorithm, Check, KeyPart, Mode, OnStoreError, Policy, Rate, SlidingState, State, admit_all, decide,
    };

    let now = 1_700_000_005_000;
    let sliding = Rate { algorithm: Algorithm::SlidingWindow, limit: 1000, period_ms: 60_000 };
    let gcra = Rate { algorithm: Algorithm::Gcra { burst: 50 }, limit: 1000, period_ms: 60_000 };
    let window =
        State::Sliding(SlidingState { window_start: now - now % 60_000, current: 400, previous: 700 });
    let mut group = c.benchmark_group("ratelimit_decide");
    group.bench_function("sliding_window", |b| {
        b.iter(|| decide(black_box(window), 1, &sliding, black_box(now)))
    });
    group.bench_function("gcra", |b| {
        b.iter(|| decide(black_box(gcra.initial_state()), 1, &gcra, black_box(now)))
    });
    let checks = [
        Check { rate: sliding, cost: 1, shadow: false, state: window },
        Check { rate: gcra, cost: 1, shadow: false, state: gcra.initial_state() },
        Check { rate: Rate { limit: 100, ..sliding }, cost: 1, shadow: true, state: window },
    ];
    group.bench_function("admit_all_3_policies", |b| b.iter(|| admit_all(black_box(&checks), now)));
    let settings = LeaseSettings::default();
    let request = LeaseRequest { cost: 1, want: 1, instances: 20, returned: None };
    group.bench_function("lease_grant", |b| {
        b.iter(|| lease::grant(&sliding, black_box(window), &request, &settings, black_box(now)))
    });
    let local = Local { tokens: 10, expires_at: now + 1000, charged_at: 0, denied_until: 0 };
    group.bench_function("lease_local_spend", |b| {
        b.iter(|| {
            let mut local = black_box(local);
            let step = local.step(1, black_box(now));
            local.spend(1);
            (step, local)
        })
    });
    let policy = Policy {
        name: "tenant-route".into(),
        rate: sliding,
        key: vec![KeyPart::Claim("tenant".into()), KeyPart::Route, KeyPart::ClientIp],
        cost: 1,
        mode: Mode::Exact,
        on_store_error: OnStoreError::FailOpen,
        shadow: false,
    };
    let identity = Identity::ApiKey { id: "k1".into(), tenant: "acme".into(), scopes: vec![] };
    let headers = http::HeaderMap::new();
    let facts = KeyFacts {
        route_id: "orders",
        identity: &identity,
        client_ip: "203.0.113.9".parse().ok(),
        headers: &headers,
    };
    group.bench_function("counter_key", |b| b.iter(|| counter_key(&policy, black_box(&facts))));
    group.finish();
}

/// Region selection with geo, health and residency against the fixed configured order.
fn selection(c: &mut Criterion) {
    use edge_gateway_core::geo::{self, GeoPoint, Whereabouts};
    let regions: Vec<String> = (0..8)
        .map(|i| {
            format!(
                r#"{{"name":"r{i}","shield":"http://r{i}.shield","lat":{},"lon":{},"continent":"{}","tier":"{}"}}"#,
                -60 + i * 15,
                -150 + i * 40,
                if i % 2 == 0 { "EU" } else { "NA" },
                if i == 7 { "backup" } else { "primary" }
            )
        })
        .collect();
    let names: Vec<String> = (0..8).map(|i| format!("\"r{i}\"")).collect();
    let doc = format!(
        r#"{{"regions":[{}],"pools":{{"p":{{"regions":[{}]}}}},"routes":[{{"id":"x","path":"/x","pool":"p"}}]}}"#,
        regions.join(","),
        names.join(",")
    );
    let config = Config::from_json(doc.as_bytes()).expect("valid");
    let pool = &config.pools[0];
    let client = Whereabouts { point: Some(GeoPoint { lat: 48.8, lon: 2.3 }), ..Whereabouts::default() };
    let eu: Vec<usize> = (0..8).filter(|i| i % 2 == 0).collect();
    let mut group = c.benchmark_group("region_selection_8_regions");
    group.bench_function("configured_order", |b| b.iter(|| std::hint::black_box(pool.regions.clone())));
    group.bench_function("geo_health_tiers", |b| {
        b.iter(|| geo::select(&pool.regions, &config.regions, None, &client, &|i| i != 3, 8))
    });
    group.bench_function("geo_health_residency", |b| {
        b.iter(|| geo::select(&pool.regions, &config.regions, Some(&eu), &client, &|i| i != 3, 8))
    });
    group.finish();
}

criterion_group!(benches, routing, parsing, jwt, normalisation, ratelimit, selection);
criterion_main!(benches);
