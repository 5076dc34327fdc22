//! Rate-limit policies in the routes document: what parses, what each route gets, and every
//! bad policy reported with its JSON path.
#![allow(missing_docs)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use edge_gateway_core::config::Config;
use edge_gateway_core::ratelimit::{Algorithm, KeyPart, Mode, OnStoreError};

/// A document with `policies` as `rate_limits`, `extra` top-level fields and `routes`.
fn doc(policies: &str, extra: &str, routes: &str) -> String {
    format!(
        r#"{{"regions":[{{"name":"eu","shield":"http://127.0.0.1:9101","lat":1,"lon":2}}],
            "pools":{{"api":{{"regions":["eu"]}}}},"rate_limits":{policies}{extra},"routes":{routes}}}"#
    )
}

const ONE_ROUTE: &str = r#"[{"id":"a","path":"/x","pool":"api"}]"#;

fn errors(doc: &str) -> Vec<String> {
    match Config::from_json(doc.as_bytes()) {
        Ok(_) => panic!("expected errors for {doc}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_full_policy_parses_into_validated_types() {
    let policies = r#"{
        "tenant-day": {"limit": 10000, "period_s": 86400, "key": [{"claim": "tenant"}],
                       "mode": "exact", "on_store_error": "fail_closed"},
        "user-burst": {"limit": 100, "period_s": 60, "algorithm": "gcra", "burst": 20,
                       "key": ["subject", "route"], "cost": 2, "mode": "approximate", "shadow": true},
        "by-header": {"limit": 5, "period_s": 1, "key": [{"header": "X-Client-Id"}, "client_ip", "api_key"]}
    }"#;
    let config = Config::from_json(doc(policies, "", ONE_ROUTE).as_bytes()).expect("valid");
    let limits = &config.rate_limits;
    let names: Vec<&str> = limits.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["by-header", "tenant-day", "user-burst"]);
    let day = limits.get("tenant-day").unwrap();
    assert_eq!(day.rate.algorithm, Algorithm::SlidingWindow);
    assert_eq!((day.rate.limit, day.rate.period_ms, day.period_s()), (10000, 86_400_000, 86400));
    assert_eq!(day.key, vec![KeyPart::Claim("tenant".into())]);
    assert_eq!(
        (day.cost, day.mode, day.on_store_error, day.shadow),
        (1, Mode::Exact, OnStoreError::FailClosed, false)
    );
    let burst = limits.get("user-burst").unwrap();
    assert_eq!(burst.rate.algorithm, Algorithm::Gcra { burst: 20 });
    assert_eq!(burst.key, vec![KeyPart::Subject, KeyPart::Route]);
    assert_eq!(
        (burst.cost, burst.mode, burst.on_store_error, burst.shadow),
        (2, Mode::Approximate, OnStoreError::FailOpen, true)
    );
    let header = limits.get("by-header").unwrap();
    assert_eq!(header.key[0], KeyPart::Header(http::HeaderName::from_static("x-client-id")));
    assert_eq!(header.key[1..], [KeyPart::ClientIp, KeyPart::ApiKey]);
    assert!(!limits.legacy_headers);
    assert!(config.routes[0].rate_limit.is_empty(), "no default list, no route list: no limits");
}

#[test]
fn gcra_without_burst_bursts_up_to_its_limit() {
    let policies = r#"{"g": {"limit": 7, "period_s": 1, "algorithm": "gcra", "key": ["global"]}}"#;
    let config = Config::from_json(doc(policies, "", ONE_ROUTE).as_bytes()).unwrap();
    assert_eq!(config.rate_limits.policies[0].rate.algorithm, Algorithm::Gcra { burst: 7 });
}

#[test]
fn routes_get_their_own_list_or_the_default_one() {
    let policies = r#"{"a": {"limit": 1, "period_s": 1, "key": ["global"]},
                       "b": {"limit": 1, "period_s": 1, "key": ["client_ip"]}}"#;
    let routes = r#"[{"id":"default","path":"/d","pool":"api"},
                     {"id":"own","path":"/o","pool":"api","rate_limit":["b","a"]},
                     {"id":"none","path":"/n","pool":"api","rate_limit":[]}]"#;
    let extra = r#","default_rate_limit":["b"],"settings":{"legacy_rate_limit_headers":true}"#;
    let config = Config::from_json(doc(policies, extra, routes).as_bytes()).expect("valid");
    let lists: Vec<&[usize]> = config.routes.iter().map(|r| r.rate_limit.as_slice()).collect();
    assert_eq!(lists, [&[1][..], &[1, 0], &[]]);
    assert_eq!(config.rate_limits.default, vec![1]);
    assert!(config.rate_limits.legacy_headers);
}

#[test]
fn each_bad_policy_reports_its_path_and_reason() {
    let ok = r#""limit": 10, "period_s": 60, "key": ["global"]"#;
    // (policy body, expected "path: reason" prefix)
    let table: &[(&str, &str)] = &[
        (r#""limit": 0, "period_s": 60, "key": ["global"]"#, "$.rate_limits.p.limit: must be between 1 and"),
        (
            r#""limit": 1000000001, "period_s": 60, "key": ["global"]"#,
            "$.rate_limits.p.limit: must be between 1",
        ),
        (r#""limit": 10, "period_s": 0, "key": ["global"]"#, "$.rate_limits.p.period_s: must be between 1"),
        (
            r#""limit": 10, "period_s": 40000000, "key": ["global"]"#,
            "$.rate_limits.p.period_s: must be between",
        ),
        (&format!(r#"{ok}, "burst": 5"#), "$.rate_limits.p.burst: only a `gcra` policy has a burst"),
        (&format!(r#"{ok}, "algorithm": "gcra", "burst": 0"#), "$.rate_limits.p.burst: must be between 1"),
        (&format!(r#"{ok}, "cost": 0"#), "$.rate_limits.p.cost: must be at least 1"),
        (&format!(r#"{ok}, "cost": 11"#), "$.rate_limits.p.cost: must be at most the limit (10)"),
        (
            &format!(r#"{ok}, "algorithm": "gcra", "burst": 3, "cost": 4"#),
            "$.rate_limits.p.cost: must be at most the burst (3)",
        ),
        (r#""limit": 10, "period_s": 60, "key": []"#, "$.rate_limits.p.key: must name at least one part"),
        (
            r#""limit": 10, "period_s": 60, "key": ["global", "route"]"#,
            "$.rate_limits.p.key: `global` is one counter",
        ),
        (r#""limit": 10, "period_s": 60, "key": ["route", "route"]"#, "$.rate_limits.p.key[1]: listed twice"),
        (
            r#""limit": 10, "period_s": 60, "key": [{"header": "bad header"}]"#,
            "$.rate_limits.p.key[0].header: `bad header` is not a header name",
        ),
        (
            r#""limit": 10, "period_s": 60, "key": [{"header": "Authorization"}]"#,
            "$.rate_limits.p.key[0].header: `Authorization` carries credentials",
        ),
        (
            r#""limit": 10, "period_s": 60, "key": [{"header": "x-auth-subject"}]"#,
            "$.rate_limits.p.key[0].header: `x-auth-subject` is an identity or API-key header",
        ),
        (
            r#""limit": 10, "period_s": 60, "key": [{"header": "x-api-key"}]"#,
            "$.rate_limits.p.key[0].header: `x-api-key` is an identity",
        ),
        (
            r#""limit": 10, "period_s": 60, "key": [{"claim": ""}]"#,
            "$.rate_limits.p.key[0].claim: must be 1 to 256",
        ),
        (r#""limit": 10, "period_s": 60, "key": ["tenant"]"#, "$.rate_limits.p.key[0]: data did not match"),
        (&format!(r#"{ok}, "algorithm": "leaky""#), "$.rate_limits.p.algorithm: unknown variant `leaky`"),
        (&format!(r#"{ok}, "mode": "eventual""#), "$.rate_limits.p.mode: unknown variant `eventual`"),
        (&format!(r#"{ok}, "on_store_error": "retry""#), "$.rate_limits.p.on_store_error: unknown variant"),
        (&format!(r#"{ok}, "colour": "red""#), "$.rate_limits.p.colour: unknown field `colour`"),
        (r#""period_s": 60, "key": ["global"]"#, "$.rate_limits.p: missing field `limit`"),
    ];
    for (body, expected) in table {
        let found = errors(&doc(&format!(r#"{{"p": {{{body}}}}}"#), "", ONE_ROUTE));
        assert!(
            found.iter().any(|e| e.starts_with(expected)),
            "policy {body}: expected `{expected}`, got {found:?}"
        );
    }
}

#[test]
fn references_to_policies_are_checked_everywhere() {
    let policies = r#"{"a": {"limit": 1, "period_s": 1, "key": ["global"]},
                       "broken": {"limit": 0, "period_s": 1, "key": ["global"]},
                       "bad name!": {"limit": 1, "period_s": 1, "key": ["global"]}}"#;
    let routes = r#"[{"id":"r","path":"/x","pool":"api","rate_limit":["a","nope","a","broken"]}]"#;
    let found = errors(&doc(policies, r#","default_rate_limit":["ghost"]"#, routes));
    let expected = [
        r#"$["bad name!"]"#,
        "$.rate_limits.broken.limit: must be between 1",
        "$.default_rate_limit[0]: unknown rate-limit policy `ghost`",
        "$.routes[0].rate_limit[1]: unknown rate-limit policy `nope`",
        "$.routes[0].rate_limit[2]: policy `a` listed twice",
    ];
    for prefix in expected {
        let prefix =
            prefix.replace(r#"$["bad name!"]"#, r#"$.rate_limits["bad name!"]: policy name must be"#);
        assert!(found.iter().any(|e| e.starts_with(&prefix)), "expected `{prefix}` in {found:?}");
    }
    assert!(!found.iter().any(|e| e.contains("`broken`")), "an invalid policy is reported once: {found:?}");
    assert_eq!(found.len(), 5, "{found:?}");
}

#[test]
fn rate_limit_sections_have_the_right_shape() {
    let found = errors(&doc("[]", r#","default_rate_limit":"a""#, ONE_ROUTE));
    assert!(found.iter().any(|e| e.starts_with("$.rate_limits: must be an object")), "{found:?}");
    assert!(found.iter().any(|e| e.starts_with("$.default_rate_limit: invalid type")), "{found:?}");
}

#[test]
fn the_example_in_docs_ratelimits_md_is_valid() {
    const DOC: &str = include_str!("../../../docs/ratelimits.md");
    let block =
        DOC.split("```json\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a json block");
    let mut example: serde_json::Value = serde_json::from_str(block).expect("the example is JSON");
    example["regions"] =
        serde_json::json!([{"name": "eu", "shield": "http://127.0.0.1:9101", "lat": 1, "lon": 2}]);
    example["pools"] = serde_json::json!({"api": {"regions": ["eu"]}});
    let config = Config::from_json(example.to_string().as_bytes()).expect("the example validates");
    let names = |route: usize| -> Vec<&str> {
        config.routes[route]
            .rate_limit
            .iter()
            .map(|&i| config.rate_limits.policies[i].name.as_str())
            .collect()
    };
    assert_eq!(names(0), ["tenant-day", "user-burst"]);
    assert!(names(1).is_empty());
    assert!(config.rate_limits.get("new-limit").unwrap().shadow);
}
