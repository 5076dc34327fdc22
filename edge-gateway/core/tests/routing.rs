//! Routing precedence, as a table: host, then path, then priority and method.
#![allow(missing_docs)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use edge_gateway_core::config::Config;
use edge_gateway_core::routing::{RouteMatch, normalize_host, pattern_params};
use http::Method;

const ROUTES: &str = r#"{
  "regions": [{"name":"eu","shield":"http://127.0.0.1:9101","lat":0,"lon":0}],
  "pools": {"p": {"regions": ["eu"]}},
  "routes": [
    {"id":"exact-user",   "hosts":["api.example.com"], "methods":["GET"], "path":"/users/{id}", "pool":"p"},
    {"id":"exact-me",     "hosts":["api.example.com"], "methods":["GET"], "path":"/users/me", "pool":"p"},
    {"id":"exact-write",  "hosts":["api.example.com"], "methods":["PUT","DELETE"], "path":"/users/{id}", "pool":"p"},
    {"id":"wild-user",    "hosts":["*.example.com"], "path":"/users/{id}", "pool":"p"},
    {"id":"deep-wild",    "hosts":["*.eu.example.com"], "path":"/users/{id}", "pool":"p"},
    {"id":"wild-health",  "hosts":["*.example.com"], "methods":["GET"], "path":"/health", "pool":"p"},
    {"id":"any-files",    "path":"/files/{*path}", "pool":"p"},
    {"id":"any-post-low", "methods":["POST"], "path":"/submit", "pool":"p"},
    {"id":"any-post-high","methods":["POST"], "path":"/submit", "pool":"p", "priority": 10},
    {"id":"any-get",      "hosts":["*"], "methods":["GET"], "path":"/submit", "pool":"p"},
    {"id":"docs",         "path":"/docs/{*rest}", "pool":"p"},
    {"id":"docs-root",    "methods":["GET"], "path":"/docs", "pool":"p"}
  ]
}"#;

#[derive(Debug, PartialEq)]
enum Want {
    Route(&'static str),
    NotFound,
    NotAllowed(&'static str),
}

#[test]
fn precedence_table() {
    let config = Config::from_json(ROUTES.as_bytes()).unwrap();
    // (host, method, path, expected)
    let table = [
        ("api.example.com", "GET", "/users/42", Want::Route("exact-user")),
        ("API.Example.COM:8443", "GET", "/users/42", Want::Route("exact-user")),
        ("api.example.com.", "GET", "/users/42", Want::Route("exact-user")),
        ("api.example.com", "GET", "/users/me", Want::Route("exact-me")),
        ("api.example.com", "PUT", "/users/42", Want::Route("exact-write")),
        // The exact host has the path but not POST: the wildcard host serves it.
        ("api.example.com", "POST", "/users/42", Want::Route("wild-user")),
        ("a.example.com", "PATCH", "/users/42", Want::Route("wild-user")),
        ("a.b.example.com", "GET", "/users/1", Want::Route("wild-user")),
        ("x.eu.example.com", "GET", "/users/1", Want::Route("deep-wild")),
        // A wildcard needs at least one label in front of it.
        ("example.com", "GET", "/users/1", Want::NotFound),
        ("api.example.com", "GET", "/health", Want::Route("wild-health")),
        ("a.example.com", "HEAD", "/health", Want::Route("wild-health")),
        ("a.example.com", "POST", "/health", Want::NotAllowed("GET, HEAD")),
        ("other.org", "GET", "/files/a/b/c.txt", Want::Route("any-files")),
        // Regression (issue 9, finding 3): a prefix covers its base, with and without `/`.
        ("other.org", "GET", "/files/", Want::Route("any-files")),
        ("other.org", "GET", "/files", Want::Route("any-files")),
        ("other.org", "GET", "/filesx", Want::NotFound),
        // A route naming the base itself keeps it; the other spelling stays with the prefix.
        ("other.org", "GET", "/docs", Want::Route("docs-root")),
        ("other.org", "GET", "/docs/", Want::Route("docs")),
        ("other.org", "POST", "/docs/a", Want::Route("docs")),
        ("other.org", "POST", "/submit", Want::Route("any-post-high")),
        ("other.org", "GET", "/submit", Want::Route("any-get")),
        ("other.org", "DELETE", "/submit", Want::NotAllowed("GET, HEAD, POST")),
        ("other.org", "GET", "/nothing", Want::NotFound),
        ("[::1]:8080", "GET", "/files/x", Want::Route("any-files")),
    ];
    for (host, method, path, want) in table {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let got = match config.router.lookup(&config.routes, host, &method, path) {
            RouteMatch::Found { route, .. } => {
                Want::Route(Box::leak(config.routes[route].id.clone().into_boxed_str()))
            }
            RouteMatch::NotFound => Want::NotFound,
            RouteMatch::MethodNotAllowed { allow } => {
                let list = allow.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
                Want::NotAllowed(Box::leak(list.into_boxed_str()))
            }
        };
        assert_eq!(got, want, "{method} {host}{path}");
    }
}

#[test]
fn params_are_returned_raw() {
    let config = Config::from_json(ROUTES.as_bytes()).unwrap();
    let found = config.router.lookup(&config.routes, "x.org", &Method::GET, "/files/a%20b/c");
    assert_eq!(found, RouteMatch::Found { route: 6, params: vec![("path".into(), "a%20b/c".into())] });
}

#[test]
fn host_normalization_and_params() {
    assert_eq!(normalize_host("Example.COM:80"), "example.com");
    assert_eq!(normalize_host("[::1]:443"), "[::1]");
    assert_eq!(pattern_params("/a/{x}/{{lit}}/{*rest}"), ["x", "rest"]);
}
