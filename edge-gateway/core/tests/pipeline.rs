//! The whole pipeline over the in-memory fakes: config life cycle, forwarding, refusals,
//! failover.
#![allow(missing_docs)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use edge_gateway_core::ports::{Level, UpstreamError};
use edge_gateway_core::problem::Problem;
use edge_gateway_core::testing::{FakePorts, FakeStream, ok_response};
use edge_gateway_core::{Body, ClientInfo, Gateway};
use http::{Request, Response, StatusCode};

fn doc(ttl_ms: u64, prefix: &str) -> String {
    format!(
        r#"{{"settings":{{"config_ttl_ms":{ttl_ms},"max_request_body_bytes":100,"max_url_bytes":64,"max_header_bytes":512}},
        "regions":[{{"name":"eu","shield":"http://eu.shield:9101","lat":53,"lon":-6}},
                   {{"name":"us","shield":"http://us.shield:9102","lat":39,"lon":-77}}],
        "pools":{{"api":{{"regions":["eu","us"]}},"solo":{{"regions":["eu"]}}}},
        "routes":[{{"id":"r","methods":["GET","POST"],"path":"{prefix}/{{*rest}}","pool":"api","strip_prefix":"{prefix}"}},
                  {{"id":"solo","path":"/solo","pool":"solo","timeouts":{{"connect_ms":5,"response_ms":7}}}}]}}"#
    )
}

fn get(uri: &str) -> Request<Body<FakeStream>> {
    Request::get(uri).body(Body::Empty).unwrap()
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))),
        location: None,
        ..ClientInfo::default()
    }
}

fn serve(
    gateway: &Gateway,
    ports: &FakePorts,
    request: Request<Body<FakeStream>>,
) -> Response<Body<FakeStream>> {
    pollster::block_on(gateway.handle(ports, request, &client()))
}

fn problem(response: &Response<Body<FakeStream>>) -> Problem {
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    serde_json::from_slice(response.body().as_bytes().expect("problem body")).expect("problem json")
}

#[test]
fn cold_instance_without_config_answers_503_problem() {
    let (gateway, ports) = (Gateway::new(), FakePorts::default());
    let response = serve(&gateway, &ports, get("https://a.test/api/x"));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = problem(&response);
    assert_eq!(body.kind, "urn:edge-gateway:problem:no-config");
    assert_eq!(body.status, 503);
    assert!(ports.log.contains(Level::Error, "`routes/current` is not set"));
    // Both pointers were read; within a second KV is not read again.
    assert_eq!(ports.kv.reads(), 2);
    serve(&gateway, &ports, get("https://a.test/api/x"));
    assert_eq!(ports.kv.reads(), 2);
    ports.clock.advance(1000);
    serve(&gateway, &ports, get("https://a.test/api/x"));
    assert_eq!(ports.kv.reads(), 4);
}

#[test]
fn forwards_with_rewritten_headers_and_path() {
    let (gateway, ports) = (Gateway::new(), FakePorts::default());
    ports.publish("v1", &doc(1000, "/api"));
    let request = Request::get("https://a.test/api/items/7?q=1")
        .header("x-forwarded-for", "6.6.6.6")
        .header("forwarded", "for=6.6.6.6")
        .header("connection", "close, x-secret")
        .header("x-secret", "hop")
        .header("keep-alive", "timeout=5")
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .header("tracestate", "vendor=1")
        .header("x-request-id", "abc-123")
        .body(Body::Empty)
        .unwrap();
    let response = serve(&gateway, &ports, request);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    assert_eq!(response.headers()["x-edge-region"], "eu");
    assert_eq!(response.headers()["via"], "1.1 edge-gateway");
    let sent = ports.upstream.sent();
    let (upstream, timeouts) = &sent[0];
    assert_eq!(upstream.uri(), "http://eu.shield:9101/items/7?q=1");
    assert_eq!(timeouts.connect, Duration::from_secs(2));
    let h = upstream.headers();
    assert_eq!(h["x-forwarded-for"], "203.0.113.9");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-host"], "a.test");
    assert_eq!(h["forwarded"], "for=203.0.113.9;proto=https;host=a.test");
    assert_eq!(h["via"], "1.1 edge-gateway");
    assert_eq!(h["x-request-id"], "abc-123");
    assert_eq!(h["tracestate"], "vendor=1");
    let traceparent = h["traceparent"].to_str().unwrap();
    assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{traceparent}");
    assert!(!traceparent.contains("00f067aa0ba902b7"), "the gateway is the new parent: {traceparent}");
    for gone in ["connection", "x-secret", "keep-alive", "host"] {
        assert!(!h.contains_key(gone), "{gone} must not be forwarded");
    }
}

#[test]
fn invalid_traceparent_starts_a_new_trace() {
    let (gateway, ports) = (Gateway::new(), FakePorts::default());
    ports.publish("v1", &doc(1000, "/api"));
    let request = Request::get("https://a.test/api/x")
        .header("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01")
        .header("tracestate", "vendor=1")
        .header("x-request-id", "bad id with spaces")
        .body(Body::Empty)
        .unwrap();
    let response = serve(&gateway, &ports, request);
    let sent = ports.upstream.sent();
    let h = sent[0].0.headers();
    let traceparent = h["traceparent"].to_str().unwrap();
    let trace_id = traceparent.split('-').nth(1).unwrap();
    assert_eq!(trace_id.len(), 32);
    assert_ne!(trace_id, "00000000000000000000000000000000");
    assert!(!h.contains_key("tracestate"));
    assert_eq!(response.headers()["x-request-id"], trace_id, "request id falls back to the trace id");
}

#[test]
fn refusals_are_problems_with_the_right_status() {
    let (gateway, ports) = (Gateway::new(), FakePorts::default());
    ports.publish("v1", &doc(1000, "/api"));
    let long = format!("https://a.test/api/{}", "x".repeat(80));
    let big_header = "y".repeat(600);
    let cases: Vec<(Request<Body<FakeStream>>, u16, &str)> = vec![
        (get("https://a.test/nope"), 404, "route-not-found"),
        (Request::delete("https://a.test/api/x").body(Body::Empty).unwrap(), 405, "method-not-allowed"),
        (get(&long), 414, "uri-too-long"),
        (
            Request::get("https://a.test/api/x").header("x-big", big_header).body(Body::Empty).unwrap(),
            431,
            "headers-too-large",
        ),
        (
            Request::post("https://a.test/api/x").header("content-length", "101").body(Body::Empty).unwrap(),
            413,
            "payload-too-large",
        ),
        (
            Request::post("https://a.test/api/x")
                .header("content-length", "1")
                .header("content-length", "2")
                .body(Body::Empty)
                .unwrap(),
            400,
            "bad-request",
        ),
        (
            Request::post("https://a.test/api/x")
                .header("content-length", "1")
                .header("transfer-encoding", "chunked")
                .body(Body::Empty)
                .unwrap(),
            400,
            "bad-request",
        ),
        (get("https://a.test/api/../admin"), 400, "bad-request"),
        (get("https://a.test/api/%2E%2e/admin"), 400, "bad-request"),
        (Request::get("/api/x").body(Body::Empty).unwrap(), 400, "bad-request"),
        (
            Request::get("https://a.test/api/x")
                .header("via", "1.1 cdn, 1.1 edge-gateway")
                .body(Body::Empty)
                .unwrap(),
            508,
            "loop-detected",
        ),
    ];
    for (request, status, kind) in cases {
        let label = format!("{} {}", request.method(), request.uri());
        let response = serve(&gateway, &ports, request);
        assert_eq!(response.status().as_u16(), status, "{label}");
        let body = problem(&response);
        assert_eq!(body.kind, format!("urn:edge-gateway:problem:{kind}"), "{label}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(Some(response.headers()["x-request-id"].to_str().unwrap()), body.request_id.as_deref());
        if status == 405 {
            assert_eq!(response.headers()["allow"], "GET, HEAD, POST");
        }
    }
    assert!(ports.upstream.sent().is_empty(), "no refused request reaches an upstream");
}

#[test]
fn upstream_failures_map_to_502_and_504_without_internals() {
    let (gateway, ports) = (Gateway::new(), FakePorts::default());
    ports.publish("v1", &doc(1000, "/api"));
    ports.upstream.answer(|_| Err(UpstreamError::Connect("connection refused at 10.0.0.7".into())));
    let response = serve(&gateway, &ports, get("https://a.test/solo"));
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = problem(&response);
    assert_eq!(body.detail, "the upstream could not be reached");
    assert_eq!(ports.upstream.sent()[0].1.connect, Duration::from_millis(5));
    assert!(ports.log.contains(Level::Warn, "10.0.0.7"), "the details go to the log");

    ports.upstream.answer(|_| Err(UpstreamError::Timeout(Duration::from_millis(7))));
    let response = serve(&gateway, &ports, get("https://a.test/solo"));
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(problem(&response).kind, "urn:edge-gateway:problem:upstream-timeout");
}

#[test]
fn fails_over_to_the_next_region_when_safe() {
    let (gateway, ports) = (Gateway::new(), FakePorts::default());
    ports.publish("v1", &doc(1000, "/api"));
    ports.upstream.answer(|request| match request.uri().host() {
        Some("eu.shield") => Err(UpstreamError::Connect("refused".into())),
        _ => Ok(ok_response("from us")),
    });
    let response = serve(&gateway, &ports, get("https://a.test/api/x"));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-edge-region"], "us");
    assert_eq!(ports.upstream.sent().len(), 2);

    // A 503 from a region fails over for GET, but not for POST (not idempotent).
    ports.upstream.answer(|request| match request.uri().host() {
        Some("eu.shield") => Ok(Response::builder().status(503).body(Body::Empty).unwrap()),
        _ => Ok(ok_response("from us")),
    });
    let response = serve(&gateway, &ports, get("https://a.test/api/x"));
    assert_eq!(response.headers()["x-edge-region"], "us");
    let post = Request::post("https://a.test/api/x").body(Body::Empty).unwrap();
    let response = serve(&gateway, &ports, post);
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "the region's answer is passed through");
    assert_eq!(response.headers()["x-edge-region"], "eu");

    // A small body is kept, so a POST that reached no region (connect failure) goes to the
    // next one with its body (tests/failover.rs covers bodies too large to keep).
    ports.upstream.answer(|_| Err(UpstreamError::Connect("refused".into())));
    let before = ports.upstream.sent().len();
    let post =
        Request::post("https://a.test/api/x").body(Body::Stream(FakeStream::from_static(b"data"))).unwrap();
    assert_eq!(serve(&gateway, &ports, post).status(), StatusCode::BAD_GATEWAY);
    let sent = ports.upstream.sent();
    assert_eq!(sent.len(), before + 2);
    assert!(sent[before..].iter().all(|(r, _)| matches!(r.body(), Body::Bytes(b) if b.as_ref() == b"data")));
}

#[test]
fn nearest_region_first_when_the_client_location_is_known() {
    let (gateway, ports) = (Gateway::new(), FakePorts::default());
    ports.publish("v1", &doc(1000, "/api"));
    let near_us = ClientInfo {
        ip: None,
        location: Some(edge_gateway_core::geo::GeoPoint { lat: 40.7, lon: -74.0 }),
        ..ClientInfo::default()
    };
    let response = pollster::block_on(gateway.handle(&ports, get("https://a.test/api/x"), &near_us));
    assert_eq!(response.headers()["x-edge-region"], "us");
    assert!(!ports.upstream.sent()[0].0.headers().contains_key("x-forwarded-for"), "no client ip, no XFF");
}

#[test]
fn invalid_update_keeps_last_known_good_and_a_valid_one_switches_after_ttl() {
    let (gateway, ports) = (Gateway::new(), FakePorts::default());
    ports.publish("v1", &doc(1000, "/api"));
    assert_eq!(serve(&gateway, &ports, get("https://a.test/api/x")).status(), StatusCode::OK);

    // v2 is broken (written by hand, so last-good still names v1): the instance keeps v1.
    ports.force_current("v2", r#"{"regions": "oops"}"#);
    ports.clock.advance(1000);
    assert_eq!(serve(&gateway, &ports, get("https://a.test/api/x")).status(), StatusCode::OK);
    assert_eq!(gateway.config_version().as_deref(), Some("v1"));
    assert!(ports.log.contains(Level::Warn, "keeping last-known-good version v1: version v2 is invalid"));

    // The pointer names a missing document: still v1.
    ports.kv.put("routes/current", "v9");
    ports.clock.advance(1000);
    assert_eq!(serve(&gateway, &ports, get("https://a.test/api/x")).status(), StatusCode::OK);
    assert!(ports.log.contains(Level::Warn, "`routes/versions/v9` is missing"));

    // KV itself fails: still v1.
    *ports.kv.fail.borrow_mut() = Some("kv down".into());
    ports.clock.advance(1000);
    assert_eq!(serve(&gateway, &ports, get("https://a.test/api/x")).status(), StatusCode::OK);
    *ports.kv.fail.borrow_mut() = None;

    // v3 moves the route; it is live only after the TTL.
    ports.publish("v3", &doc(1000, "/v3"));
    ports.clock.advance(999);
    assert_eq!(serve(&gateway, &ports, get("https://a.test/v3/x")).status(), StatusCode::NOT_FOUND);
    ports.clock.advance(1);
    assert_eq!(serve(&gateway, &ports, get("https://a.test/v3/x")).status(), StatusCode::OK);
    assert_eq!(serve(&gateway, &ports, get("https://a.test/api/x")).status(), StatusCode::NOT_FOUND);
    assert_eq!(gateway.config_version().as_deref(), Some("v3"));
    assert!(ports.log.contains(Level::Info, "switched from version v1 to v3"));

    // Rollback is one write of the pointer.
    ports.kv.put("routes/current", "v1");
    ports.clock.advance(1000);
    assert_eq!(serve(&gateway, &ports, get("https://a.test/api/x")).status(), StatusCode::OK);
}

#[test]
fn cold_instance_falls_back_to_last_good_when_current_is_broken() {
    let ports = FakePorts::default();
    ports.publish("v1", &doc(1000, "/api"));
    ports.force_current("v2", r#"{"regions": []"#);
    let gateway = Gateway::new();
    assert_eq!(serve(&gateway, &ports, get("https://a.test/api/x")).status(), StatusCode::OK);
    assert_eq!(gateway.config_version().as_deref(), Some("v1"));
    assert!(ports.log.contains(Level::Warn, "serving last-good version v1: version v2 is invalid"));
    // Without a usable last-good either, a cold instance has nothing to serve.
    ports.kv.put("routes/last-good", "v2");
    let cold = Gateway::new();
    assert_eq!(serve(&cold, &ports, get("https://a.test/api/x")).status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn unchanged_pointer_does_not_reread_the_document() {
    let (gateway, ports) = (Gateway::new(), FakePorts::default());
    ports.publish("v1", &doc(1000, "/api"));
    serve(&gateway, &ports, get("https://a.test/api/x"));
    assert_eq!(ports.kv.reads(), 3, "pointer, document and the health snapshot");
    for _ in 0..5 {
        serve(&gateway, &ports, get("https://a.test/api/x"));
    }
    assert_eq!(ports.kv.reads(), 3, "within the TTL, KV is not read");
    ports.clock.advance(1000);
    serve(&gateway, &ports, get("https://a.test/api/x"));
    assert_eq!(ports.kv.reads(), 4, "after the TTL only the pointer is read (the snapshot lasts 5 s)");
}
