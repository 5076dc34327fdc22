//! Micro-benchmarks of the per-request decisions: route lookup, config parsing, JWT checks,
//! path normalisation.
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

criterion_group!(benches, routing, parsing, jwt, normalisation);
criterion_main!(benches);
