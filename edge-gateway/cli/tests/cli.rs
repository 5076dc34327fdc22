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
    assert!(out.contains("ok (4 routes, 2 pools, 3 regions)"), "{out}");
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
