//! The edge-cache tests' shared world: a routes document with cached, forced, bypassed and
//! plain routes; an origin that counts requests; `get` and `serve` over the fake ports.
#![allow(dead_code, unreachable_pub)]

use std::cell::Cell;
use std::rc::Rc;

use bytes::Bytes;
use edge_gateway_core::ports::UpstreamError;
use edge_gateway_core::testing::{FakePorts, FakeStream};
use edge_gateway_core::{Body, ClientInfo, Gateway};
use http::{Request, Response, StatusCode};
use serde_json::json;

pub fn routes() -> String {
    json!({
        "settings": {"config_ttl_ms": 1000},
        "regions": [{"name": "eu", "shield": "http://eu.shield", "lat": 53, "lon": -6}],
        "pools": {"api": {"regions": ["eu"]}},
        "routes": [
            {"id": "cached", "path": "/c/{*rest}", "pool": "api", "cache": {}},
            {"id": "forced", "path": "/f/{*rest}", "pool": "api",
             "cache": {"ttl_s": 60, "stale_if_error_s": 300, "key_query": ["page"], "key_headers": ["x-tenant"]}},
            {"id": "bypass", "path": "/b/{*rest}", "pool": "api", "cache": {"bypass": true}},
            {"id": "plain", "path": "/p/{*rest}", "pool": "api"}
        ]
    })
    .to_string()
}

/// An origin that answers each GET with a body naming how many requests it has seen, with the
/// headers `headers` gives for that request.
pub struct Origin {
    pub hits: Rc<Cell<u32>>,
}

pub fn origin(
    ports: &FakePorts,
    headers: impl Fn(&Request<Body<FakeStream>>, u32) -> Result<Vec<(&'static str, String)>, u16> + 'static,
) -> Origin {
    let hits = Rc::new(Cell::new(0));
    let counter = hits.clone();
    ports.upstream.answer(move |request| {
        counter.set(counter.get() + 1);
        let n = counter.get();
        match headers(request, n) {
            Ok(list) => {
                let status = if list.iter().any(|(n, _)| *n == ":304") { 304 } else { 200 };
                let mut response = Response::new(Body::Stream(Bytes::from(format!("body {n}"))));
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                for (name, value) in list.into_iter().filter(|(n, _)| !n.starts_with(':')) {
                    response.headers_mut().append(name, value.parse().unwrap());
                }
                Ok(response)
            }
            Err(0) => Err(UpstreamError::Connect("refused".into())),
            Err(status) => {
                let mut response = Response::new(Body::Stream(Bytes::from("error")));
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                Ok(response)
            }
        }
    });
    Origin { hits }
}

pub fn setup() -> (Gateway, FakePorts) {
    let ports = FakePorts::default();
    ports.clock.advance(1_700_000_000_000);
    ports.publish("v1", &routes());
    (Gateway::new(), ports)
}

pub fn get(path: &str, headers: &[(&str, &str)]) -> Request<Body<FakeStream>> {
    let mut builder = Request::get(format!("https://a.test{path}"));
    for (n, v) in headers {
        builder = builder.header(*n, *v);
    }
    builder.body(Body::Empty).unwrap()
}

pub fn serve(
    gateway: &Gateway,
    ports: &FakePorts,
    request: Request<Body<FakeStream>>,
) -> (StatusCode, String, String, http::HeaderMap) {
    let response = pollster::block_on(gateway.handle(ports, request, &ClientInfo::default()));
    let body = match response.body() {
        Body::Stream(b) | Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Body::Empty => String::new(),
    };
    let status_line = response
        .headers()
        .get_all("cache-status")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join(", ");
    (response.status(), body, status_line, response.headers().clone())
}
