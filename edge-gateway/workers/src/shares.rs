//! Approximate rate limits on Workers KV: every isolate's share of a counter, one KV key each.
//!
//! An isolate writes its [`Share`] under `ratelimit/<counter key>|@<instance>`, with the share
//! as the key's *metadata*, so one `list` of the prefix returns every isolate's count without a
//! read per key. Each isolate writes only its own key, at most once a second (the core's
//! `SYNC_MS`), which is within KV's one write per second per key. Counter keys escape `|` in
//! their values and no part tag starts with `@`, so no counter's prefix covers another's.
//!
//! KV is eventually consistent: a write can take up to 60 s to reach other locations, which is
//! the approximate mode's error, measured in `docs/ratelimits.md`.

use std::time::Duration;

use edge_gateway_core::ports::CounterError;
use edge_gateway_core::ratelimit::approximate::Share;
use worker::Env;

/// The KV namespace the shares live in (the routes' namespace, under its own prefix).
const BINDING: &str = "ROUTES";
/// Pages of 1000 keys read at most per exchange (instances beyond are not counted).
const MAX_PAGES: usize = 5;

fn failed(what: &str, error: impl std::fmt::Display) -> CounterError {
    CounterError(format!("{what}: {error}"))
}

/// Publishes `mine` for `key`, kept for `keep` (at least KV's 60 s), and lists every share.
pub(crate) async fn exchange(
    env: &Env,
    key: &str,
    mine: &Share,
    keep: Duration,
) -> Result<Vec<Share>, CounterError> {
    let kv = env.kv(BINDING).map_err(|e| CounterError(format!("binding {BINDING}: {e}")))?;
    let prefix = format!("ratelimit/{key}|@");
    kv.put(&format!("{prefix}{}", mine.instance), "")
        .map_err(|e| failed("share", e))?
        .metadata(mine)
        .map_err(|e| failed("share metadata", e))?
        .expiration_ttl(keep.as_secs().max(60))
        .execute()
        .await
        .map_err(|e| failed("writing the share", e))?;
    let mut shares = vec![mine.clone()];
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut list = kv.list().prefix(prefix.clone());
        if let Some(cursor) = cursor.take() {
            list = list.cursor(cursor);
        }
        let page = list.execute().await.map_err(|e| failed("listing shares", e))?;
        shares.extend(
            page.keys
                .into_iter()
                .filter_map(|k| serde_json::from_value::<Share>(k.metadata?).ok())
                .filter(|share| share.instance != mine.instance),
        );
        match page.cursor {
            Some(next) if !page.list_complete => cursor = Some(next),
            _ => break,
        }
    }
    Ok(shares)
}
