//! `gatewayctl`: the operator's side of the routes document.
//!
//! ```text
//! gatewayctl validate FILE...   every error of every file, as `FILE: $.path: reason`; exit 1 on any
//! gatewayctl version-id FILE    a version id for publishing FILE: v<unix seconds>-<content hash>
//! gatewayctl schema             the JSON Schema of the routes document
//! gatewayctl apikey new --tenant T [--scope S]... [--description D] [--expires-in-days N]
//!                               a new API key and its KV record, as JSON (the key is shown once)
//! gatewayctl apikey revoke      reads a stored record on stdin, prints it revoked
//! ```
//!
//! Writing KV is done by `scripts/routes` and `scripts/apikeys`, which use this tool first.

mod apikey;

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use edge_gateway_core::config::Config;
use edge_gateway_core::config::raw::RawConfig;

const USAGE: &str = "usage: gatewayctl validate FILE... | gatewayctl version-id FILE | gatewayctl schema\n       gatewayctl apikey new --tenant T [--scope S]... [--description D] [--expires-in-days N]\n       gatewayctl apikey revoke < RECORD";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((command, files)) if command == "validate" && !files.is_empty() => validate(files),
        Some((command, [file])) if command == "version-id" => version_id(file),
        Some((command, rest)) if command == "apikey" => apikey::run(rest, USAGE),
        Some((command, [])) if command == "schema" => {
            let schema = schemars::schema_for!(RawConfig);
            println!("{}", serde_json::to_string_pretty(&schema).expect("schema serializes"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn validate(files: &[String]) -> ExitCode {
    let mut failed = false;
    for file in files {
        match read_and_check(file) {
            Ok(config) => println!(
                "{file}: ok ({} routes, {} pools, {} regions)",
                config.routes.len(),
                config.pools.len(),
                config.regions.len()
            ),
            Err(lines) => {
                failed = true;
                for line in lines {
                    eprintln!("{file}: {line}");
                }
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn read_and_check(file: &str) -> Result<Config, Vec<String>> {
    let bytes = std::fs::read(file).map_err(|e| vec![format!("cannot read: {e}")])?;
    Config::from_json(&bytes).map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
}

fn version_id(file: &str) -> ExitCode {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("{file}: cannot read: {e}");
            return ExitCode::FAILURE;
        }
    };
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    println!("v{seconds}-{:08x}", fnv1a(&bytes) as u32);
    ExitCode::SUCCESS
}

/// FNV-1a: a short content fingerprint for version ids (not a security hash).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
