//! `gatewayctl keys add|list|revoke`: API keys in the gateway's key-value store.
//!
//! The admin API has no key endpoints yet, and the stores are reached only by wrangler (Workers
//! KV, local or remote) or through the SQLite file of a Spin app, neither of which this tool
//! holds credentials or a driver for. So `keys` makes the key here (the same generator as
//! `apikey new`), prints the plain key once, and prints the exact command that writes, lists or
//! revokes the record, for the chosen store; `scripts/apikeys` runs the same writes itself.

use std::time::{SystemTime, UNIX_EPOCH};

use edge_gateway_core::auth::apikey;

use crate::exit;

/// Which store the printed commands address.
pub(crate) enum Store {
    /// Workers KV through wrangler: the local dev state (`false`) or the deployed namespace.
    Wrangler {
        /// `--remote` instead of `--local`.
        remote: bool,
    },
    /// A Spin app's `default` store in its SQLite file.
    SpinSqlite(String),
}

/// `keys add`.
pub(crate) fn add(
    store: &Store,
    tenant: String,
    scopes: Vec<String>,
    description: String,
    expires: Option<&str>,
) -> u8 {
    let expires_at_ms = match expires.map(crate::rfc3339::to_ms).transpose() {
        Ok(ms) => ms,
        Err(reason) => return usage(&format!("--expires: {reason}")),
    };
    if let Some(ms) = expires_at_ms {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        if ms <= now_ms {
            return usage("--expires: is in the past");
        }
    }
    let made = match crate::apikey::make(Some(tenant), scopes, description, expires_at_ms) {
        Ok(made) => made,
        Err(reason) => return usage(&reason),
    };
    let record = serde_json::to_string(&made.record).expect("serializes");
    println!("key (shown once, only its hash is stored): {}", made.key);
    println!("id {}  tenant {}  kv key {}", made.record.id, made.record.tenant, made.kv_key);
    println!("store the record with:");
    println!("  {}", put_command(store, &made.kv_key, &record));
    exit::OK
}

/// `keys list`.
pub(crate) fn list(store: &Store) -> u8 {
    let command = match store {
        Store::Wrangler { remote } => {
            format!("wrangler kv key list --prefix apikeys/ --binding ROUTES {}", flag(*remote))
        }
        Store::SpinSqlite(file) => format!(
            "sqlite3 {} {}",
            quote(file),
            quote(
                "SELECT key, CAST(value AS TEXT) FROM spin_key_value WHERE store = 'default' AND key LIKE 'apikeys/%'"
            )
        ),
    };
    println!("the stored keys (records hold hashes, never keys) are listed by:");
    println!("  {command}");
    exit::OK
}

/// `keys revoke ID`: ID is the plain key or its SHA-256.
pub(crate) fn revoke(store: &Store, id: &str) -> u8 {
    let hash = if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        id.to_owned()
    } else if id.starts_with("egk_") {
        match apikey::hash_key(id) {
            Ok(hash) => hash,
            Err(e) => return usage(&format!("keys revoke: {e}")),
        }
    } else {
        return usage(&format!(
            "keys revoke: `{id}`: give the key (egk_…) or its SHA-256; a record id cannot name the KV key"
        ));
    };
    let kv_key = apikey::record_key(&hash);
    let command = match store {
        Store::Wrangler { remote } => {
            let target = flag(*remote);
            format!(
                "wrangler kv key get {kv_key} --binding ROUTES {target} | gatewayctl apikey revoke > revoked.json && wrangler kv key put {kv_key} --path revoked.json --binding ROUTES {target}"
            )
        }
        Store::SpinSqlite(file) => format!(
            "sqlite3 {} {}",
            quote(file),
            quote(&format!(
                "UPDATE spin_key_value SET value = CAST(json_set(CAST(value AS TEXT), '$.status', 'revoked') AS BLOB) WHERE store = 'default' AND key = '{kv_key}'"
            ))
        ),
    };
    println!("revoke {kv_key} with:");
    println!("  {command}");
    exit::OK
}

fn put_command(store: &Store, kv_key: &str, record: &str) -> String {
    match store {
        Store::Wrangler { remote } => {
            format!("wrangler kv key put {kv_key} {} --binding ROUTES {}", quote(record), flag(*remote))
        }
        Store::SpinSqlite(file) => format!(
            "sqlite3 {} {}",
            quote(file),
            quote(&format!(
                "INSERT INTO spin_key_value (store, key, value) VALUES ('default', '{kv_key}', CAST('{}' AS BLOB)) ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                record.replace('\'', "''")
            ))
        ),
    }
}

fn flag(remote: bool) -> &'static str {
    if remote { "--remote" } else { "--local" }
}

/// Single-quotes `text` for a POSIX shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn usage(message: &str) -> u8 {
    eprintln!("{message}");
    exit::USAGE
}
