//! Micro-benchmarks of the per-request decisions: route lookup and config parsing.
//!
//! `cargo bench -p edge-gateway-core`. Baselines in the same run: a `HashMap` lookup of the exact
//! path (the cheapest possible router) and `serde_json::Value` parsing of the same document
//! (parsing without validation or router compilation).
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

fn routing(c: &mut Criterion) {
    let config = Config::from_json(document(100).as_bytes()).unwrap();
    let exact: HashMap<String, usize> = (0..100).map(|i| (format!("/svc{i}/items/7/a/b"), i)).collect();
    let mut group = c.benchmark_group("route_lookup_100_routes");
    group.bench_function("gateway_router", |b| {
        b.iter(|| {
            config.router.lookup(
                &config.routes,
                black_box("x.example.com"),
                &Method::GET,
                black_box("/svc97/items/7/a/b"),
            )
        })
    });
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

criterion_group!(benches, routing, parsing);
criterion_main!(benches);
