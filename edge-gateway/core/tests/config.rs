//! The routes document: the example parses; every bad document reports every error with its path.
#![allow(missing_docs)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use edge_gateway_core::config::{Config, HostPattern, PathEdit, TemplatePart};

const EXAMPLE: &str = include_str!("../../../config/routes.example.json");

fn minimal(routes: &str) -> String {
    format!(
        r#"{{"regions":[{{"name":"eu","shield":"http://127.0.0.1:9101","lat":1,"lon":2}}],
            "pools":{{"api":{{"regions":["eu"]}}}},"routes":{routes}}}"#
    )
}

/// Parses `doc` expecting failure; returns `path: reason` lines.
fn errors(doc: &str) -> Vec<String> {
    match Config::from_json(doc.as_bytes()) {
        Ok(_) => panic!("expected errors for {doc}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn example_config_is_valid() {
    let config = Config::from_json(EXAMPLE.as_bytes()).expect("example config");
    assert_eq!(config.regions.len(), 3);
    assert_eq!(config.routes.len(), 5);
    let orders = config.routes[4].auth.as_ref().expect("orders has an auth policy");
    assert!(orders.api_key && orders.issuers == vec![0]);
    assert_eq!(config.auth.issuers[0].name, "corp");
    let users = &config.routes[0];
    assert_eq!(users.id, "users-get");
    assert_eq!(users.hosts[0], HostPattern::Exact("api.example.com".into()));
    assert_eq!(
        users.path_edit,
        PathEdit::Rewrite(vec![TemplatePart::Literal("/v2/users/".into()), TemplatePart::Param("id".into())])
    );
    assert_eq!(config.routes[3].hosts, vec![HostPattern::Any]);
    assert_eq!(config.settings.config_ttl.as_millis(), 5000);
    let api = config.pools.iter().find(|p| p.name == "api").unwrap();
    assert_eq!((api.regions.clone(), api.attempts), (vec![0, 1, 2], 2));
}

#[test]
fn each_bad_document_reports_its_path_and_reason() {
    // (document, expected "path: reason" prefix)
    let table: &[(&str, &str)] = &[
        ("{", "$: not valid JSON"),
        ("[]", "$: the routes document must be a JSON object"),
        (r#"{"regions":[],"pools":{},"routes":[],"extra":1}"#, "$.extra: unknown field `extra`"),
        (r#"{"pools":{},"routes":[]}"#, "$.regions: missing field"),
        (r#"{"regions":{},"pools":{},"routes":[]}"#, "$.regions: must be an array"),
        (
            &minimal(r#"[{"id":"a","path":"/x","pool":"api","colour":"red"}]"#),
            "$.routes[0].colour: unknown field `colour`",
        ),
        (&minimal(r#"[{"id":"a","path":"/x"}]"#), "$.routes[0]: missing field `pool`"),
        (&minimal(r#"[{"id":"a","path":"x","pool":"api"}]"#), "$.routes[0].path: must start with '/'"),
        (&minimal(r#"[{"id":"a","path":"/x","pool":"nope"}]"#), "$.routes[0].pool: unknown pool `nope`"),
        (
            &minimal(r#"[{"id":"a","path":"/x","pool":"api"},{"id":"a","path":"/y","pool":"api"}]"#),
            "$.routes[1].id: duplicate route id `a`",
        ),
        (
            &minimal(r#"[{"id":"a b","path":"/x","pool":"api"}]"#),
            "$.routes[0].id: must be 1 to 64 characters",
        ),
        (
            &minimal(r#"[{"id":"a","path":"/x","pool":"api","hosts":["a.*.com"]}]"#),
            "$.routes[0].hosts[0]: `a.*.com`: a wildcard is allowed only",
        ),
        (
            &minimal(r#"[{"id":"a","path":"/x","pool":"api","hosts":["http://a.com"]}]"#),
            "$.routes[0].hosts[0]: `http://a.com` is not a valid host name",
        ),
        (
            &minimal(r#"[{"id":"a","path":"/x","pool":"api","methods":["get"]}]"#),
            "$.routes[0].methods[0]: `get` is not an upper-case HTTP method token",
        ),
        (
            &minimal(r#"[{"id":"a","path":"/x","pool":"api","methods":["GET","GET"]}]"#),
            "$.routes[0].methods[1]: method `GET` listed twice",
        ),
        (
            &minimal(r#"[{"id":"a","path":"/x/{id","pool":"api"}]"#),
            "$.routes[0].path: invalid or conflicting path pattern",
        ),
        (
            &minimal(
                r#"[{"id":"a","path":"/u/{id}","pool":"api"},{"id":"b","path":"/u/{name}","pool":"api"}]"#,
            ),
            "$.routes[1].path: invalid or conflicting path pattern",
        ),
        (
            &minimal(
                r#"[{"id":"a","path":"/u","pool":"api"},{"id":"b","path":"/u","pool":"api","methods":["GET"]}]"#,
            ),
            "$.routes[1].path: route `b` has the same host, path pattern, priority",
        ),
        (
            &minimal(r#"[{"id":"a","path":"/api/x","pool":"api","strip_prefix":"/v1"}]"#),
            "$.routes[0].strip_prefix: the path pattern `/api/x` does not start with `/v1`",
        ),
        (
            &minimal(r#"[{"id":"a","path":"/api/x","pool":"api","strip_prefix":"/api/"}]"#),
            "$.routes[0].strip_prefix: must start with '/'",
        ),
        (
            &minimal(r#"[{"id":"a","path":"/u/{id}","pool":"api","rewrite":"/v2/{user}"}]"#),
            "$.routes[0].rewrite: `{user}` is not a parameter",
        ),
        (
            &minimal(r#"[{"id":"a","path":"/u/{id}","pool":"api","rewrite":"/v2","strip_prefix":"/u"}]"#),
            "$.routes[0].rewrite: set either strip_prefix or rewrite",
        ),
        (
            &minimal(r#"[{"id":"a","path":"/x","pool":"api","timeouts":{"connect_ms":0}}]"#),
            "$.routes[0].timeouts.connect_ms: must be at least 1",
        ),
        (
            &minimal(r#"[{"id":"a","path":"/x","pool":"api","timeouts":{"response_ms":300001}}]"#),
            "$.routes[0].timeouts.response_ms: must be at most 300000",
        ),
        (
            &minimal(r#"[{"id":"a","path":"/x","pool":"api","timeouts":{"connect_ms":"1s"}}]"#),
            "$.routes[0].timeouts.connect_ms: invalid type",
        ),
        (
            r#"{"regions":[{"name":"eu","shield":"ftp://x","lat":1,"lon":2}],"pools":{},"routes":[]}"#,
            "$.regions[0].shield: must be an absolute http:// or https:// URL",
        ),
        (
            r#"{"regions":[{"name":"eu","shield":"http://x?a=1","lat":1,"lon":2}],"pools":{},"routes":[]}"#,
            "$.regions[0].shield: must not have a query",
        ),
        (
            r#"{"regions":[{"name":"eu","shield":"http://x","lat":91,"lon":2}],"pools":{},"routes":[]}"#,
            "$.regions[0].lat: must be between -90 and 90",
        ),
        (
            r#"{"regions":[{"name":"eu","shield":"http://x","lat":1,"lon":2},{"name":"eu","shield":"http://y","lat":1,"lon":2}],"pools":{},"routes":[]}"#,
            "$.regions[1].name: duplicate region name `eu`",
        ),
        (
            r#"{"regions":[],"pools":{"api":{"regions":["mars"]}},"routes":[]}"#,
            "$.pools.api.regions[0]: unknown region `mars`",
        ),
        (
            r#"{"regions":[],"pools":{"api":{"regions":[]}},"routes":[]}"#,
            "$.pools.api.regions: must name at least one region",
        ),
        (
            &minimal(r#"[]"#).replace(r#"{"regions":["eu"]}"#, r#"{"regions":["eu"],"attempts":2}"#),
            "$.pools.api.attempts: must be between 1 and the number of regions (1)",
        ),
        (
            r#"{"settings":{"config_ttl_ms":3600001},"regions":[],"pools":{},"routes":[]}"#,
            "$.settings.config_ttl_ms: must be at most 3600000",
        ),
        (
            r#"{"settings":{"max_header_bytes":0},"regions":[],"pools":{},"routes":[]}"#,
            "$.settings.max_header_bytes: must be at least 1",
        ),
    ];
    for (doc, expected) in table {
        let found = errors(doc);
        assert!(
            found.iter().any(|e| e.starts_with(expected)),
            "for {doc}\n expected {expected}\n got {found:#?}"
        );
    }
}

#[test]
fn every_error_is_reported_at_once() {
    let doc = r#"{
        "regions": [{"name":"eu","shield":"nope","lat":100,"lon":2}],
        "pools": {"api": {"regions": ["mars"]}},
        "routes": [
            {"id":"a","path":"/x","pool":"api","bogus":true},
            {"id":"b","path":"y","pool":"missing"},
            {"id":"b","path":"/z","pool":"api","methods":["get"]}
        ],
        "typo": 1
    }"#;
    let found = errors(doc);
    let paths: Vec<&str> = found.iter().map(|e| e.split(": ").next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "$.typo",
            "$.routes[0].bogus",
            "$.regions[0].lat",
            "$.regions[0].shield",
            "$.pools.api.regions[0]",
            "$.routes[1].path",
            "$.routes[1].pool",
            "$.routes[2].id",
            "$.routes[2].methods[0]",
        ]
    );
}

#[test]
fn message_counts_errors_and_lists_paths() {
    let err = Config::from_json(minimal(r#"[{"id":"a","path":"x","pool":"z"}]"#).as_bytes()).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("2 errors in routes document"), "{text}");
    assert!(text.contains("\n  $.routes[0].path: must start with '/'"), "{text}");
}

/// Regression (issue 9, findings 3 and 4): an open route may not open a hole in a protected
/// prefix, nor forward to the same pool paths that a protected route protects.
#[test]
fn open_routes_cannot_reach_what_a_protected_route_protects() {
    let protected = r#"{"id":"orders","path":"/orders/{*rest}","pool":"api","auth":{"api_key":true}}"#;
    let refused = [
        (r#"{"id":"hole","path":"/orders","pool":"api"}"#, "$.routes[1]: open route `hole` serves `/orders`"),
        (r#"{"id":"hole","path":"/orders/health","pool":"api"}"#, "$.routes[1]: open route `hole` serves"),
        (
            r#"{"id":"all","path":"/api/{*rest}","pool":"api","strip_prefix":"/api"}"#,
            "$.routes[1]: open route `all` forwards paths under `/` to a shield",
        ),
        (
            r#"{"id":"rw","path":"/legacy/{*rest}","pool":"api","rewrite":"/orders/{rest}"}"#,
            "$.routes[1]: open route `rw` forwards",
        ),
        (
            r#"{"id":"other-host","hosts":["a.example.com"],"path":"/{*rest}","pool":"api"}"#,
            "$.routes[1]: open route `other-host` forwards",
        ),
    ];
    for (open, expected) in refused {
        let errors = errors(&minimal(&format!("[{protected},{open}]")));
        assert!(errors.iter().any(|e| e.starts_with(expected)), "{open}: {errors:?}");
    }
    // Another pool on the same shield reaches the same origin.
    let two_pools = r#"{"regions":[{"name":"eu","shield":"http://127.0.0.1:9101","lat":1,"lon":2}],
        "pools":{"api":{"regions":["eu"]},"legacy":{"regions":["eu"]}},
        "routes":[{"id":"orders","path":"/orders/{*rest}","pool":"api","auth":{"api_key":true}},
                  {"id":"all","path":"/api/{*rest}","pool":"legacy","strip_prefix":"/api"}]}"#;
    assert!(errors(two_pools).iter().any(|e| e.starts_with("$.routes[1]: open route `all` forwards")));
    let accepted = [
        // Same hosts, paths forwarded as they are: the router sends /orders/* to `orders`.
        r#"{"id":"all","path":"/{*rest}","pool":"api"}"#,
        // Same pattern, other methods: a deliberate split (open reads, protected writes).
        r#"{"id":"reads","path":"/orders/{*rest}","methods":["GET"],"pool":"api","priority":1}"#,
        r#"{"id":"api","path":"/api/{*rest}","pool":"api"}"#,
    ];
    for open in accepted {
        let doc = minimal(&format!("[{protected},{open}]"));
        assert!(
            Config::from_json(doc.as_bytes()).is_ok(),
            "{open}: {:?}",
            Config::from_json(doc.as_bytes()).err()
        );
    }
}
