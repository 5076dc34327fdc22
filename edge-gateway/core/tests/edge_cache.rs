//! The edge cache through the whole pipeline over the fakes: miss → hit → stale → revalidated,
//! stale-while-revalidate, stale-if-error, Vary, unkeyed input, bypass, purge.
#![allow(missing_docs)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod support;

use std::cell::Cell;
use std::rc::Rc;

use bytes::Bytes;
use edge_gateway_core::ports::UpstreamError;
use edge_gateway_core::testing::FakePorts;
use edge_gateway_core::{Body, ClientInfo, Gateway};
use http::{Request, Response, StatusCode};
use serde_json::json;
use support::{get, origin, routes, serve, setup};

#[test]
fn a_miss_is_stored_and_the_next_request_is_a_hit_with_age_and_its_own_request_id() {
    let (gateway, ports) = setup();
    let origin =
        origin(&ports, |_, _| Ok(vec![("cache-control", "max-age=60".into()), ("etag", "\"v1\"".into())]));
    let (status, body, cache_status, _) = serve(&gateway, &ports, get("/c/a", &[]));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "body 1"));
    assert_eq!(cache_status, "edge-gateway; fwd=uri-miss; fwd-status=200; stored");
    ports.clock.advance(5_000);
    let (status, body, cache_status, headers) =
        serve(&gateway, &ports, get("/c/a", &[("x-request-id", "second")]));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "body 1"));
    assert_eq!(cache_status, "edge-gateway; hit; ttl=55");
    assert_eq!(headers["age"], "5");
    assert_eq!(headers["x-request-id"], "second");
    assert!(headers.get("x-edge-cache-meta").is_none(), "internal metadata never reaches clients");
    assert_eq!(origin.hits.get(), 1);
    // 60 s fresh, plus 60 s in which the ETag can still revalidate it.
    assert_eq!(ports.cache.kept_for("/c/a"), Some(std::time::Duration::from_secs(120)));
}

#[test]
fn a_stale_entry_is_revalidated_and_a_304_refreshes_it() {
    let (gateway, ports) = setup();
    let origin = origin(&ports, |request, n| {
        if n == 1 {
            return Ok(vec![("cache-control", "max-age=10".into()), ("etag", "\"v1\"".into())]);
        }
        assert_eq!(request.headers()["if-none-match"], "\"v1\"", "the revalidation is conditional");
        Ok(vec![(":304", String::new()), ("cache-control", "max-age=30".into()), ("etag", "\"v1\"".into())])
    });
    serve(&gateway, &ports, get("/c/r", &[]));
    ports.clock.advance(11_000);
    let (status, body, cache_status, _) = serve(&gateway, &ports, get("/c/r", &[]));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "body 1"), "the stored body, refreshed");
    assert_eq!(cache_status, "edge-gateway; fwd=stale; fwd-status=304; stored");
    ports.clock.advance(20_000);
    let (_, body, cache_status, _) = serve(&gateway, &ports, get("/c/r", &[]));
    assert_eq!(body, "body 1");
    assert_eq!(cache_status, "edge-gateway; hit; ttl=10", "fresh for the 304's max-age=30");
    assert_eq!(origin.hits.get(), 2);
}

#[test]
fn stale_while_revalidate_serves_at_once_and_revalidates_afterwards() {
    let (gateway, ports) = setup();
    let origin = origin(&ports, |_, n| {
        Ok(vec![
            ("cache-control", "max-age=10, stale-while-revalidate=60".into()),
            ("etag", format!("\"v{n}\"")),
        ])
    });
    serve(&gateway, &ports, get("/c/s", &[]));
    ports.clock.advance(20_000);
    let (response, deferred) =
        pollster::block_on(gateway.handle_deferred(&ports, get("/c/s", &[]), &ClientInfo::default()));
    let status = response.headers()["cache-status"].to_str().unwrap().to_owned();
    assert_eq!(status, "edge-gateway; hit; ttl=-10; detail=stale-while-revalidate");
    assert_eq!(origin.hits.get(), 1, "nothing waited for the origin");
    pollster::block_on(gateway.run_deferred(&ports, deferred.expect("a revalidation is due")));
    assert_eq!(origin.hits.get(), 2);
    let (_, body, cache_status, _) = serve(&gateway, &ports, get("/c/s", &[]));
    assert_eq!((body.as_str(), cache_status.as_str()), ("body 2", "edge-gateway; hit; ttl=10"));
}

#[test]
fn stale_if_error_serves_the_entry_while_every_region_fails_and_not_beyond_the_window() {
    let (gateway, ports) = setup();
    let up = Rc::new(Cell::new(true));
    let flag = up.clone();
    origin(&ports, move |_, _| if flag.get() { Ok(vec![("etag", "\"e\"".into())]) } else { Err(0) });
    serve(&gateway, &ports, get("/f/x", &[])); // forced: ttl_s 60, stale_if_error_s 300
    up.set(false);
    ports.clock.advance(120_000);
    let (status, body, cache_status, _) = serve(&gateway, &ports, get("/f/x", &[]));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "body 1"));
    assert_eq!(cache_status, "edge-gateway; fwd=stale; detail=stale-if-error");
    ports.clock.advance(300_000);
    let (status, _, _, _) = serve(&gateway, &ports, get("/f/x", &[]));
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}

#[test]
fn a_503_from_the_origin_also_serves_stale_within_stale_if_error() {
    let (gateway, ports) = setup();
    origin(&ports, |_, n| {
        if n == 1 { Ok(vec![("cache-control", "max-age=1, stale-if-error=60".into())]) } else { Err(503) }
    });
    serve(&gateway, &ports, get("/c/e", &[]));
    ports.clock.advance(5_000);
    let (status, body, cache_status, _) = serve(&gateway, &ports, get("/c/e", &[]));
    assert_eq!((status, body.as_str()), (StatusCode::OK, "body 1"));
    assert_eq!(cache_status, "edge-gateway; fwd=stale; fwd-status=503; detail=stale-if-error");
}

#[test]
fn vary_keeps_variants_apart() {
    let (gateway, ports) = setup();
    let origin = origin(&ports, |_, _| {
        Ok(vec![("cache-control", "max-age=60".into()), ("vary", "Accept-Language".into())])
    });
    serve(&gateway, &ports, get("/c/v", &[("accept-language", "fr")]));
    let (_, body, cache_status, _) = serve(&gateway, &ports, get("/c/v", &[("accept-language", "de")]));
    assert_eq!(
        (body.as_str(), cache_status.as_str()),
        ("body 2", "edge-gateway; fwd=vary-miss; fwd-status=200; stored")
    );
    let (_, body, _, _) = serve(&gateway, &ports, get("/c/v", &[("accept-language", "de")]));
    assert_eq!(body, "body 2");
    assert_eq!(origin.hits.get(), 2);
}

#[test]
fn responses_the_policy_refuses_are_never_stored() {
    let cases = [
        ("private", vec![("cache-control", "private, max-age=60")], "private"),
        ("no-store", vec![("cache-control", "no-store")], "no-store"),
        ("cookie", vec![("cache-control", "max-age=60"), ("set-cookie", "s=1")], "set-cookie"),
        ("nothing", vec![], "no-freshness"),
    ];
    for (name, headers, detail) in cases {
        let (gateway, ports) = setup();
        let headers: Vec<(&'static str, String)> =
            headers.into_iter().map(|(n, v)| (n, v.to_owned())).collect();
        let origin = origin(&ports, move |_, _| Ok(headers.clone()));
        let path = format!("/c/{name}");
        let (_, _, cache_status, _) = serve(&gateway, &ports, get(&path, &[]));
        assert_eq!(
            cache_status,
            format!("edge-gateway; fwd=uri-miss; fwd-status=200; detail={detail}"),
            "{name}"
        );
        serve(&gateway, &ports, get(&path, &[]));
        assert_eq!(origin.hits.get(), 2, "{name}");
        assert!(ports.cache.is_empty(), "{name}");
    }
}

#[test]
fn unkeyed_input_never_changes_what_a_hit_serves() {
    let (gateway, ports) = setup();
    // The origin reflects unkeyed input into the body: the classic poisoning vector.
    origin(&ports, |request, _| {
        let reflected = request.headers().get("x-forwarded-host").map(|v| v.to_str().unwrap().to_owned());
        Ok(vec![("x-reflected", reflected.unwrap_or_default())])
    });
    serve(&gateway, &ports, get("/f/page?page=2&utm=a", &[("x-tenant", "t1")]));
    let poisoned = [("x-forwarded-host", "evil.test"), ("x-original-url", "/admin"), ("x-tenant", "t1")];
    let (_, body, cache_status, headers) = serve(&gateway, &ports, get("/f/page?utm=zzz&page=2", &poisoned));
    assert_eq!((body.as_str(), cache_status.as_str()), ("body 1", "edge-gateway; hit; ttl=60"));
    assert_eq!(
        headers["x-reflected"], "a.test",
        "the gateway rewrote X-Forwarded-Host before the origin saw it"
    );
    // A keyed header or parameter does make a new entry.
    let (_, body, _, _) = serve(&gateway, &ports, get("/f/page?page=2", &[("x-tenant", "t2")]));
    assert_eq!(body, "body 2");
    let (_, body, _, _) = serve(&gateway, &ports, get("/f/page?page=3", &[("x-tenant", "t1")]));
    assert_eq!(body, "body 3");
}

#[test]
fn uncached_routes_methods_and_platforms_say_why_in_cache_status() {
    let (gateway, ports) = setup();
    origin(&ports, |_, _| Ok(vec![("cache-control", "max-age=60".into())]));
    assert_eq!(serve(&gateway, &ports, get("/p/x", &[])).2, "edge-gateway; fwd=bypass; fwd-status=200");
    assert_eq!(
        serve(&gateway, &ports, get("/b/x", &[])).2,
        "edge-gateway; fwd=bypass; fwd-status=200; detail=route-bypass"
    );
    let post = Request::post("https://a.test/c/x").body(Body::Empty).unwrap();
    assert_eq!(serve(&gateway, &ports, post).2, "edge-gateway; fwd=method; fwd-status=200");
    ports.cache.enabled.set(false);
    assert_eq!(
        serve(&gateway, &ports, get("/c/x", &[])).2,
        "edge-gateway; fwd=bypass; fwd-status=200; detail=no-edge-cache"
    );
    assert!(ports.cache.is_empty());
}

#[test]
fn only_if_cached_without_an_entry_answers_504() {
    let (gateway, ports) = setup();
    origin(&ports, |_, _| Ok(vec![("cache-control", "max-age=1".into())]));
    serve(&gateway, &ports, get("/c/o", &[]));
    ports.clock.advance(5_000);
    let (status, _, _, headers) =
        serve(&gateway, &ports, get("/c/o", &[("cache-control", "only-if-cached")]));
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(headers["content-type"], "application/problem+json");
}

fn purge(gateway: &Gateway, ports: &FakePorts, query: &str, secret: &str) -> (StatusCode, String) {
    let request = Request::post(format!("https://a.test/__gateway/purge?{query}"))
        .header("authorization", format!("Bearer {secret}"))
        .body(Body::Empty)
        .unwrap();
    let (status, body, _, _) = serve(gateway, ports, request);
    (status, body)
}

#[test]
fn purge_needs_the_secret_and_valid_parameters() {
    let (gateway, ports) = setup();
    origin(&ports, |_, _| Ok(vec![]));
    assert_eq!(
        purge(&gateway, &ports, "all=1", "s3cret").0,
        StatusCode::NOT_FOUND,
        "disabled without a secret"
    );
    *ports.purge_secret.borrow_mut() = Some("s3cret".into());
    assert_eq!(purge(&gateway, &ports, "all=1", "guess").0, StatusCode::UNAUTHORIZED);
    let (status, body) = purge(&gateway, &ports, "colour=red", "s3cret");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("unknown parameter `colour`"), "{body}");
    assert_eq!(purge(&gateway, &ports, "", "s3cret").0, StatusCode::BAD_REQUEST);
    let (status, _, _, headers) = serve(&gateway, &ports, get("/__gateway/purge?all=1", &[]));
    assert_eq!(
        (status, &headers["allow"]),
        (StatusCode::METHOD_NOT_ALLOWED, &"POST".parse::<http::HeaderValue>().unwrap())
    );
    assert!(ports.kv.value("cache/purge").is_none(), "no refused purge wrote anything");
}

#[test]
fn purge_by_url_tag_and_prefix_turns_entries_into_misses_everywhere() {
    let (gateway, ports) = setup();
    *ports.purge_secret.borrow_mut() = Some("s3cret".into());
    let origin = origin(&ports, |request, _| {
        let tag = if request.uri().path().contains("img") { "images" } else { "docs" };
        Ok(vec![("cache-control", "max-age=600".into()), ("cache-tag", format!("all, {tag}"))])
    });
    let paths = ["/c/docs/a", "/c/docs/b", "/c/img/1", "/c/img/2"];
    let warm =
        |gateway: &Gateway| paths.iter().map(|p| serve(gateway, &ports, get(p, &[])).2).collect::<Vec<_>>();
    warm(&gateway);
    let other = Gateway::new(); // another instance
    warm(&other);
    assert_eq!(origin.hits.get(), 4, "the second instance shares the cache");
    ports.clock.advance(1);
    let (status, body) = purge(&gateway, &ports, "url=%2Fc%2Fdocs%2Fa", "s3cret");
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"propagation_ms\":61000"), "{body}");
    ports.clock.advance(1); // entries stored in the purge's own millisecond count as purged
    let statuses = warm(&gateway);
    assert!(statuses[0].contains("fwd=uri-miss"), "{statuses:?}");
    assert!(statuses[1..].iter().all(|s| s.contains("hit")), "{statuses:?}");
    ports.clock.advance(1);
    purge(&gateway, &ports, "tag=images", "s3cret");
    ports.clock.advance(1);
    let statuses = warm(&gateway);
    assert_eq!(statuses.iter().filter(|s| s.contains("fwd=uri-miss")).count(), 2, "{statuses:?}");
    ports.clock.advance(1);
    purge(&gateway, &ports, "prefix=/c/docs/", "s3cret");
    // The other instance honours the stamps once its copy is older than the config TTL.
    assert!(warm(&other).iter().all(|s| s.contains("hit")));
    ports.clock.advance(1_000);
    let statuses = warm(&other);
    assert!(statuses[0].contains("fwd=uri-miss") && statuses[1].contains("fwd=uri-miss"), "{statuses:?}");
    assert!(statuses[2].contains("hit") && statuses[3].contains("hit"), "{statuses:?}");
}

#[test]
fn a_gateway_purge_is_sent_to_every_regions_shield_with_the_shield_secret() {
    let ports = FakePorts::default();
    ports.clock.advance(1_700_000_000_000);
    let mut doc: serde_json::Value = serde_json::from_str(&routes()).unwrap();
    doc["regions"] = json!([
        {"name": "eu", "shield": "http://eu.shield", "lat": 53, "lon": -6},
        {"name": "us", "shield": "http://us.shield", "lat": 39, "lon": -77}
    ]);
    doc["pools"] = json!({"api": {"regions": ["eu", "us"]}});
    ports.publish("v1", &doc.to_string());
    let gateway = Gateway::new();
    *ports.purge_secret.borrow_mut() = Some("edge".into());
    *ports.shield_purge_secret.borrow_mut() = Some("shield".into());
    ports.upstream.answer(|request| {
        if request.uri().host() == Some("us.shield") {
            return Err(UpstreamError::Connect("refused".into()));
        }
        Ok(Response::new(Body::Stream(Bytes::from("{}"))))
    });
    let (status, body) = purge(&gateway, &ports, "url=/c/a&tag=t1", "edge");
    assert_eq!(status, StatusCode::OK);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["shields"]["eu"], "purged");
    assert_eq!(answer["shields"]["us"], "connect failed: refused");
    let sent = ports.upstream.sent();
    let to_eu: Vec<_> = sent.iter().filter(|(r, _)| r.uri().host() == Some("eu.shield")).collect();
    assert_eq!(to_eu.len(), 2, "one request per kind: urls, tags");
    for (request, _) in &to_eu {
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.uri().path(), "/__shield/purge");
        assert_eq!(request.headers()["authorization"], "Bearer shield");
    }
    let bodies: Vec<String> = to_eu
        .iter()
        .map(|(r, _)| match r.body() {
            Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        })
        .collect();
    assert_eq!(bodies, [r#"{"urls":["/c/a"]}"#, r#"{"tags":["t1"]}"#]);
}

#[test]
fn answers_to_authenticated_callers_are_stored_only_when_the_origin_says_public() {
    let ports = FakePorts::default();
    ports.clock.advance(1_700_000_000_000);
    let mut doc: serde_json::Value = serde_json::from_str(&routes()).unwrap();
    doc["auth"] = json!({"api_keys": {"header": "x-api-key"}});
    doc["routes"][0]["auth"] = json!({"api_key": true});
    ports.publish("v1", &doc.to_string());
    for (tenant, key) in [("acme", "key-acme"), ("globex", "key-globex")] {
        let hash = edge_gateway_core::auth::apikey::hash_key(key).unwrap();
        let record = json!({"key_sha256": hash, "id": tenant, "tenant": tenant, "status": "active"});
        ports.kv.put(&edge_gateway_core::auth::apikey::record_key(&hash), record.to_string());
    }
    let gateway = Gateway::new();
    // The origin personalises by tenant but forgets `private`: max-age alone must not share it.
    origin(&ports, |request, _| {
        let tenant = request.headers()["x-auth-tenant"].to_str().unwrap().to_owned();
        let cc = if request.uri().path().ends_with("public") { "public, max-age=60" } else { "max-age=60" };
        Ok(vec![("cache-control", cc.into()), ("x-tenant-seen", tenant)])
    });
    let (_, _, status, _) = serve(&gateway, &ports, get("/c/me", &[("x-api-key", "key-acme")]));
    assert_eq!(status, "edge-gateway; fwd=uri-miss; fwd-status=200; detail=authorization");
    let (_, _, _, headers) = serve(&gateway, &ports, get("/c/me", &[("x-api-key", "key-globex")]));
    assert_eq!(headers["x-tenant-seen"], "globex", "never another tenant's answer");
    let (_, _, status, _) = serve(&gateway, &ports, get("/c/public", &[("x-api-key", "key-acme")]));
    assert_eq!(status, "edge-gateway; fwd=uri-miss; fwd-status=200; stored");
    let (_, _, status, _) = serve(&gateway, &ports, get("/c/public", &[("x-api-key", "key-globex")]));
    assert!(status.starts_with("edge-gateway; hit"), "{status}");
}

#[test]
fn a_successful_unsafe_request_evicts_the_targets_entry_here() {
    let (gateway, ports) = setup();
    let origin = origin(&ports, |request, _| {
        if request.method() == http::Method::POST {
            return Ok(vec![("location", "/c/items/2".into())]);
        }
        Ok(vec![("cache-control", "max-age=600".into())])
    });
    for path in ["/c/items", "/c/items/2", "/c/other"] {
        serve(&gateway, &ports, get(path, &[]));
    }
    assert_eq!(ports.cache.len(), 3);
    let post = Request::post("https://a.test/c/items").body(Body::Empty).unwrap();
    assert_eq!(serve(&gateway, &ports, post).0, StatusCode::OK);
    assert_eq!(ports.cache.len(), 1, "the target and its Location are evicted, /c/other is kept");
    assert!(serve(&gateway, &ports, get("/c/other", &[])).2.contains("hit"));
    assert!(serve(&gateway, &ports, get("/c/items", &[])).2.contains("fwd=uri-miss"));
    assert_eq!(origin.hits.get(), 5);
}

#[test]
fn cache_config_errors_name_their_fields() {
    let mut doc: serde_json::Value = serde_json::from_str(&routes()).unwrap();
    doc["routes"][0]["cache"] = json!({"ttl_s": 99_999_999_999u64, "key_headers": ["x-a", "X-A", "bad header"], "key_query": ["a&b"]});
    doc["routes"][1]["cache"] = json!({"ttl": 5});
    let errors = match edge_gateway_core::config::Config::from_json(doc.to_string().as_bytes()) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
    };
    let expected = [
        "$.routes[0].cache.ttl_s: must be at most 31536000",
        "$.routes[0].cache.key_headers[1]: `X-A` listed twice",
        "$.routes[0].cache.key_headers[2]: `bad header` is not a header name",
        "$.routes[0].cache.key_query[0]: must be a parameter name without '&', '=' or '#'",
    ];
    for line in expected {
        assert!(errors.iter().any(|e| e == line), "missing `{line}` in {errors:#?}");
    }
    assert!(
        errors.iter().any(|e| e.starts_with("$.routes[1].cache.ttl: unknown field `ttl`")),
        "{errors:#?}"
    );
    assert_eq!(errors.len(), expected.len() + 1, "{errors:#?}");
}
