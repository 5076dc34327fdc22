//! The CLI as an operator meets it: exit codes and messages naming file, path and reason.
#![allow(missing_docs)]

use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gatewayctl")).args(args).output().expect("run gatewayctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn example() -> String {
    format!("{}/../../config/routes.example.json", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn validate_accepts_the_example() {
    let (code, out, _) = run(&["validate", &example()]);
    assert_eq!(code, 0);
    assert!(out.contains("ok (5 routes, 2 pools, 3 regions)"), "{out}");
}

#[test]
fn validate_names_file_path_and_reason_for_every_error() {
    let dir = std::env::temp_dir().join(format!("gatewayctl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"regions":[],"pools":{},"routes":[{"id":"a","path":"x","pool":"nope"}]}"#)
        .unwrap();
    let bad = bad.to_str().unwrap();
    let (code, _, err) = run(&["validate", bad, &example()]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{bad}: $.routes[0].path: must start with '/'")), "{err}");
    assert!(err.contains(&format!("{bad}: $.routes[0].pool: unknown pool `nope`")), "{err}");
}

#[test]
fn committed_schema_matches_the_raw_types() {
    let (code, out, _) = run(&["schema"]);
    assert_eq!(code, 0);
    let committed =
        std::fs::read_to_string(format!("{}/../../config/routes.schema.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let generated: serde_json::Value = serde_json::from_str(&out).unwrap();
    let committed: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(
        generated, committed,
        "config/routes.schema.json is stale: run `gatewayctl schema > config/routes.schema.json`"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&[]).0, 2);
    assert_eq!(run(&["validate"]).0, 2);
}

#[test]
fn version_ids_are_valid_kv_version_ids() {
    let (code, out, _) = run(&["version-id", &example()]);
    assert_eq!(code, 0);
    assert!(edge_gateway_core::live::is_version_id(out.trim()), "{out}");
}

#[test]
fn apikey_new_prints_a_key_whose_hash_names_the_record() {
    let (code, out, err) =
        run(&["apikey", "new", "--tenant", "acme", "--scope", "orders:read", "--expires-in-days", "30"]);
    assert_eq!(code, 0, "{err}");
    let made: serde_json::Value = serde_json::from_str(&out).unwrap();
    let key = made["key"].as_str().unwrap();
    assert!(key.starts_with("egk_") && key.len() == 52, "{key}");
    let hash = edge_gateway_core::auth::apikey::hash_key(key).unwrap();
    assert_eq!(made["kv_key"], format!("apikeys/{hash}"));
    let record =
        edge_gateway_core::auth::apikey::parse_record(made["record"].to_string().as_bytes()).unwrap();
    assert_eq!(record.key_sha256, hash);
    assert_eq!(record.tenant, "acme");
    assert_eq!(record.scopes, vec!["orders:read".to_owned()]);
    assert!(record.expires_at_ms.is_some());
    assert!(out.matches(key).nth(1).is_none(), "the key is printed once");
    // Two keys never collide.
    let (_, again, _) = run(&["apikey", "new", "--tenant", "acme"]);
    assert_ne!(serde_json::from_str::<serde_json::Value>(&again).unwrap()["key"], made["key"]);
}

#[test]
fn apikey_new_names_the_bad_argument() {
    let (code, _, err) = run(&["apikey", "new", "--scope", "a"]);
    assert_eq!((code, err.trim()), (2, "--tenant is required"));
    let (code, _, err) = run(&["apikey", "new", "--tenant", "t", "--expires-in-days", "soon"]);
    assert_eq!((code, err.trim()), (2, "--expires-in-days: `soon` is not a number"));
}

#[test]
fn apikey_revoke_rewrites_a_stored_record_and_rejects_garbage() {
    use std::io::Write;
    let revoke = |input: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gatewayctl"))
            .args(["apikey", "revoke"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let record = r#"{"key_sha256":"ab","id":"k_1","tenant":"t","status":"active"}"#;
    let (code, out, _) = revoke(record);
    assert_eq!(code, Some(0));
    assert!(out.contains(r#""status":"revoked""#), "{out}");
    let (code, _, err) = revoke(r#"{"id":"k_1"}"#);
    assert_eq!(code, Some(2));
    assert!(err.starts_with("stdin: API key record is unreadable: missing field"), "{err}");
}
