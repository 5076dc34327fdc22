//! `gatewayctl purge url|tag|prefix|all`: the gateway's `POST /__gateway/purge`, one progress
//! line per tier its answer reports (the edge stamp, then each region's origin shield).
//!
//! The endpoint takes the gateway's purge secret (`PURGE_SECRET` there), read here from
//! `GATEWAY_PURGE_SECRET`, else `GATEWAY_ADMIN_SECRET`. Nothing is retried.

use serde_json::Value;

use crate::admin::Gateway;
use crate::exit;

/// What to purge.
pub(crate) enum Target {
    /// One exact URL (or path with query).
    Url(String),
    /// Every object with this tag.
    Tag(String),
    /// Every path under this prefix.
    Prefix(String),
    /// Everything.
    All,
}

/// Sends the purge and prints its progress.
pub(crate) fn run(gateway: &Gateway, target: &Target) -> u8 {
    let query = match target {
        Target::Url(url) => format!("url={}", encode(url)),
        Target::Tag(tag) => format!("tag={}", encode(tag)),
        Target::Prefix(prefix) => format!("prefix={}", encode(prefix)),
        Target::All => "all=1".to_owned(),
    };
    eprintln!("purging {query} at {}", gateway.url("/__gateway/purge"));
    let answer = match gateway.send("POST", &format!("/__gateway/purge?{query}"), "") {
        Ok(answer) => answer,
        Err(error) => return crate::routes::refused(&error, "", None),
    };
    let propagation_s = answer.get("propagation_ms").and_then(Value::as_u64).unwrap_or(0) / 1000;
    println!(
        "edge: purged (stamp {}), every instance within {propagation_s} s",
        answer.get("stamp").map_or("?".into(), Value::to_string)
    );
    let shields = answer.get("shields").and_then(Value::as_object).cloned().unwrap_or_default();
    if shields.is_empty() {
        println!("shields: none told (the gateway holds no shield purge secret)");
    }
    let mut failed = false;
    for (region, outcome) in &shields {
        let outcome = outcome.as_str().unwrap_or("?");
        failed |= outcome != "purged";
        println!("shield {region}: {outcome}");
    }
    if failed { exit::REFUSED } else { exit::OK }
}

/// Percent-encodes a query value (everything but unreserved characters and `/`).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
