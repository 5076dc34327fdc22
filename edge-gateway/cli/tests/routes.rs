//! `gatewayctl routes|purge|keys` as an operator meets them: `routes validate` offline with
//! line:column, and every gateway command against an in-process fake of the admin API
//! (`support/fake_admin.rs`: a `TcpListener` thread answering the contract).
#![allow(missing_docs)]

#[path = "support/fake_admin.rs"]
mod fake_admin;

use std::net::TcpListener;
use std::process::{Command, Stdio};

use fake_admin::{Fake, SECRET};
use serde_json::{Value, json};

/// Runs gatewayctl with only the given gateway environment.
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatewayctl"));
    command
        .args(args)
        .env_remove("GATEWAY_URL")
        .env_remove("GATEWAY_ADMIN_SECRET")
        .env_remove("GATEWAY_PURGE_SECRET");
    command.envs(env.iter().copied()).stdin(Stdio::null());
    let out = command.output().expect("run gatewayctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn at(fake: &Fake, args: &[&str]) -> (i32, String, String) {
    run(args, &[("GATEWAY_URL", &fake.url), ("GATEWAY_ADMIN_SECRET", SECRET)])
}

fn example() -> Value {
    let path = format!("{}/../../config/routes.example.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Writes `text` to a fresh file of this test and returns its path.
fn file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("gatewayctl-routes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn pretty(document: &Value) -> String {
    serde_json::to_string_pretty(document).unwrap()
}

const SEVERAL_ERRORS: &str = r#"{
  "regions": [
    {"name": "eu", "shield": "http://127.0.0.1:9101", "lat": 1, "lon": 2}
  ],
  "pools": {
    "api": {"regions": ["eu", "mars"]}
  },
  "routes": [
    {"id": "a", "path": "/a", "pool": "api"},
    {"id": "b", "path": "b", "pool": "api"},
    {"id": "c", "path": "/c", "pool": "nope"}
  ],
  "rate_limits": {
    "a b": {"limit": 0, "period_s": 60, "key": ["global"]}
  }
}
"#;

#[test]
fn validate_places_every_error_at_its_line_and_column() {
    let bad = file("several.json", SEVERAL_ERRORS);
    let (code, out, err) = run(&["routes", "validate", &bad], &[]);
    assert_eq!(code, 1, "{out}{err}");
    let mut lines: Vec<&str> = err.lines().collect();
    lines.sort();
    let mut expected = vec![
        format!("{bad}:6:31: $.pools.api.regions[1]: unknown region `mars`"),
        format!("{bad}:10:25: $.routes[1].path: must start with '/'"),
        format!("{bad}:11:39: $.routes[2].pool: unknown pool `nope`"),
        format!(
            "{bad}:14:12: $.rate_limits[\"a b\"]: policy name must be 1 to 64 characters of A-Z, a-z, 0-9, '-', '_', '.'"
        ),
        format!("{bad}:14:22: $.rate_limits[\"a b\"].limit: must be between 1 and 1000000000"),
    ];
    expected.sort();
    assert_eq!(lines, expected);
}

#[test]
fn a_missing_field_is_placed_at_its_object() {
    let bad = file(
        "missing.json",
        "{\"regions\": [],\n \"pools\": {},\n \"routes\": [\n   {\"id\": \"a\", \"pool\": \"p\"}]}",
    );
    let (code, _, err) = run(&["routes", "validate", &bad], &[]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{bad}:4:4: $.routes[0]")), "{err}");
}

#[test]
fn validate_json_has_the_documented_shape() {
    let bad = file("several-json.json", SEVERAL_ERRORS);
    let (code, out, _) = run(&["routes", "validate", &bad, "--json"], &[]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["file"], bad.as_str());
    assert_eq!(report["valid"], false);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 5);
    let route = errors.iter().find(|e| e["path"] == "$.routes[2].pool").unwrap();
    assert_eq!(
        route,
        &json!({"path": "$.routes[2].pool", "line": 11, "column": 39, "reason": "unknown pool `nope`"})
    );
    for e in errors {
        let mut keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["column", "line", "path", "reason"]);
    }

    let good = file("good.json", &pretty(&example()));
    let (code, out, _) = run(&["routes", "validate", &good, "--json"], &[]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"file": good, "valid": true, "errors": []})
    );
}

#[test]
fn validate_exit_codes_for_bad_json_and_unreadable_files() {
    let broken = file("broken.json", "{\n  \"routes\": [1,,]\n}");
    let (code, _, err) = run(&["routes", "validate", &broken], &[]);
    assert_eq!(code, 1);
    assert!(err.starts_with(&format!("{broken}:2:16: $: not valid JSON")), "{err}");
    let (code, _, err) = run(&["routes", "validate", "/nonexistent/routes.json"], &[]);
    assert_eq!((code, err.lines().count()), (2, 1));
    assert!(err.starts_with("/nonexistent/routes.json: cannot read"), "{err}");
    assert_eq!(run(&["routes", "validate"], &[]).0, 2);
    assert_eq!(run(&["routes", "frobnicate"], &[]).0, 2);
}

#[test]
fn push_refuses_an_invalid_document_without_sending_it() {
    let fake = Fake::start();
    let bad = file("push-bad.json", SEVERAL_ERRORS);
    let (code, _, err) = at(&fake, &["routes", "push", &bad]);
    assert_eq!(code, 1);
    let (_, _, validate_err) = run(&["routes", "validate", &bad], &[]);
    assert!(err.starts_with(&validate_err), "push prints what validate prints:\n{err}");
    assert!(err.contains("not pushed"), "{err}");
    assert!(fake.seen().is_empty(), "nothing was sent: {:?}", fake.seen());
}

#[test]
fn push_publishes_and_prints_the_version_and_dry_run_publishes_nothing() {
    let fake = Fake::start();
    fake.publish(example());
    let good = file("push-good.json", &pretty(&example()));
    let (code, out, err) = at(&fake, &["routes", "push", &good, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dry run"), "{out}");
    assert_eq!(fake.current_version().as_deref(), Some("v1"));
    assert_eq!(fake.seen()[0].target, "/__gateway/admin/routes?dry_run=true");

    let (code, out, err) = at(&fake, &["routes", "push", &good]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "v2");
    assert!(err.contains("previous v1"), "{err}");
    assert_eq!(fake.current_version().as_deref(), Some("v2"));
    let last = fake.seen().pop().unwrap();
    assert_eq!((last.method.as_str(), last.auth.as_str()), ("PUT", "Bearer s3cret"));
}

#[test]
fn a_422_from_the_gateway_is_printed_with_paths_and_exits_1() {
    let fake = Fake::start();
    fake.publish(example());
    let mut document = example();
    document["routes"][0]["id"] = json!("server-refuses");
    let refused = file("refused.json", &pretty(&document));
    let (code, _, err) = at(&fake, &["routes", "push", &refused]);
    assert_eq!(code, 1, "{err}");
    // Placed in the file: the first route's id, and the api pool's attempts.
    let text = std::fs::read_to_string(&refused).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let id_line = line_of("\"server-refuses\"");
    assert!(err.contains(&format!("{refused}:{id_line}:")), "{err}");
    assert!(err.contains(": $.routes[0].id: reserved by the gateway"), "{err}");
    assert!(err.contains(&format!("{refused}:{}:", line_of("\"attempts\": 2"))), "{err}");
    assert!(err.contains(": $.pools.api.attempts: too many for this plan"), "{err}");
    assert_eq!(fake.current_version().as_deref(), Some("v1"), "the live version is untouched");
}

#[test]
fn a_401_exits_3_with_a_clear_message() {
    let fake = Fake::start();
    let (code, _, err) =
        run(&["routes", "current"], &[("GATEWAY_URL", &fake.url), ("GATEWAY_ADMIN_SECRET", "wrong")]);
    assert_eq!(code, 3);
    assert_eq!(
        err.trim(),
        format!(
            "{}/__gateway/admin/routes: 401 unauthorized: wrong admin secret (check GATEWAY_ADMIN_SECRET against the gateway's admin secret)",
            fake.url
        )
    );
}

#[test]
fn a_429_exits_3_and_says_when_to_retry() {
    let fake = Fake::start();
    let env = [("GATEWAY_URL", fake.url.as_str()), ("GATEWAY_ADMIN_SECRET", "throttled")];
    let (code, _, err) = run(&["routes", "history"], &env);
    assert_eq!(code, 3);
    assert_eq!(
        err.trim(),
        format!(
            "{}/__gateway/admin/routes/history: 429: too many failed attempts (retry after 42 s)",
            fake.url
        )
    );
}

#[test]
fn an_unreachable_gateway_exits_3_and_no_gateway_is_a_usage_error() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (code, _, err) =
        run(&["routes", "history"], &[("GATEWAY_URL", &url), ("GATEWAY_ADMIN_SECRET", SECRET)]);
    assert_eq!((code, err.lines().count()), (3, 1), "{err}");
    assert!(err.starts_with(&format!("{url}/__gateway/admin/routes/history: ")), "{err}");
    assert_eq!(err.matches(&url).count(), 1, "the URL is named once: {err}");
    let (code, _, err) = run(&["routes", "history"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("GATEWAY_URL"), "{err}");
    let (code, _, err) = run(&["routes", "history", "--gateway", &url], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("GATEWAY_ADMIN_SECRET is not set"), "{err}");
    let (code, _, err) = run(&["purge", "all", "--gateway", &url], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("GATEWAY_PURGE_SECRET (or GATEWAY_ADMIN_SECRET) is not set"), "{err}");
}

#[test]
fn diff_lists_added_removed_and_changed_routes() {
    let fake = Fake::start();
    fake.publish(example());
    let mut next = example();
    let routes = next["routes"].as_array_mut().unwrap();
    routes.retain(|r| r["id"] != "orders");
    routes[0]["pool"] = json!("static");
    routes.push(json!({"id": "health", "path": "/health", "pool": "api"}));
    next["pools"]["api"]["attempts"] = json!(3);
    let changed = file("diff.json", &pretty(&next));
    let (code, out, err) = at(&fake, &["routes", "diff", &changed]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "routes:",
            "  ~ users-get: pool \"api\" -> \"static\"",
            "  - orders",
            "  + health",
            "pools:",
            "  ~ api: attempts 2 -> 3",
        ]
    );

    let same = file("same.json", &pretty(&example()));
    let (code, out, _) = at(&fake, &["routes", "diff", &same]);
    assert_eq!(code, 0);
    assert!(out.contains("no differences"), "{out}");
}

#[test]
fn diff_against_no_live_document_adds_everything_and_errors_exit_2() {
    let fake = Fake::start();
    let doc = file("diff-new.json", &pretty(&example()));
    let (code, out, _) = at(&fake, &["routes", "diff", &doc]);
    assert_eq!(code, 1);
    assert!(out.contains("  + users-get") && out.contains("  + eu-west"), "{out}");
    let (code, _, err) = at(&fake, &["routes", "diff", "/nonexistent.json"]);
    assert_eq!(code, 2);
    assert!(err.starts_with("/nonexistent.json: cannot read"), "{err}");
}

#[test]
fn history_rollback_and_current() {
    let fake = Fake::start();
    let (code, _, err) = at(&fake, &["routes", "current"]);
    assert_eq!(code, 3, "no document published yet: {err}");
    fake.publish(example());
    let mut second = example();
    second["settings"]["config_ttl_ms"] = json!(1000);
    fake.publish(second.clone());

    let (code, out, _) = at(&fake, &["routes", "history"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["v2  2026-12-02T05:01:00Z  current", "v1  2026-12-02T05:00:00Z"]
    );

    let (code, out, _) = at(&fake, &["routes", "current"]);
    assert_eq!(code, 0);
    assert_eq!(out, "version:      v2\npublished_at: 2026-12-02T05:01:00Z\n");
    let (_, out, _) = at(&fake, &["routes", "current", "--document"]);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), second);

    let (code, out, _) = at(&fake, &["routes", "rollback"]);
    assert_eq!((code, out.trim()), (0, "rolled back to version v1 (was v2)"));
    assert_eq!(fake.current_version().as_deref(), Some("v1"));
    let (code, out, _) = at(&fake, &["routes", "rollback", "v2"]);
    assert_eq!((code, out.trim()), (0, "rolled back to version v2 (was v1)"));
    let (code, _, err) = at(&fake, &["routes", "rollback", "v9"]);
    assert_eq!(code, 3);
    assert!(err.contains("/__gateway/admin/routes/rollback: not found: no such version"), "{err}");
    assert_eq!(fake.current_version().as_deref(), Some("v2"));
}

#[test]
fn purge_prints_one_line_per_tier_and_uses_the_purge_secret() {
    let fake = Fake::start();
    let env = [("GATEWAY_URL", fake.url.as_str()), ("GATEWAY_PURGE_SECRET", SECRET)];
    let (code, out, _) = run(&["purge", "url", "/api/users/7?v=2 x"], &env);
    assert_eq!(code, 3, "a shield that was not purged fails the purge");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "edge: purged (stamp 1764650000000), every instance within 65 s",
            "shield eu-west: purged",
            "shield us-east: status 502"
        ]
    );
    let seen = fake.seen();
    assert_eq!(seen[0].target, "/__gateway/purge?url=/api/users/7%3Fv%3D2%20x");
    assert_eq!(seen[0].method, "POST");
    run(&["purge", "all"], &env);
    assert_eq!(fake.seen()[1].target, "/__gateway/purge?all=1");
}

#[test]
fn keys_add_prints_the_key_once_and_the_store_command() {
    let (code, out, err) = run(
        &["keys", "add", "--tenant", "acme", "--scope", "orders:read", "--expires", "2099-01-01T00:00:00Z"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let key = out.lines().next().unwrap().rsplit(' ').next().unwrap();
    assert!(key.starts_with("egk_"), "{out}");
    assert_eq!(out.matches(key).count(), 1, "the key is printed once");
    let hash = edge_gateway_core::auth::apikey::hash_key(key).unwrap();
    let put = out.lines().find(|l| l.trim_start().starts_with("wrangler kv key put")).unwrap();
    assert!(put.contains(&format!("apikeys/{hash} '")) && put.ends_with("--binding ROUTES --local"), "{put}");
    assert!(put.contains("\"expires_at_ms\":4070908800000"), "{put}");

    let (code, _, err) = run(&["keys", "add", "--tenant", "acme", "--expires", "tomorrow"], &[]);
    assert_eq!(code, 2);
    assert!(err.starts_with("--expires: `tomorrow` is not an RFC 3339 time"), "{err}");
    let (code, out, _) = run(&["keys", "revoke", &hash, "--remote"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("wrangler kv key get apikeys/{hash} --binding ROUTES --remote")), "{out}");
}

#[test]
fn help_documents_examples_and_exit_codes() {
    let (code, out, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    for needle in ["Exit codes:", "3  the gateway refused", "GATEWAY_ADMIN_SECRET", "gatewayctl routes push"]
    {
        assert!(out.contains(needle), "{needle}: {out}");
    }
    for command in
        [&["routes", "--help"][..], &["keys", "--help"], &["purge", "--help"], &["routes", "diff", "--help"]]
    {
        let (code, out, _) = run(command, &[]);
        assert_eq!(code, 0);
        assert!(out.contains("Example"), "{command:?}: {out}");
    }
}
