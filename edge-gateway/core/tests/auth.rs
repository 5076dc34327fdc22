//! Authentication through the whole pipeline over the fakes: credentials, refusals, identity
//! headers, JWKS fetch/share/refetch/stale, API keys and authorization rules.
#![allow(missing_docs)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use base64ct::{Base64UrlUnpadded, Encoding};
use edge_gateway_core::auth::apikey;
use edge_gateway_core::config::Config;
use edge_gateway_core::ports::{FetchError, Level};
use edge_gateway_core::problem::Problem;
use edge_gateway_core::testing::{FakePorts, FakeStream, document};
use edge_gateway_core::{Body, ClientInfo, Gateway};
use http::{Request, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const NOW_S: u64 = 1_700_000_000;
const JWKS_URL: &str = "http://idp.test/jwks.json";
const SECRET_1: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
const SECRET_2: &[u8; 32] = b"fedcba9876543210fedcba9876543210";

fn routes() -> String {
    json!({
        "regions": [{"name": "eu", "shield": "http://eu.shield", "lat": 53, "lon": -6}],
        "pools": {"api": {"regions": ["eu"]}},
        "auth": {
            "issuers": {
                "idp": {
                    "issuer": "https://idp.test", "jwks_uri": JWKS_URL, "audiences": ["api"],
                    "algorithms": ["HS256"], "tenant_claim": "org",
                    "jwks_cache": {"min_ttl_ms": 60000, "max_ttl_ms": 600000, "max_stale_ms": 300000,
                                   "refetch_interval_ms": 30000}
                },
                "other": {
                    "issuer": "https://other.test", "algorithms": ["HS256"],
                    "jwks": {"keys": [{"kty": "oct", "kid": "o1", "k": b64(SECRET_2)}]}
                }
            },
            "api_keys": {"header": "x-api-key", "query": "api_key", "cache_ttl_ms": 10000}
        },
        "routes": [
            {"id": "open", "path": "/open", "pool": "api"},
            {"id": "jwt", "path": "/jwt", "pool": "api", "auth": {"jwt": ["idp", "other"],
                "rules": [{"methods": ["POST"], "scopes": ["write"]},
                          {"claims": [{"claim": "org", "one_of": ["acme", "globex"]}]}]}},
            {"id": "fwd", "path": "/fwd", "pool": "api", "auth": {"jwt": ["idp"], "forward_authorization": true}},
            {"id": "cookie", "path": "/cookie", "pool": "api", "auth": {"jwt": ["idp"], "token_cookie": "session"}},
            {"id": "key", "path": "/key", "pool": "api", "auth": {"api_key": true,
                "rules": [{"methods": ["DELETE"], "scopes": ["admin"]}]}},
            {"id": "either", "path": "/either", "pool": "api", "auth": {"jwt": ["idp"], "api_key": true}}
        ]
    })
    .to_string()
}

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn jwks(keys: &[(&str, &[u8])]) -> String {
    let keys: Vec<Value> =
        keys.iter().map(|(kid, k)| json!({"kty": "oct", "kid": kid, "k": b64(k)})).collect();
    json!({ "keys": keys }).to_string()
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().to_vec()
}

fn token(kid: &str, secret: &[u8], claims: Value) -> String {
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "HS256", "kid": kid}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    format!("{input}.{}", b64(&hmac_sha256(secret, input.as_bytes())))
}

fn claims() -> Value {
    json!({"iss": "https://idp.test", "aud": "api", "sub": "alice", "exp": NOW_S + 3600,
           "scope": "read write", "org": "acme"})
}

fn setup() -> (Gateway, FakePorts) {
    let ports = FakePorts::default();
    ports.clock.advance(NOW_S * 1000);
    ports.publish("v1", &routes());
    ports.fetch.answer(|url| match url {
        JWKS_URL => Ok(document(&jwks(&[("k1", SECRET_1)]), Some(300))),
        _ => Err(FetchError("unreachable".into())),
    });
    (Gateway::new(), ports)
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Body<FakeStream>> {
    let mut builder = Request::builder().method(method).uri(format!("https://a.test{uri}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::Empty).unwrap()
}

fn serve(
    gateway: &Gateway,
    ports: &FakePorts,
    request: Request<Body<FakeStream>>,
) -> Response<Body<FakeStream>> {
    pollster::block_on(gateway.handle(ports, request, &ClientInfo::default()))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn problem(response: &Response<Body<FakeStream>>) -> Problem {
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    serde_json::from_slice(response.body().as_bytes().expect("problem body")).expect("problem json")
}

fn challenge(response: &Response<Body<FakeStream>>) -> String {
    response.headers()["www-authenticate"].to_str().unwrap().to_owned()
}

/// The headers of the last request the upstream saw.
fn upstream_header(ports: &FakePorts, name: &str) -> Option<String> {
    let sent = ports.upstream.sent();
    sent.last().expect("upstream called").0.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

#[test]
fn missing_credentials_get_401_with_a_bearer_challenge_and_never_reach_the_origin() {
    let (gateway, ports) = setup();
    let response = serve(&gateway, &ports, request("GET", "/jwt", &[]));
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&response), r#"Bearer realm="edge-gateway""#);
    let body = problem(&response);
    assert_eq!(body.kind, "urn:edge-gateway:problem:unauthorized");
    assert_eq!(body.detail, "This route requires authentication.");
    let response = serve(&gateway, &ports, request("GET", "/key", &[]));
    assert_eq!(challenge(&response), r#"ApiKey realm="edge-gateway""#);
    assert!(ports.upstream.sent().is_empty());
}

#[test]
fn a_valid_token_reaches_the_origin_with_identity_headers_and_without_authorization() {
    let (gateway, ports) = setup();
    let token = token("k1", SECRET_1, claims());
    let spoofed = [
        ("authorization", bearer(&token)),
        ("x-auth-subject", "mallory".into()),
        ("x-auth-tenant", "evil".into()),
    ];
    let headers: Vec<(&str, &str)> = spoofed.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let response = serve(&gateway, &ports, request("GET", "/jwt", &headers));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(upstream_header(&ports, "x-auth-subject").as_deref(), Some("alice"));
    assert_eq!(upstream_header(&ports, "x-auth-tenant").as_deref(), Some("acme"));
    assert_eq!(upstream_header(&ports, "x-auth-scopes").as_deref(), Some("read write"));
    assert_eq!(upstream_header(&ports, "x-auth-method").as_deref(), Some("jwt"));
    assert_eq!(upstream_header(&ports, "x-auth-issuer").as_deref(), Some("idp"));
    assert_eq!(upstream_header(&ports, "authorization"), None);
    // The route that forwards Authorization does so.
    serve(&gateway, &ports, request("GET", "/fwd", &headers[..1]));
    assert_eq!(upstream_header(&ports, "authorization"), Some(bearer(&token)));
}

#[test]
fn spoofed_identity_headers_are_stripped_on_unauthenticated_routes_too() {
    let (gateway, ports) = setup();
    let spoofed = [("x-auth-subject", "mallory"), ("x-auth-scopes", "admin"), ("x-auth-method", "jwt")];
    assert_eq!(serve(&gateway, &ports, request("GET", "/open", &spoofed)).status(), StatusCode::OK);
    for (name, _) in spoofed {
        assert_eq!(upstream_header(&ports, name), None, "{name}");
    }
}

#[test]
fn refused_tokens_get_the_same_rfc_6750_answer_and_the_reason_only_in_the_log() {
    let (gateway, ports) = setup();
    let cases = [
        (
            "expired",
            token("k1", SECRET_1, json!({"iss": "https://idp.test", "aud": "api", "exp": NOW_S - 600})),
        ),
        (
            "wrong audience",
            token("k1", SECRET_1, json!({"iss": "https://idp.test", "aud": "x", "exp": NOW_S + 60})),
        ),
        ("invalid signature", token("k1", SECRET_2, claims())),
        ("issuer not accepted", "not-a-token".to_owned()),
        (
            "issuer not accepted",
            token("k1", SECRET_1, json!({"iss": "https://nobody.test", "exp": NOW_S + 60})),
        ),
    ];
    for (reason, token) in cases {
        let response = serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &bearer(&token))]));
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{reason}");
        assert!(challenge(&response).contains(r#"error="invalid_token""#), "{reason}");
        assert_eq!(
            problem(&response).detail,
            "The access token is missing, malformed, expired or otherwise invalid.",
            "{reason}"
        );
        let lines = ports.log.lines();
        let (_, last) = lines.last().unwrap();
        assert!(last.to_lowercase().contains(reason), "{reason}: {last}");
        assert!(lines.iter().all(|(_, line)| !line.contains(&token)), "token leaked into the log");
    }
    for value in ["Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer", "Bearer "] {
        let response = serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", value)]));
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{value}");
        assert!(challenge(&response).contains("invalid_token"), "{value}");
    }
    assert!(ports.upstream.sent().is_empty());
}

#[test]
fn the_token_issuer_picks_the_policy_when_a_route_accepts_several() {
    let (gateway, ports) = setup();
    let other = token(
        "o1",
        SECRET_2,
        json!({"iss": "https://other.test", "sub": "bob", "exp": NOW_S + 60, "org": "globex"}),
    );
    let response = serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &bearer(&other))]));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(upstream_header(&ports, "x-auth-issuer").as_deref(), Some("other"));
    assert_eq!(ports.fetch.calls(JWKS_URL), 0, "inline keys are never fetched");
}

#[test]
fn keys_are_fetched_once_shared_through_kv_and_adopted_by_a_cold_instance() {
    let (gateway, ports) = setup();
    let token = token("k1", SECRET_1, claims());
    let auth = bearer(&token);
    for _ in 0..3 {
        assert_eq!(
            serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &auth)])).status(),
            StatusCode::OK
        );
    }
    assert_eq!(ports.fetch.calls(JWKS_URL), 1);
    let writes = ports.kv.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].0, "auth/jwks/idp");
    // TTL 300 s from Cache-Control, kept for max-stale (300 s) more.
    assert_eq!(writes[0].1.map(|d| d.as_secs()), Some(600));
    let cold = Gateway::new();
    assert_eq!(
        serve(&cold, &ports, request("GET", "/jwt", &[("authorization", &auth)])).status(),
        StatusCode::OK
    );
    assert_eq!(ports.fetch.calls(JWKS_URL), 1, "the cold instance used the shared copy");
}

#[test]
fn an_unknown_kid_refetches_once_per_interval_and_rotation_works_without_restart() {
    let (gateway, ports) = setup();
    let auth1 = bearer(&token("k1", SECRET_1, claims()));
    assert_eq!(
        serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &auth1)])).status(),
        StatusCode::OK
    );
    // The issuer rotates to k2 within the refetch interval: the refetch is refused.
    ports.fetch.answer(|_| Ok(document(&jwks(&[("k2", SECRET_2)]), Some(300))));
    let auth2 = bearer(&token("k2", SECRET_2, claims()));
    ports.clock.advance(10_000);
    let response = serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &auth2)]));
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(ports.fetch.calls(JWKS_URL), 1);
    // Past the interval, the unknown kid triggers one refetch and verifies.
    ports.clock.advance(25_000);
    for _ in 0..3 {
        let response = serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &auth2)]));
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(ports.fetch.calls(JWKS_URL), 2);
    // k1 left the set: its tokens (even cached ones) are refused now.
    let response = serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &auth1)]));
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Garbage kids cannot make the gateway hammer the issuer.
    for i in 0..20 {
        let junk = bearer(&token(&format!("junk-{i}"), SECRET_1, claims()));
        serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &junk)]));
    }
    assert_eq!(ports.fetch.calls(JWKS_URL), 2);
}

#[test]
fn stale_keys_serve_while_the_issuer_is_down_until_max_stale() {
    let (gateway, ports) = setup();
    let auth = bearer(&token(
        "k1",
        SECRET_1,
        json!({"iss": "https://idp.test", "aud": "api", "exp": NOW_S + 86_400}),
    ));
    assert_eq!(
        serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &auth)])).status(),
        StatusCode::FORBIDDEN
    );
    ports.fetch.answer(|_| Err(FetchError("connection refused".into())));
    ports.clock.advance(400_000); // past the 300 s TTL, within 300 s of max-stale
    let response = serve(&gateway, &ports, request("GET", "/open", &[]));
    assert_eq!(response.status(), StatusCode::OK);
    let ok = token(
        "k1",
        SECRET_1,
        json!({"iss": "https://idp.test", "aud": "api", "exp": NOW_S + 86_400, "org": "acme"}),
    );
    let response = serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &bearer(&ok))]));
    assert_eq!(response.status(), StatusCode::OK);
    assert!(ports.log.contains(Level::Warn, "auth: issuer idp: serving stale keys"));
    ports.clock.advance(300_000); // past max-stale
    let response = serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &bearer(&ok))]));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(problem(&response).kind, "urn:edge-gateway:problem:auth-unavailable");
}

#[test]
fn a_failed_key_fetch_is_retried_once_per_interval_not_by_every_request() {
    let (gateway, ports) = setup();
    let auth = |n: u32| {
        let claims = json!({"iss": "https://idp.test", "aud": "api", "sub": format!("u{n}"),
                            "exp": NOW_S + 86_400, "org": "acme"});
        bearer(&token("k1", SECRET_1, claims))
    };
    assert_eq!(
        serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &auth(0))])).status(),
        StatusCode::OK
    );
    ports.fetch.answer(|_| Err(FetchError("timed out after 5s".into())));
    ports.clock.advance(301_000); // stale
    for n in 1..=10 {
        let response = serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &auth(n))]));
        assert_eq!(response.status(), StatusCode::OK, "stale keys serve");
    }
    assert_eq!(ports.fetch.calls(JWKS_URL), 2, "one failed refresh, not ten");
    ports.clock.advance(30_000);
    serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &auth(11))]));
    assert_eq!(ports.fetch.calls(JWKS_URL), 3, "retried after the interval");
    // A cold instance with the IdP down fails fast after its one attempt.
    ports.kv.delete("auth/jwks/idp");
    let cold = Gateway::new();
    for n in 12..15 {
        let response = serve(&cold, &ports, request("GET", "/jwt", &[("authorization", &auth(n))]));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(ports.fetch.calls(JWKS_URL), 4);
}

#[test]
fn keys_are_refreshed_ahead_of_expiry_without_failing_requests() {
    let (gateway, ports) = setup();
    // A new token each time: verified tokens are cached and would not consult the keys.
    let auth = |n: u32| {
        let claims = json!({"iss": "https://idp.test", "aud": "api", "sub": format!("user-{n}"),
                            "exp": NOW_S + 3600, "org": "acme"});
        bearer(&token("k1", SECRET_1, claims))
    };
    serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &auth(1))]));
    ports.clock.advance(269_000); // before the refresh window (30 to 15 s before the 300 s TTL)
    serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &auth(2))]));
    assert_eq!(ports.fetch.calls(JWKS_URL), 1);
    ports.clock.advance(16_000); // 15 s before expiry: inside the window
    let response = serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &auth(3))]));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ports.fetch.calls(JWKS_URL), 2);
}

#[test]
fn concurrent_cold_requests_share_one_key_fetch() {
    let (gateway, ports) = setup();
    ports.fetch.yields.set(3);
    let auth = bearer(&token("k1", SECRET_1, claims()));
    let client = ClientInfo::default();
    let futures: Vec<_> = (0..5)
        .map(|_| {
            Box::pin(gateway.handle(&ports, request("GET", "/jwt", &[("authorization", &auth)]), &client))
        })
        .collect();
    let responses = pollster::block_on(edge_gateway_core::testing::JoinAll::new(futures));
    assert!(responses.iter().all(|r| r.status() == StatusCode::OK));
    assert_eq!(ports.fetch.calls(JWKS_URL), 1);
}

#[test]
fn scope_and_claim_rules_answer_403() {
    let (gateway, ports) = setup();
    let read_only = token(
        "k1",
        SECRET_1,
        json!({"iss": "https://idp.test", "aud": "api", "exp": NOW_S + 60, "scope": "read", "org": "acme"}),
    );
    let auth = bearer(&read_only);
    assert_eq!(
        serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &auth)])).status(),
        StatusCode::OK
    );
    let response = serve(&gateway, &ports, request("POST", "/jwt", &[("authorization", &auth)]));
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&response),
        r#"Bearer realm="edge-gateway", error="insufficient_scope", scope="write""#
    );
    let outsider = token(
        "k1",
        SECRET_1,
        json!({"iss": "https://idp.test", "aud": "api", "exp": NOW_S + 60, "org": "initech"}),
    );
    let response = serve(&gateway, &ports, request("GET", "/jwt", &[("authorization", &bearer(&outsider))]));
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get("www-authenticate").is_none());
    assert_eq!(problem(&response).kind, "urn:edge-gateway:problem:forbidden");
}

#[test]
fn a_token_in_a_cookie_is_read_from_the_cookie() {
    let (gateway, ports) = setup();
    let cookie = format!("theme=dark; session={}", token("k1", SECRET_1, claims()));
    let response = serve(&gateway, &ports, request("GET", "/cookie", &[("cookie", &cookie)]));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(upstream_header(&ports, "x-auth-subject").as_deref(), Some("alice"));
    let response = serve(&gateway, &ports, request("GET", "/cookie", &[("cookie", "theme=dark")]));
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

fn store_key(ports: &FakePorts, key: &str, status: &str, expires: Option<u64>) {
    let hash = apikey::hash_key(key).unwrap();
    let mut record = json!({"key_sha256": hash, "id": "k_demo", "tenant": "acme", "scopes": ["read"],
                            "status": status, "description": "test"});
    if let Some(at) = expires {
        record["expires_at_ms"] = json!(at);
    }
    ports.kv.put(&apikey::record_key(&hash), record.to_string());
}

#[test]
fn api_keys_work_once_added_and_stop_within_the_cache_ttl_of_revocation() {
    let (gateway, ports) = setup();
    let key = "egk_live_0123456789";
    let response = serve(&gateway, &ports, request("GET", "/key", &[("x-api-key", key)]));
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(problem(&response).detail, "The API key is missing, unknown, revoked or expired.");
    store_key(&ports, key, "active", None);
    ports.clock.advance(5_000); // unknown keys are remembered for at most 5 s
    let response = serve(&gateway, &ports, request("GET", "/key", &[("x-api-key", key)]));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(upstream_header(&ports, "x-api-key"), None, "the plain key never leaves the edge");
    assert_eq!(upstream_header(&ports, "x-auth-subject").as_deref(), Some("apikey:k_demo"));
    assert_eq!(upstream_header(&ports, "x-auth-tenant").as_deref(), Some("acme"));
    assert_eq!(upstream_header(&ports, "x-auth-method").as_deref(), Some("api_key"));
    let response = serve(&gateway, &ports, request("DELETE", "/key", &[("x-api-key", key)]));
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Revoked: still served from this instance's cache until the 10 s TTL runs out.
    store_key(&ports, key, "revoked", None);
    ports.clock.advance(9_000);
    assert_eq!(
        serve(&gateway, &ports, request("GET", "/key", &[("x-api-key", key)])).status(),
        StatusCode::OK
    );
    ports.clock.advance(1_000);
    assert_eq!(
        serve(&gateway, &ports, request("GET", "/key", &[("x-api-key", key)])).status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(ports.log.lines().iter().all(|(_, line)| !line.contains(key)), "key leaked into the log");
}

#[test]
fn expired_or_mismatched_api_key_records_are_refused() {
    let (gateway, ports) = setup();
    let now = NOW_S * 1000;
    store_key(&ports, "expired-key", "active", Some(now - 1));
    let response = serve(&gateway, &ports, request("GET", "/key", &[("x-api-key", "expired-key")]));
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A record copied under another key's name admits neither key.
    let hash = apikey::hash_key("victim").unwrap();
    ports.kv.put(
        &apikey::record_key(&apikey::hash_key("attacker").unwrap()),
        json!({"key_sha256": hash, "id": "x", "tenant": "t", "status": "active"}).to_string(),
    );
    let response = serve(&gateway, &ports, request("GET", "/key", &[("x-api-key", "attacker")]));
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn an_api_key_in_the_query_is_accepted_and_removed_before_forwarding() {
    let (gateway, ports) = setup();
    store_key(&ports, "qkey", "active", None);
    let response = serve(&gateway, &ports, request("GET", "/either?a=1&api_key=qkey&b=2", &[]));
    assert_eq!(response.status(), StatusCode::OK);
    let sent = ports.upstream.sent();
    assert_eq!(sent.last().unwrap().0.uri().query(), Some("a=1&b=2"));
}

#[test]
fn auth_config_errors_name_their_fields() {
    let mut doc: Value = serde_json::from_str(&routes()).unwrap();
    doc["auth"]["issuers"]["idp"]["algorithms"] = json!(["none"]);
    doc["auth"]["issuers"]["other"]["jwks_uri"] = json!("http://x.test/jwks");
    doc["auth"]["identity_headers"] = json!({"subject": "authorization"});
    doc["routes"][1]["auth"]["jwt"] = json!(["idp", "ghost"]);
    doc["routes"][4]["auth"]["rules"][0]["scopes"] = json!([]);
    doc["routes"][0]["auth"] = json!({});
    let errors = match Config::from_json(doc.to_string().as_bytes()) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
    };
    let expected = [
        "$.auth.issuers.idp.algorithms: `none` can never be allowed",
        "$.auth.issuers.other: set exactly one of `jwks_uri`, `discovery_url` and `jwks`",
        "$.auth.identity_headers.subject: `authorization` is reserved",
        "$.routes[0].auth: must accept `jwt` issuers, `api_key`, or both",
        "$.routes[1].auth.jwt[1]: unknown issuer `ghost`",
        "$.routes[4].auth.rules[0]: must require at least one scope or claim",
    ];
    for line in expected {
        assert!(errors.iter().any(|e| e == line), "missing `{line}` in {errors:#?}");
    }
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
}

/// Regression (issue 9, finding 7): two issuers with one `iss` on a route (JWKS and inline
/// HMAC) made the gateway pick the first and refuse valid tokens of the second. A token names
/// only its `iss`, so such a route is refused at validation, naming both issuers.
#[test]
fn two_issuers_with_one_iss_on_a_route_are_refused_at_validation() {
    let mut doc: serde_json::Value = serde_json::from_str(&routes()).unwrap();
    doc["auth"]["issuers"]["other"]["issuer"] = json!("https://idp.test");
    let errors = Config::from_json(doc.to_string().as_bytes()).expect_err("same iss on route `jwt`").0;
    let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].starts_with(
            "$.routes[1].auth.jwt[1]: issuers `idp` and `other` both have `iss` `https://idp.test`"
        ),
        "{reasons:?}"
    );
    // On different routes the two issuers are fine: each route names which keys to check.
    doc["routes"][1]["auth"]["jwt"] = json!(["other"]);
    assert!(Config::from_json(doc.to_string().as_bytes()).is_ok());
}
