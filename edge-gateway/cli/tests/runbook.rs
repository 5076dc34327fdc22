//! `docs/runbook.md`, run: each scenario's `gatewayctl` commands against the real gateway core
//! (`support/gateway.rs`: the core over its in-memory fakes behind a loopback HTTP bridge), the
//! outputs checked, and every output line the runbook shows checked to be in the runbook
//! verbatim, so the runbook and the gateway cannot drift apart unnoticed.
#![allow(missing_docs)]

#[path = "support/gateway.rs"]
mod gateway;

use std::process::{Command, Stdio};

use base64ct::{Base64UrlUnpadded, Encoding};
use edge_gateway_core::ports::{FetchError, UpstreamError};
use edge_gateway_core::testing::{document as fetched, ok_response};
use gateway::{ADMIN_SECRET, Local, PURGE_SECRET};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn runbook() -> String {
    std::fs::read_to_string(format!("{}/../../docs/runbook.md", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Asserts that the runbook shows `text` verbatim (`RUNBOOK_PRINT=1`: prints it instead, for
/// writing the runbook).
fn shown(text: &str) {
    if std::env::var_os("RUNBOOK_PRINT").is_some() {
        println!("---- the runbook shows:\n{text}");
        return;
    }
    // Lines compared without their indentation (the runbook indents blocks in lists).
    let flat = |text: &str| text.lines().map(str::trim_start).collect::<Vec<_>>().join("\n");
    assert!(flat(&runbook()).contains(&flat(text)), "docs/runbook.md does not show (verbatim):\n{text}");
}

fn gatewayctl(local: &Local, args: &[&str]) -> (i32, String, String) {
    // Each command a minute after the last: distinct publication times, config TTLs passed.
    local.advance(60_000);
    let out = Command::new(env!("CARGO_BIN_EXE_gatewayctl"))
        .args(args)
        .env("GATEWAY_URL", &local.url)
        .env("GATEWAY_ADMIN_SECRET", ADMIN_SECRET)
        .env("GATEWAY_PURGE_SECRET", PURGE_SECRET)
        .stdin(Stdio::null())
        .output()
        .expect("run gatewayctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A GET through the gateway: status, `x-edge-region`, `x-edge-attempts`, body.
fn get(local: &Local, path: &str) -> (u16, String, String, String) {
    get_as(local, path, None)
}

/// [`get`] with `Authorization: Bearer <token>`.
fn get_as(local: &Local, path: &str, token: Option<&str>) -> (u16, String, String, String) {
    let mut request = ureq::get(&format!("{}{path}", local.url));
    if let Some(token) = token {
        request = request.set("authorization", &format!("Bearer {token}"));
    }
    let response = match request.call() {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(e) => panic!("{path}: {e}"),
    };
    let header = |name: &str| response.header(name).unwrap_or("").to_owned();
    let (region, attempts) = (header("x-edge-region"), header("x-edge-attempts"));
    (response.status(), region, attempts, response.into_string().unwrap())
}

/// `status.json` as the gateway wrote it.
fn status_json(local: &Local) -> String {
    ureq::get(&format!("{}/__gateway/admin/status.json", local.url))
        .set("authorization", &format!("Bearer {ADMIN_SECRET}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap()
}

/// The log lines the gateway wrote that contain `text`.
fn logged(local: &Local, text: &'static str) -> Vec<String> {
    local.with(move |ports| {
        ports.fake.log.lines().into_iter().map(|(_, line)| line).filter(|line| line.contains(text)).collect()
    })
}

/// The routes document the runbook's commands publish: three regions, one pool, a rewritten
/// users route, an edge-cached static route and two rate-limited routes.
fn document(users_rewrite: &str) -> Value {
    let region = |name: &str, lat: f64, lon: f64| json!({"name": name, "shield": format!("http://shield-{name}.internal"), "lat": lat, "lon": lon});
    json!({
        "settings": {"config_ttl_ms": 5000},
        "regions": [region("eu-west", 53.35, -6.26), region("us-east", 38.9, -77.04), region("ap-south", 19.08, 72.88)],
        "pools": {"api": {"regions": ["eu-west", "us-east", "ap-south"]}},
        "rate_limits": {
            "per-client": {"limit": 1000, "period_s": 60, "key": ["client_ip"], "on_store_error": "fail_open"},
            "orders-strict": {"limit": 100, "period_s": 60, "key": ["client_ip"], "on_store_error": "fail_closed"}
        },
        "routes": [
            {"id": "users-get", "methods": ["GET"], "path": "/api/users/{id}", "pool": "api",
             "rewrite": users_rewrite, "rate_limit": ["per-client"]},
            {"id": "orders", "path": "/orders/{*rest}", "pool": "api", "rate_limit": ["orders-strict"]},
            {"id": "static", "methods": ["GET"], "path": "/static/{*file}", "pool": "api", "cache": {"ttl_s": 60}},
            {"id": "account", "path": "/account/{*rest}", "pool": "api", "auth": {"jwt": ["corp"]}, "rate_limit": []}
        ],
        "auth": {"issuers": {"corp": {"issuer": "https://idp.example.com", "algorithms": ["HS256"],
                                      "jwks_uri": IDP_JWKS}}}
    })
}

/// Writes `document` as `name` in a directory of its own (tests run in parallel).
fn file(name: &str, document: &Value) -> String {
    static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("gatewayctl-runbook-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(document).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Shields that answer every path, purges included, except those of `down` regions.
fn shields(local: &Local, down: &'static [&'static str]) {
    local.with(move |ports| {
        ports.fake.upstream.answer(move |request| {
            let host = request.uri().host().unwrap_or("");
            if down.iter().any(|region| host == format!("shield-{region}.internal")) {
                return Err(UpstreamError::Connect("connection refused".into()));
            }
            if request.uri().path().starts_with("/v3/") {
                let mut missing = ok_response("not found");
                *missing.status_mut() = http::StatusCode::NOT_FOUND;
                return Ok(missing);
            }
            Ok(ok_response("from the origin"))
        })
    });
}

const IDP_JWKS: &str = "https://idp.example.com/.well-known/jwks.json";
const IDP_SECRET: &[u8] = b"runbook-idp-shared-secret-32-bytes!";

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().to_vec()
}

/// A token of the issuer `corp`, valid for a day from the gateway's start.
fn token() -> String {
    let part = |value: Value| Base64UrlUnpadded::encode_string(value.to_string().as_bytes());
    let exp = gateway::START_MS / 1000 + 86_400;
    let signed = format!(
        "{}.{}",
        part(json!({"alg": "HS256", "typ": "JWT", "kid": "k1"})),
        part(json!({"iss": "https://idp.example.com", "sub": "alice", "exp": exp}))
    );
    let signature = Base64UrlUnpadded::encode_string(&hmac_sha256(IDP_SECRET, signed.as_bytes()));
    format!("{signed}.{signature}")
}

/// The IdP's key set, served with `max-age=300`, or `down`.
fn idp(local: &Local, up: bool) {
    local.with(move |ports| {
        ports.fake.fetch.answer(move |url| {
            assert_eq!(url, IDP_JWKS);
            if !up {
                return Err(FetchError("connect failed: connection refused".into()));
            }
            let k = Base64UrlUnpadded::encode_string(IDP_SECRET);
            Ok(fetched(
                &json!({"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": k}]}).to_string(),
                Some(300),
            ))
        })
    });
}

/// The last path an upstream (shield) request went to.
fn last_upstream_path(local: &Local) -> String {
    local.with(|ports| {
        ports.fake.upstream.sent().last().map(|(r, _)| r.uri().path().to_owned()).unwrap_or_default()
    })
}

#[test]
fn bad_routes_pushed_history_diff_rollback() {
    let local = Local::start();
    shields(&local, &[]);
    let good = file("routes.json", &document("/v2/users/{id}"));
    let bad = file("routes-bad.json", &document("/v3/users/{id}"));
    let (code, good_version, _) = gatewayctl(&local, &["routes", "push", &good]);
    assert_eq!(code, 0);
    let (code, bad_version, err) = gatewayctl(&local, &["routes", "push", &bad]);
    assert_eq!(code, 0, "{err}");
    let (good_version, bad_version) = (good_version.trim(), bad_version.trim());
    let published = format!(
        "routes-bad.json: published as version {bad_version} at 2026-12-02T05:02:00Z (previous {good_version})\n"
    );
    assert!(err.ends_with(&published), "{err}");
    shown(&format!("$ gatewayctl routes push routes-bad.json\n{bad_version}\n{published}"));
    assert!(bad_version.starts_with("1796187720000-"), "a version is <publication ms>-<hash>: {bad_version}");
    assert_eq!(get(&local, "/api/users/7").0, 404, "the bad version is live: the origin has no /v3/");

    let (_, out, _) = gatewayctl(&local, &["routes", "current"]);
    assert_eq!(out, format!("version:      {bad_version}\npublished_at: 2026-12-02T05:02:00Z\n"));
    shown(&out);
    let (_, out, _) = gatewayctl(&local, &["routes", "history"]);
    assert_eq!(
        out,
        format!("{bad_version}  2026-12-02T05:02:00Z  current\n{good_version}  2026-12-02T05:01:00Z\n")
    );
    shown(&out);
    let (code, out, _) = gatewayctl(&local, &["routes", "diff", &good]);
    assert_eq!(
        (code, out.as_str()),
        (1, "routes:\n  ~ users-get: rewrite \"/v3/users/{id}\" -> \"/v2/users/{id}\"\n")
    );
    shown(&out);
    let (code, out, _) = gatewayctl(&local, &["routes", "rollback"]);
    assert_eq!((code, out), (0, format!("rolled back to version {good_version} (was {bad_version})\n")));
    let (_, out, _) = gatewayctl(&local, &["routes", "current"]);
    assert_eq!(out, format!("version:      {good_version}\npublished_at: 2026-12-02T05:01:00Z\n"));
    shown(&out);
    assert_eq!(get(&local, "/api/users/7").0, 200, "the good version serves again");
    assert_eq!(last_upstream_path(&local), "/v2/users/7");
    let (code, out, _) = gatewayctl(&local, &["routes", "diff", &good]);
    assert_eq!(code, 0, "live equals the good file again");
    assert!(out.ends_with("routes.json: no differences from the live document\n"), "{out}");
    shown("routes.json: no differences from the live document");
    for line in [
        format!("$ gatewayctl routes rollback\nrolled back to version {good_version} (was {bad_version})"),
        format!("$ gatewayctl routes rollback {good_version}"),
    ] {
        shown(&line);
    }
}

/// A local gateway with the good document published (eu-west nearest in the configured order).
fn published() -> Local {
    let local = Local::start();
    shields(&local, &[]);
    idp(&local, true);
    let good = file("routes.json", &document("/v2/users/{id}"));
    assert_eq!(gatewayctl(&local, &["routes", "push", &good]).0, 0);
    local
}

#[test]
fn region_down_fails_over_ejects_and_drains() {
    let local = published();
    assert_eq!(get(&local, "/api/users/7").1, "eu-west");
    shields(&local, &["eu-west"]);
    for _ in 0..3 {
        let (status, region, attempts, _) = get(&local, "/api/users/7");
        assert_eq!(
            (status, region.as_str(), attempts.as_str()),
            (200, "us-east", "2"),
            "failed over within the request"
        );
    }
    let (status, region, attempts, _) = get(&local, "/api/users/7");
    assert_eq!(
        (status, region.as_str(), attempts.as_str()),
        (200, "us-east", "1"),
        "ejected: not tried first any more"
    );
    let failed = logged(&local, "region eu-west failed");
    assert_eq!(failed.len(), 3, "{failed:?}");
    let ejected =
        "region eu-west failed (attempt 1): upstream unreachable: connection refused; region ejected";
    assert!(failed[2].ends_with(ejected), "{failed:?}");
    shown(ejected);
    let status: Value = serde_json::from_str(&status_json(&local)).unwrap();
    let regions: Vec<String> = status["regions"].as_array().unwrap().iter().map(Value::to_string).collect();
    assert_eq!(
        regions[0],
        r#"{"breaker":"closed","name":"eu-west","reason":"ejected for 10 s","usable":false}"#
    );
    shown(&regions.join("\n"));

    // The prober's verdict, forced: a snapshot saying eu-west is down, as `wrangler kv key put` writes it.
    local.advance(20_000);
    shields(&local, &[]);
    let now = local.with(|ports| edge_gateway_core::ports::Clock::now(&ports.fake.clock));
    let snapshot = format!(r#"{{"regions":{{"eu-west":{{"healthy":false,"checked_at":{now}}}}}}}"#);
    shown(&snapshot);
    local.with(move |ports| ports.fake.kv.put("health/snapshot", snapshot));
    local.advance(5_000);
    let (_, region, attempts, _) = get(&local, "/api/users/7");
    assert_eq!(
        (region.as_str(), attempts.as_str()),
        ("us-east", "1"),
        "the snapshot keeps eu-west out, shield up or not"
    );
    let status: Value = serde_json::from_str(&status_json(&local)).unwrap();
    let forced = status["regions"][0].to_string();
    assert_eq!(forced, r#"{"breaker":"closed","name":"eu-west","reason":"probe failed","usable":false}"#);
    shown(&forced);

    // The lasting drain: the pool without the region, pushed.
    let mut drained = document("/v2/users/{id}");
    drained["pools"]["api"]["regions"] = json!(["us-east", "ap-south"]);
    let drained = file("routes-drained.json", &drained);
    let (code, out, _) = gatewayctl(&local, &["routes", "diff", &drained]);
    assert_eq!(
        (code, out.as_str()),
        (
            1,
            "pools:\n  ~ api: regions [\"eu-west\",\"us-east\",\"ap-south\"] -> [\"us-east\",\"ap-south\"]\n"
        )
    );
    shown(&out);
    assert_eq!(gatewayctl(&local, &["routes", "push", &drained]).0, 0);
    local.with(|ports| ports.fake.kv.delete("health/snapshot"));
    local.advance(60_000);
    let (_, region, attempts, _) = get(&local, "/api/users/7");
    assert_eq!((region.as_str(), attempts.as_str()), ("us-east", "1"), "drained: eu-west is not in the pool");
}

#[test]
fn idp_down_serves_stale_keys_then_refuses_cold() {
    let local = published();
    let token = token();
    assert_eq!(get_as(&local, "/account/me", Some(&token)).0, 200);
    idp(&local, false);
    local.advance(600_000);
    assert_eq!(get_as(&local, "/account/me", Some(&token)).0, 200, "stale keys still verify");
    let stale = logged(&local, "auth:");
    assert_eq!(
        stale,
        ["auth: issuer corp: serving stale keys (fetched 600 s ago, stale for at most 21300 s more): \
          https://idp.example.com/.well-known/jwks.json: fetch failed: connect failed: connection refused"]
    );
    shown("auth: issuer corp: serving stale keys (fetched 600 s ago, stale for at most 21300 s more):");

    // An instance that never had the keys (nor found them shared in KV): 503 until the IdP is back.
    let cold = Local::start();
    shields(&cold, &[]);
    idp(&cold, false);
    let good = file("routes.json", &document("/v2/users/{id}"));
    assert_eq!(gatewayctl(&cold, &["routes", "push", &good]).0, 0);
    let (status, _, _, body) = get_as(&cold, "/account/me", Some(&token));
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 503);
    assert_eq!(problem["type"], "urn:edge-gateway:problem:auth-unavailable");
    shown(&format!("\"detail\":{}", problem["detail"]));
    let refused = logged(&cold, "no usable keys");
    assert!(
        refused[0].starts_with("auth: issuer corp: no usable keys: https://idp.example.com/"),
        "{refused:?}"
    );
    shown("auth: issuer corp: no usable keys: https://idp.example.com/.well-known/jwks.json: fetch failed:");
    idp(&cold, true);
    cold.advance(30_000);
    assert_eq!(get_as(&cold, "/account/me", Some(&token)).0, 200, "back once the IdP answers");
}

#[test]
fn counter_store_down_fail_open_and_fail_closed() {
    let local = published();
    local.with(|ports| ports.fake.counters.fail.replace(Some("RateLimiter object unreachable".into())));
    let (status, _, _, body) = get(&local, "/orders/1");
    assert_eq!(status, 503, "orders-strict is fail_closed");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["type"], "urn:edge-gateway:problem:rate-limit-unavailable");
    shown(&format!(
        "{{\"type\":\"urn:edge-gateway:problem:rate-limit-unavailable\",\"title\":\"Service Unavailable\",\"status\":503,\"detail\":{}",
        problem["detail"]
    ));
    assert_eq!(get(&local, "/api/users/7").0, 200, "per-client is fail_open");
    let lines = logged(&local, "rate limit");
    assert_eq!(
        lines,
        [
            "rate limit `orders-strict`: counter failed (counter store: RateLimiter object unreachable); refusing (fail_closed)",
            "rate limit `per-client`: counter failed (counter store: RateLimiter object unreachable); admitting uncounted (fail_open)",
        ]
    );
    shown("); refusing (fail_closed)");
    shown("); admitting uncounted (fail_open)");
    let mut open = document("/v2/users/{id}");
    open["rate_limits"]["orders-strict"]["on_store_error"] = json!("fail_open");
    let (code, out, _) = gatewayctl(&local, &["routes", "diff", &file("routes-open.json", &open)]);
    assert_eq!(
        (code, out.as_str()),
        (1, "rate_limits:\n  ~ orders-strict: on_store_error \"fail_closed\" -> \"fail_open\"\n")
    );
    shown("~ orders-strict: on_store_error \"fail_closed\" -> \"fail_open\"");
    local.with(|ports| ports.fake.counters.fail.replace(None));
    assert_eq!(get(&local, "/orders/1").0, 200, "counted again once the store answers");
}

#[test]
fn purge_everywhere_reports_each_shield() {
    let local = published();
    shields(&local, &["ap-south"]);
    let (code, out, _) = gatewayctl(&local, &["purge", "prefix", "/static/"]);
    assert_eq!(code, 3, "a shield missed: exit 3");
    assert_eq!(
        out,
        "edge: purged (stamp 1796187720000), every instance within 65 s\nshield ap-south: connect failed: connection refused\n\
         shield eu-west: purged\nshield us-east: purged\n"
    );
    shown(&out);
    shields(&local, &[]);
    let (code, out, _) = gatewayctl(&local, &["purge", "prefix", "/static/"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "edge: purged (stamp 1796187780000), every instance within 65 s\nshield ap-south: purged\nshield eu-west: purged\nshield us-east: purged\n"
    );
    shown(&out);
}
