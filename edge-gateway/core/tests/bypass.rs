//! The bypass table (issue 9): every way found to reach a protected upstream path without
//! credentials, or to make the origin trust what a client said, as a row. The pipeline runs
//! over the in-memory ports; the same rows run end to end on both runtimes through a real
//! shield in `tests/e2e/bypass.test.mjs`.
#![allow(missing_docs)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::net::{IpAddr, Ipv4Addr};

use edge_gateway_core::auth::apikey;
use edge_gateway_core::ports::{Level, Log, escape_controls};
use edge_gateway_core::testing::{FakePorts, FakeStream, MemoryLog};
use edge_gateway_core::{Body, ClientInfo, Gateway};
use http::{Method, Request, Response, StatusCode};
use serde_json::json;

const ROUTES: &str = r#"{
  "regions": [{"name":"eu","shield":"http://eu.shield:9101","lat":0,"lon":0},
              {"name":"legacy","shield":"http://legacy.shield:9102","lat":0,"lon":0}],
  "pools": {"p": {"regions": ["eu"]}, "other": {"regions": ["legacy"]}},
  "routes": [
    {"id":"public", "path":"/public/{*rest}", "pool":"p"},
    {"id":"admin",  "path":"/admin/{*rest}", "pool":"p", "auth": {"api_key": true,
       "rules": [{"methods": ["POST"], "scopes": ["admin:write"]}]}},
    {"id":"open",   "path":"/{*rest}", "pool":"p"},
    {"id":"pub",    "path":"/pub/{*rest}", "pool":"other", "strip_prefix": "/pub"},
    {"id":"rw",     "path":"/rw/{*rest}", "pool":"other", "rewrite": "/x/{rest}"}
  ],
  "auth": {"api_keys": {"header": "x-api-key", "query": "api_key", "cache_ttl_ms": 1000}}
}"#;

const KEY: &str = "egk_bypass_table_key_0123456789";

fn ports() -> FakePorts {
    let ports = FakePorts::default();
    ports.publish("v1", ROUTES);
    let hash = apikey::hash_key(KEY).unwrap();
    let record = json!({"key_sha256": hash, "id": "k_admin", "tenant": "acme", "scopes": ["read"],
                        "status": "active", "description": "bypass table"});
    ports.kv.put(&apikey::record_key(&hash), record.to_string());
    ports
}

fn serve(
    ports: &FakePorts,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Response<Body<FakeStream>> {
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(format!("https://a.test{target}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let client = ClientInfo {
        ip: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))),
        location: None,
        ..ClientInfo::default()
    };
    pollster::block_on(Gateway::new().handle(ports, request.body(Body::Empty).unwrap(), &client))
}

/// What a row expects: refused with a status, or forwarded as this upstream path.
#[derive(Debug, PartialEq)]
enum Want {
    Refused(u16),
    Forwarded(&'static str),
}

/// (finding, method, target, headers, expected)
type Row<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)], Want);

#[test]
fn no_way_around_a_protected_prefix() {
    // (finding, method, target, headers, expected)
    let rows: &[Row] = &[
        ("1 backslash dot-segment", "GET", "/public/..\\admin/x", &[], Want::Refused(400)),
        ("1 backslash via strip_prefix", "GET", "/pub/..\\admin/x", &[], Want::Refused(400)),
        ("1 backslash via rewrite", "GET", "/rw/..\\admin/x", &[], Want::Refused(400)),
        ("1 encoded backslash", "GET", "/public/..%5cadmin/x", &[], Want::Refused(400)),
        ("1 encoded dots", "GET", "/public/%2e%2e/admin/x", &[], Want::Refused(400)),
        ("1 mixed dots", "GET", "/public/.%2E/admin/x", &[], Want::Refused(400)),
        ("1 double-encoded dots", "GET", "/public/%252e%252e/admin/x", &[], Want::Refused(400)),
        ("1 encoded slash", "GET", "/public/..%2fadmin/x", &[], Want::Refused(400)),
        ("1 literal dots", "GET", "/public/../admin/x", &[], Want::Refused(400)),
        ("1 NUL", "GET", "/admin%00/x", &[], Want::Refused(400)),
        ("1 path parameter", "GET", "/admin;x/y", &[], Want::Refused(400)),
        ("2 encoded alias of the protected prefix", "GET", "/%61dmin/cache/p", &[], Want::Refused(401)),
        ("2 merged slashes", "GET", "//admin/x", &[], Want::Refused(401)),
        ("3 prefix base", "GET", "/admin", &[], Want::Refused(401)),
        ("3 prefix base with slash", "GET", "/admin/", &[], Want::Refused(401)),
        ("3 base with fragment", "GET", "/admin#x", &[], Want::Refused(401)),
        ("5 lower-case method", "post", "/admin/x", &[("x-api-key", KEY)], Want::Refused(400)),
        ("5 mixed-case method", "Post", "/admin/x", &[("x-api-key", KEY)], Want::Refused(400)),
        ("5 POST needs the scope", "POST", "/admin/x", &[("x-api-key", KEY)], Want::Refused(403)),
        ("5 TRACE", "TRACE", "/public/x", &[], Want::Refused(501)),
        (
            "7 duplicate API keys",
            "GET",
            "/admin/x",
            &[("x-api-key", KEY), ("x-api-key", "other")],
            Want::Refused(401),
        ),
        (
            "7 joined API keys",
            "GET",
            "/admin/x",
            &[("x-api-key", &*format!("{KEY}, other"))],
            Want::Refused(401),
        ),
        (
            "7 key in header and query",
            "GET",
            "/admin/x?api_key=other",
            &[("x-api-key", KEY)],
            Want::Refused(401),
        ),
        (
            "control: the key opens the prefix",
            "GET",
            "/admin/x",
            &[("x-api-key", KEY)],
            Want::Forwarded("/admin/x"),
        ),
        (
            "control: the alias is the same resource",
            "GET",
            "/%61dmin/x",
            &[("x-api-key", KEY)],
            Want::Forwarded("/admin/x"),
        ),
        (
            "control: base covered, key accepted",
            "GET",
            "/admin",
            &[("x-api-key", KEY)],
            Want::Forwarded("/admin"),
        ),
        ("control: open paths stay open", "GET", "/public/a%7eb//c", &[], Want::Forwarded("/public/a~b/c")),
        ("control: strip_prefix forwards the normal form", "GET", "/pub/%61", &[], Want::Forwarded("/a")),
    ];
    for (finding, method, target, headers, want) in rows {
        let ports = ports();
        let response = serve(&ports, method, target, headers);
        let sent = ports.upstream.sent();
        let got = match sent.first() {
            Some((request, _)) => {
                assert!(response.status().is_success(), "{finding}: forwarded but {}", response.status());
                let path = request.uri().path().to_owned();
                Want::Forwarded(Box::leak(path.into_boxed_str()))
            }
            None => Want::Refused(response.status().as_u16()),
        };
        assert_eq!(&got, want, "finding {finding}: {method} {target}");
        if let Want::Refused(_) = want {
            assert_eq!(response.headers()["content-type"], "application/problem+json", "{finding}");
        }
    }
}

#[test]
fn client_headers_the_origin_would_trust_never_reach_it() {
    let ports = ports();
    let spoofed: &[(&str, &str)] = &[
        ("x-auth-subject", "root"),
        ("x_auth_subject", "root"),
        ("X_Auth_Tenant", "victim"),
        ("x-auth-scopes", "admin:write"),
        ("x-http-method-override", "DELETE"),
        ("x_http_method_override", "DELETE"),
        ("x-method-override", "DELETE"),
        ("x-http-method", "DELETE"),
        ("x-original-url", "/admin/x"),
        ("x-rewrite-url", "/admin/x"),
        ("cf-connecting-ip", "6.6.6.6"),
        ("true-client-ip", "6.6.6.6"),
        ("x_forwarded_for", "6.6.6.6"),
        ("x-forwarded-prefix", "/admin"),
        ("x-real-ip", "6.6.6.6"),
        ("x-edge-cache-scope", "route=admin; auth=1"),
        ("x-api-key", "leaked"),
        ("x_api_key", "leaked"),
    ];
    let response = serve(&ports, "GET", "/public/x?api_key=leaked&q=1", spoofed);
    assert_eq!(response.status(), StatusCode::OK);
    let sent = ports.upstream.sent();
    let upstream = &sent[0].0;
    assert_eq!(upstream.uri().query(), Some("q=1"), "an API key in the query never leaves the edge");
    let h = upstream.headers();
    for (name, _) in spoofed {
        let lower = name.to_ascii_lowercase();
        let value = h.get(&lower).map(|v| v.to_str().unwrap());
        let expected = (lower == "x-edge-cache-scope").then_some("route=public; auth=0");
        assert_eq!(value, expected, "{name} must not reach the origin as the client sent it");
    }
    assert_eq!(h["x-forwarded-for"], "203.0.113.9", "the client address comes from the platform");
    assert!(!h.values().any(|v| v.as_bytes().windows(7).any(|w| w == b"6.6.6.6")), "{h:?}");
}

#[test]
fn an_authenticated_request_is_scoped_for_the_shield_and_carries_only_the_gateways_identity() {
    let ports = ports();
    let response = serve(&ports, "GET", "/admin/x", &[("x-api-key", KEY), ("x_auth_subject", "root")]);
    assert_eq!(response.status(), StatusCode::OK);
    let sent = ports.upstream.sent();
    let h = sent[0].0.headers();
    assert_eq!(h["x-edge-cache-scope"], "route=admin; auth=1");
    assert_eq!(h["x-auth-subject"], "apikey:k_admin");
    assert!(!h.contains_key("x_auth_subject") && !h.contains_key("x-api-key"));
}

/// Finding 7: a `kid` (or any client-controlled text) with a newline forged log lines.
#[test]
fn log_lines_cannot_be_forged() {
    let forged = "issuer idp: unknown kid `a`\n2026-12-01 INFO admin login ok\r";
    let escaped = escape_controls(forged);
    assert!(!escaped.contains('\n') && !escaped.contains('\r'), "{escaped}");
    assert!(escaped.contains("`a`\\n2026"), "{escaped}");
    assert!(matches!(escape_controls("plain"), std::borrow::Cow::Borrowed("plain")));
    let log = MemoryLog::default();
    log.record(Level::Warn, forged);
    assert!(log.lines().iter().all(|(_, line)| !line.contains('\n')));
}

/// Finding 7: a chunked body (no `Content-Length`) over the limit was forwarded whole.
#[test]
fn an_undeclared_body_over_the_limit_is_refused_before_forwarding() {
    let ports = ports();
    ports.publish(
        "v2",
        &ROUTES.replacen("\"regions\"", "\"settings\":{\"max_request_body_bytes\":1024},\"regions\"", 1),
    );
    let post = |len: usize| {
        let request = Request::post("https://a.test/public/upload")
            .body(Body::Stream(bytes::Bytes::from(vec![b'x'; len])))
            .unwrap();
        let client = ClientInfo { ip: None, location: None, ..ClientInfo::default() };
        pollster::block_on(Gateway::new().handle(&ports, request, &client))
    };
    assert_eq!(post(3 * 1024).status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(ports.upstream.sent().is_empty(), "nothing of it reached the shield");
    assert_eq!(post(1024).status(), StatusCode::OK);
    let sent = ports.upstream.sent();
    assert_eq!(sent[0].0.body().as_bytes().map(<[u8]>::len), Some(1024), "forwarded whole, replayable");
}
