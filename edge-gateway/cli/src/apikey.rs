//! `gatewayctl apikey`: make an API key and its KV record, or revoke a stored record.
//!
//! The key is random (24 bytes from the operating system), printed once and never stored: KV
//! holds only `apikeys/<sha256>` → record, exactly as the gateway reads it
//! (`edge_gateway_core::auth::apikey`).

use std::io::Read;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use edge_gateway_core::auth::apikey::{self, ApiKeyRecord, KeyStatus};
use serde_json::json;

/// Runs `apikey ARGS`.
pub(crate) fn run(args: &[String], usage: &str) -> ExitCode {
    let outcome = match args.split_first() {
        Some((command, rest)) if command == "new" => new(rest),
        Some((command, [])) if command == "revoke" => revoke(),
        _ => Err(usage.to_owned()),
    };
    match outcome {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

fn new(args: &[String]) -> Result<String, String> {
    let mut tenant = None;
    let mut scopes = Vec::new();
    let mut description = String::new();
    let mut expires_in_days: Option<u64> = None;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--tenant" => tenant = Some(value()?),
            "--scope" => scopes.push(value()?),
            "--description" => description = value()?,
            "--expires-in-days" => {
                let days = value()?;
                expires_in_days =
                    Some(days.parse().map_err(|_| format!("--expires-in-days: `{days}` is not a number"))?);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let made = make(tenant, scopes, description, expires_in_days.map(|days| now_ms + days * 86_400_000))?;
    let output = json!({"key": made.key, "kv_key": made.kv_key, "record": made.record});
    Ok(serde_json::to_string_pretty(&output).expect("serializes"))
}

/// A new key and the record that stores only its hash.
pub(crate) struct Made {
    /// The plain key: shown once, never stored.
    pub(crate) key: String,
    /// `apikeys/<sha256>`.
    pub(crate) kv_key: String,
    /// The KV record.
    pub(crate) record: ApiKeyRecord,
}

/// Makes a random key for `tenant`; `Err` names the bad argument.
pub(crate) fn make(
    tenant: Option<String>,
    scopes: Vec<String>,
    description: String,
    expires_at_ms: Option<u64>,
) -> Result<Made, String> {
    let tenant = tenant.filter(|t| !t.is_empty()).ok_or("--tenant is required")?;
    if let Some(scope) = scopes.iter().find(|s| s.is_empty() || s.contains(' ')) {
        return Err(format!("--scope `{scope}`: must be non-empty, without spaces"));
    }
    let key = format!("egk_{}", apikey::hex(&random_bytes()?));
    let hash = apikey::hash_key(&key).map_err(|e| e.to_string())?;
    let record = ApiKeyRecord {
        id: format!("k_{}", &hash[..10]),
        key_sha256: hash.clone(),
        tenant,
        scopes,
        status: KeyStatus::Active,
        expires_at_ms,
        description,
    };
    Ok(Made { key, kv_key: apikey::record_key(&hash), record })
}

fn revoke() -> Result<String, String> {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).map_err(|e| format!("stdin: {e}"))?;
    let mut record = apikey::parse_record(&input).map_err(|e| format!("stdin: {e}"))?;
    record.status = KeyStatus::Revoked;
    Ok(serde_json::to_string(&record).expect("serializes"))
}

fn random_bytes() -> Result<[u8; 24], String> {
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("no randomness from /dev/urandom: {e}"))?;
    Ok(bytes)
}
