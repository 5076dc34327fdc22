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
    let expires_at_ms = match expires.map(rfc3339_ms).transpose() {
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

/// `2026-12-31T23:59:59Z` (fraction and `±HH:MM` offset allowed) → Unix milliseconds.
pub(crate) fn rfc3339_ms(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not an RFC 3339 time like 2026-12-31T23:59:59Z");
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num =
        |range: std::ops::Range<usize>| text.get(range).and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad);
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        millis = format!("{:0<3}", &fraction[..digits.min(3)]).parse::<i64>().map_err(|_| bad())?;
        rest = &fraction[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let (h, m) = (num(20..22)?, num(23..25)?);
            sign * (h * 3600 + m * 60)
        }
        _ => return Err(bad()),
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    u64::try_from(seconds * 1000 + millis).map_err(|_| bad())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        let cases = [
            ("1970-01-01T00:00:00Z", Ok(0)),
            ("2026-12-31T23:59:59Z", Ok(1_798_761_599_000)),
            ("2026-12-31T23:59:59.5Z", Ok(1_798_761_599_500)),
            ("2027-01-01T01:59:59+02:00", Ok(1_798_761_599_000)),
            ("2026-12-31", Err(())),
            ("2026-13-01T00:00:00Z", Err(())),
            ("2026-12-31T23:59:59", Err(())),
        ];
        for (text, expected) in cases {
            assert_eq!(rfc3339_ms(text).map_err(drop), expected, "{text}");
        }
    }
}
