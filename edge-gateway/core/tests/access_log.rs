//! The access log, `Server-Timing` and metrics points through the whole pipeline over the fakes:
//! one JSON line per request with its fields, refusals logged too, and no credential (bearer
//! token, cookie, API key, redacted query value) in any log line.
#![allow(missing_docs)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use base64ct::{Base64UrlUnpadded, Encoding};
use edge_gateway_core::access_log::{self, cache_outcome, redact_query};
use edge_gateway_core::auth::apikey;
use edge_gateway_core::config::Config;
use edge_gateway_core::ports::Level;
use edge_gateway_core::testing::{FakePorts, FakeStream, ok_response};
use edge_gateway_core::{Body, ClientInfo, Gateway};
use http::{Request, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const NOW_S: u64 = 1_700_000_000;
const SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
const API_KEY: &str = "egk_live_very-secret-api-key-0001";

fn routes(settings: Value) -> String {
    json!({
        "settings": settings,
        "regions": [{"name": "eu", "shield": "http://eu.shield", "lat": 53, "lon": -6}],
        "pools": {"api": {"regions": ["eu"]}},
        "auth": {
            "issuers": {"idp": {"issuer": "https://idp.test", "algorithms": ["HS256"], "tenant_claim": "org",
                                "jwks": {"keys": [{"kty": "oct", "kid": "k1", "k": b64(SECRET)}]}}},
            "api_keys": {"header": "x-api-key", "query": "api_key"}
        },
        "rate_limits": {
            "one": {"limit": 1, "period_s": 60, "key": ["route"]},
            "closed": {"limit": 1, "period_s": 60, "key": ["route"], "on_store_error": "fail_closed"}
        },
        "routes": [
            {"id": "open", "path": "/open", "pool": "api", "cache": {}},
            {"id": "jwt", "path": "/jwt", "pool": "api", "auth": {"jwt": ["idp"]}},
            {"id": "cookie", "path": "/cookie", "pool": "api", "auth": {"jwt": ["idp"], "token_cookie": "session"}},
            {"id": "either", "path": "/either", "pool": "api", "auth": {"jwt": ["idp"], "api_key": true}},
            {"id": "limited", "path": "/limited", "pool": "api", "rate_limit": ["one"]},
            {"id": "closed", "path": "/closed", "pool": "api", "rate_limit": ["closed"]}
        ]
    })
    .to_string()
}

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().to_vec()
}

fn token() -> String {
    let claims = json!({"iss": "https://idp.test", "sub": "alice", "exp": NOW_S + 3600, "org": "acme"});
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "HS256", "kid": "k1"}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    format!("{input}.{}", b64(&hmac_sha256(SECRET, input.as_bytes())))
}

fn setup(settings: Value) -> (Gateway, FakePorts) {
    let ports = FakePorts::default();
    ports.clock.advance(NOW_S * 1000);
    ports.publish("v1", &routes(settings));
    let hash = apikey::hash_key(API_KEY).unwrap();
    let record =
        json!({"key_sha256": hash, "id": "k_demo", "tenant": "acme", "scopes": [], "status": "active"});
    ports.kv.put(&apikey::record_key(&hash), record.to_string());
    ports.upstream.answer(|_| {
        let mut response = ok_response("origin");
        response.headers_mut().insert("cache-control", "public, max-age=60".parse().unwrap());
        Ok(response)
    });
    (Gateway::new(), ports)
}

fn serve(
    gateway: &Gateway,
    ports: &FakePorts,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> Response<Body<FakeStream>> {
    let mut builder = Request::builder().method(method).uri(format!("https://a.test{uri}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Body::Empty).unwrap();
    pollster::block_on(gateway.handle(ports, request, &ClientInfo::default()))
}

/// Every access-log line so far, parsed (a line that is not JSON fails the test).
fn access_lines(ports: &FakePorts) -> Vec<Value> {
    let lines = ports.log.lines();
    let access = lines.iter().filter(|(_, line)| line.starts_with("{\"type\":\"access\""));
    access
        .map(|(level, line)| {
            assert_eq!(*level, Level::Info, "{line}");
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
        })
        .collect()
}

fn last_access(ports: &FakePorts) -> Value {
    access_lines(ports).pop().expect("an access-log line")
}

fn timing(response: &Response<Body<FakeStream>>) -> String {
    let values = response.headers().get_all("server-timing");
    values.iter().map(|v| v.to_str().unwrap()).collect::<Vec<_>>().join(", ")
}

fn phases(timing: &str) -> Vec<&str> {
    timing.split(',').map(|m| m.trim().split(';').next().unwrap()).collect()
}

type Headers<'a> = Vec<(&'a str, &'a str)>;
/// Method, URI, headers, status, then the line's route, auth method, rate-limit decision, cache.
type Row<'a> = (&'a str, &'a str, Headers<'a>, u16, Value, Value, Value, Value);

#[test]
fn every_request_gets_one_json_line_with_its_route_status_auth_limit_and_ids() {
    let bearer = format!("Bearer {}", token());
    let rows: [Row<'_>; 8] = [
        ("GET", "/open", vec![], 200, json!("open"), json!("none"), Value::Null, json!("uri-miss")),
        ("GET", "/open", vec![], 200, json!("open"), json!("none"), Value::Null, json!("hit")),
        (
            "GET",
            "/jwt",
            vec![("authorization", &bearer)],
            200,
            json!("jwt"),
            json!("jwt"),
            Value::Null,
            json!("bypass"),
        ),
        ("GET", "/jwt", vec![], 401, json!("jwt"), json!("refused"), Value::Null, Value::Null),
        (
            "GET",
            "/either",
            vec![("x-api-key", API_KEY)],
            200,
            json!("either"),
            json!("api_key"),
            Value::Null,
            json!("bypass"),
        ),
        ("GET", "/limited", vec![], 200, json!("limited"), json!("none"), json!("admitted"), json!("bypass")),
        ("GET", "/limited", vec![], 429, json!("limited"), json!("none"), json!("refused"), Value::Null),
        ("GET", "/nowhere", vec![], 404, Value::Null, Value::Null, Value::Null, Value::Null),
    ];
    let (gateway, ports) = setup(json!({}));
    for (i, (method, uri, headers, status, route, auth, limit, cache)) in rows.iter().enumerate() {
        let response = serve(&gateway, &ports, method, uri, headers);
        assert_eq!(response.status().as_u16(), *status, "row {i}");
        let lines = access_lines(&ports);
        assert_eq!(lines.len(), i + 1, "row {i}: exactly one line per request");
        let line = lines.last().unwrap();
        assert_eq!(line["method"], *method, "row {i}: {line}");
        assert_eq!(line["path"], *uri, "row {i}");
        assert_eq!(line["status"], *status, "row {i}");
        assert_eq!(line["route"], *route, "row {i}: {line}");
        assert_eq!(line["auth"]["method"], *auth, "row {i}: {line}");
        assert_eq!(line["rate_limit"]["decision"], *limit, "row {i}: {line}");
        assert_eq!(line["cache"], *cache, "row {i}: {line}");
        assert_eq!(line["request_id"], response.headers()["x-request-id"].to_str().unwrap(), "row {i}");
        assert_eq!(line["trace_id"].as_str().unwrap().len(), 32, "row {i}");
        assert!(line["duration_ms"].is_u64() && line["phases_ms"]["config"].is_u64(), "row {i}: {line}");
    }
    let lines = access_lines(&ports);
    assert_eq!(lines[2]["auth"]["subject"], "alice");
    assert_eq!(lines[2]["auth"]["issuer"], "idp");
    assert_eq!(lines[2]["auth"]["tenant"], "acme");
    assert_eq!(lines[4]["auth"]["subject"], "k_demo", "an API key is named by its public id");
    assert_eq!(lines[0]["region"], "eu");
    assert_eq!(lines[0]["regions"], json!(["eu"]));
    assert_eq!(lines[0]["attempts"], 1);
    assert_eq!(lines[1]["attempts"], 0, "a hit tries no region");
    assert_eq!(lines[6]["rate_limit"]["policy"], "one");
}

#[test]
fn refusals_for_missing_config_and_a_failed_fail_closed_counter_are_logged_too() {
    let (gateway, ports) = setup(json!({}));
    *ports.counters.fail.borrow_mut() = Some("store down".into());
    let response = serve(&gateway, &ports, "GET", "/closed", &[]);
    assert_eq!(response.status(), 503);
    let line = last_access(&ports);
    assert_eq!(line["status"], 503);
    assert_eq!(line["rate_limit"], json!({"decision": "unavailable", "policy": "closed"}));

    let empty = FakePorts::default();
    let response = serve(&Gateway::new(), &empty, "GET", "/open?token=abc", &[]);
    assert_eq!(response.status(), 503, "no routes document published");
    let line = last_access(&empty);
    assert_eq!((line["status"].clone(), line["route"].clone()), (json!(503), Value::Null));
    assert_eq!(line["query"], "token=[redacted]", "default redaction without a document");
}

#[test]
fn no_credential_or_redacted_query_value_reaches_any_log_line() {
    let settings = json!({"access_log": {"redact_query": ["sig", "token", "Secret_Param"]}});
    let (gateway, ports) = setup(settings);
    let jwt = token();
    let bearer = format!("Bearer {jwt}");
    let cookie = format!("session={jwt}; theme=dark");
    let uri_key = format!("/either?api_key={API_KEY}&page=2");
    let forged = "Bearer forged.token-value.sig-ffff";
    let requests: Vec<(&str, Headers<'_>, u16)> = vec![
        ("/jwt?token=tok-secret-1&page=1", vec![("authorization", bearer.as_str())], 200),
        ("/cookie?sig=sig-secret-2", vec![("cookie", cookie.as_str())], 200),
        ("/jwt?TOKEN=tok-secret-3", vec![("authorization", forged)], 401),
        ("/either?tok%65n=tok-secret-4", vec![("x-api-key", API_KEY)], 200),
        (uri_key.as_str(), vec![], 200),
        ("/either?x=1&access_token=tok-secret-5", vec![("x-api-key", "egk_wrong-key-secret-6")], 401),
        ("/limited?secret_param=tok-secret-7", vec![("cookie", "session=cookie-secret-8")], 200),
        ("/limited?secret_param=tok-secret-9", vec![("authorization", bearer.as_str())], 429),
    ];
    for (uri, headers, status) in &requests {
        let got = serve(&gateway, &ports, "GET", uri, headers).status().as_u16();
        assert_eq!(got, *status, "{uri}: {:?}", ports.log.lines());
    }
    let secrets = [
        jwt.as_str(),
        API_KEY,
        "forged.token-value",
        "egk_wrong-key-secret-6",
        "cookie-secret-8",
        "tok-secret",
        "sig-secret-2",
    ];
    for (_, line) in ports.log.lines() {
        for secret in secrets {
            assert!(!line.contains(secret), "`{secret}` leaked into: {line}");
        }
    }
    let lines = access_lines(&ports);
    assert_eq!(lines.len(), requests.len());
    assert_eq!(lines[0]["query"], "token=[redacted]&page=1");
    assert_eq!(lines[3]["query"], "tok%65n=[redacted]", "names are compared decoded");
    assert_eq!(lines[4]["query"], "api_key=[redacted]&page=2", "the API-key parameter is always redacted");
}

#[test]
fn server_timing_names_the_phases_that_ran_on_a_miss_a_hit_and_a_refusal() {
    let (gateway, ports) = setup(json!({}));
    let miss = timing(&serve(&gateway, &ports, "GET", "/open", &[]));
    assert_eq!(phases(&miss), ["upstream", "config", "auth", "limit", "cache", "total"], "{miss}");
    assert!(miss.starts_with("upstream;dur=") && miss.contains("desc=\"eu\""), "{miss}");
    let hit = timing(&serve(&gateway, &ports, "GET", "/open", &[]));
    assert_eq!(
        phases(&hit),
        ["config", "auth", "limit", "cache", "total"],
        "the stored upstream timing goes: {hit}"
    );
    let refused = timing(&serve(&gateway, &ports, "GET", "/jwt", &[]));
    assert_eq!(phases(&refused), ["config", "auth", "total"], "{refused}");
    serve(&gateway, &ports, "GET", "/limited", &[]);
    let limited = timing(&serve(&gateway, &ports, "GET", "/limited", &[]));
    assert_eq!(phases(&limited), ["config", "auth", "limit", "total"], "{limited}");
}

#[test]
fn each_request_writes_one_data_point_and_none_without_a_store() {
    let (gateway, ports) = setup(json!({}));
    serve(&gateway, &ports, "GET", "/open", &[]);
    serve(&gateway, &ports, "GET", "/limited", &[]);
    serve(&gateway, &ports, "GET", "/limited", &[]);
    serve(&gateway, &ports, "GET", "/nowhere", &[]);
    let points = ports.metrics.points();
    assert_eq!(points.len(), 4);
    assert_eq!(points[0].index, "open");
    assert_eq!(points[0].blobs, ["open", "200", "uri-miss", "eu", "-"].map(String::from));
    assert_eq!(points[0].doubles[1], 1.0, "one attempt");
    assert_eq!(points[1].blobs[4], "admitted");
    assert_eq!(points[2].blobs, ["limited", "429", "-", "-", "refused"].map(String::from));
    assert_eq!(points[2].doubles[1], 0.0);
    assert_eq!(points[3].index, "-");

    ports.metrics.enabled.set(false);
    serve(&gateway, &ports, "GET", "/open", &[]);
    assert_eq!(ports.metrics.points().len(), 4, "absent store: no point");
}

#[test]
fn the_line_can_be_turned_off_and_server_timing_stays() {
    let (gateway, ports) = setup(json!({"access_log": {"enabled": false}}));
    let response = serve(&gateway, &ports, "GET", "/open", &[]);
    assert!(access_lines(&ports).is_empty());
    assert!(timing(&response).contains("total;dur="));
}

#[test]
fn bad_access_log_settings_are_reported_with_their_paths() {
    let document = |access_log: Value| {
        let mut doc: Value = serde_json::from_str(&routes(json!({}))).unwrap();
        doc["settings"]["access_log"] = access_log;
        doc.to_string()
    };
    let errors = |access_log: Value| -> Vec<String> {
        match Config::from_json(document(access_log).as_bytes()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.0.iter().map(|e| format!("{}: {}", e.path, e.reason)).collect(),
        }
    };
    let rows: [(Value, &str); 5] = [
        (json!({"redact_query": ["ok", ""]}), "$.settings.access_log.redact_query[1]: must be 1 to 128"),
        (
            json!({"redact_query": ["a=b"]}),
            "$.settings.access_log.redact_query[0]: must be a query parameter name",
        ),
        (json!({"redact_query": "token"}), "$.settings.access_log.redact_query: invalid type"),
        (json!({"enabled": "yes"}), "$.settings.access_log.enabled: invalid type"),
        (json!({"redact": []}), "$.settings.access_log.redact: unknown field"),
    ];
    for (settings, expected) in rows {
        let found = errors(settings.clone());
        assert!(found.iter().any(|e| e.starts_with(expected)), "{settings}: {found:?}");
    }
    assert!(errors(json!({"enabled": false, "redact_query": ["Sig"]})).is_empty());
    let config = Config::from_json(document(json!({"redact_query": ["Sig"]})).as_bytes()).unwrap();
    assert_eq!(config.settings.access_log.redact_query, ["sig"], "kept in lower case");
}

#[test]
fn query_redaction_table() {
    let names: Vec<String> = ["token", "sig"].map(String::from).to_vec();
    let rows = [
        ("a=1&b=2", "a=1&b=2"),
        ("token=x", "token=[redacted]"),
        ("a=1&Token=x&b=2", "a=1&Token=[redacted]&b=2"),
        ("sig=x&sig=y", "sig=[redacted]&sig=[redacted]"),
        ("%73ig=x", "%73ig=[redacted]"),
        ("to+ken=x", "to+ken=x"),
        ("token", "token"),
        ("access_token=x", "access_token=[redacted]"),
        ("key=x&tokens=y", "key=[redacted]&tokens=y"),
        ("a=token%3Dx", "a=token%3Dx"),
        ("%zz=1&%=2", "%zz=1&%=2"),
    ];
    for (query, expected) in rows {
        assert_eq!(redact_query(query, &names, Some("key")), expected, "{query}");
    }
}

#[test]
fn cache_status_short_forms() {
    let rows = [
        ("edge-gateway; hit; ttl=10", "hit"),
        ("edge-gateway; fwd=uri-miss; stored", "uri-miss"),
        ("edge-gateway; fwd=bypass; detail=no-edge-cache", "bypass"),
        ("edge-gateway", "unknown"),
    ];
    for (value, expected) in rows {
        assert_eq!(cache_outcome(value), expected, "{value}");
    }
    assert_eq!(access_log::REDACTED, "[redacted]");
}
