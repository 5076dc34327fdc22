//! Any request head (method, target, headers) through the pre-routing decisions: limits, trace
//! context, request id, routing. None may panic, whatever the client sends.
#![no_main]

use edge_gateway_core::config::{Config, Settings};
use edge_gateway_core::forward::trace::{Trace, request_id};
use edge_gateway_core::limits;
use edge_gateway_core::testing::CountingEntropy;
use libfuzzer_sys::fuzz_target;

const ROUTES: &str = r#"{"regions":[{"name":"eu","shield":"http://127.0.0.1:1","lat":0,"lon":0}],
  "pools":{"p":{"regions":["eu"]}},
  "routes":[{"id":"a","hosts":["*.example.com"],"methods":["GET"],"path":"/u/{id}","pool":"p","rewrite":"/v/{id}"},
            {"id":"b","path":"/s/{*rest}","pool":"p","strip_prefix":"/s"}]}"#;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let (Some(method), Some(target)) = (lines.next(), lines.next()) else { return };
    let mut builder = http::Request::builder().method(method.as_bytes()).uri(target);
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            builder = builder.header(name.trim(), value.trim());
        }
    }
    let Ok(request) = builder.body(()) else { return };
    let (head, ()) = request.into_parts();
    let _ = limits::check(&head, &Settings::default());
    let trace = Trace::start(&head.headers, &CountingEntropy::default());
    let _ = request_id(&head.headers, &trace);
    let config = Config::from_json(ROUTES.as_bytes()).expect("fixed routes are valid");
    let host = limits::host(&head).unwrap_or_default();
    let _ = config.router.lookup(&config.routes, host, &head.method, head.uri.path());
});
