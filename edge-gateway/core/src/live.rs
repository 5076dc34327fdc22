//! The live config of one instance: versioned documents in KV, a short TTL, last-known-good.
//!
//! KV layout (written by `gatewayctl` / `scripts/routes`):
//! - `routes/current` holds the active version id (`[A-Za-z0-9._-]{1,64}`);
//! - `routes/versions/<id>` holds that version's document, never changed once written;
//! - `routes/last-good` names the newest version the publishing tool validated.
//!
//! Publishing validates the document with this crate, writes it, flips `routes/current` and
//! then `routes/last-good`, so a switch is one atomic write and a rollback is one write of an
//! older id. An instance re-reads the pointer once its config is older than
//! `settings.config_ttl_ms`; the document is read only when the pointer changed.
//!
//! When `routes/current` leads to a missing, unparsable or invalid document (a hand-written
//! KV entry, a partial write), an instance keeps serving its last-known-good config and logs
//! why. An instance that has none in memory (a cold isolate, or any Spin instance, which lives
//! for one request) falls back to `routes/last-good`. Only with neither does it answer 503, and
//! it then re-reads KV at most once a second.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::config::{Config, Settings};
use crate::error::GatewayError;
use crate::ports::{Clock, KeyValue, Level, Log, Ports, UnixMillis};

/// Key of the pointer to the active version.
pub const CURRENT_KEY: &str = "routes/current";
/// Key of the pointer to the newest version the publishing tool validated.
pub const LAST_GOOD_KEY: &str = "routes/last-good";
/// How long an instance without any valid config waits before re-reading KV.
pub const RETRY_WITHOUT_CONFIG: Duration = Duration::from_secs(1);

/// Key of the document of version `id`.
pub fn version_key(id: &str) -> String {
    format!("routes/versions/{id}")
}

/// True for a well-formed version id.
pub fn is_version_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// The config an instance serves, with when it last checked KV.
#[derive(Debug, Default)]
pub struct LiveConfig {
    state: RefCell<State>,
}

#[derive(Debug, Default)]
struct State {
    loaded: Option<Loaded>,
    checked_at: Option<UnixMillis>,
    last_error: Option<String>,
}

#[derive(Debug, Clone)]
struct Loaded {
    version: String,
    config: Rc<Config>,
}

/// What a refresh found in KV.
enum Refresh {
    Unchanged,
    New(Loaded),
    /// `routes/current` was unusable (the reason); `routes/last-good` was loaded instead.
    Fallback(Loaded, String),
}

/// Whether an instance must read KV now. Pure.
pub fn must_refresh(
    checked_at: Option<UnixMillis>,
    now: UnixMillis,
    has_config: bool,
    ttl: Duration,
) -> bool {
    let Some(checked_at) = checked_at else {
        return true;
    };
    let wait = if has_config { ttl } else { RETRY_WITHOUT_CONFIG };
    now.saturating_sub(checked_at) >= wait.as_millis() as u64
}

impl LiveConfig {
    /// The config to serve now, refreshing from KV when it is due.
    pub async fn current<P: Ports>(&self, ports: &P) -> Result<Rc<Config>, GatewayError> {
        let now = ports.clock().now();
        if let Some(loaded_version) = self.due(now) {
            let outcome = refresh(ports.kv(), loaded_version.as_deref()).await;
            self.apply(outcome, now, ports.log());
        }
        let state = self.state.borrow();
        match &state.loaded {
            Some(loaded) => Ok(loaded.config.clone()),
            None => Err(GatewayError::NoConfig(state.last_error.clone().unwrap_or_default())),
        }
    }

    /// `Some(the version loaded, if any)` when KV must be read at `now`; `None` while the config
    /// is fresh. The fresh case, almost every request, neither allocates nor builds the default
    /// settings (see `docs/profile.md`).
    fn due(&self, now: UnixMillis) -> Option<Option<String>> {
        let state = self.state.borrow();
        let ttl = match &state.loaded {
            Some(loaded) => loaded.config.settings.config_ttl,
            None => Settings::default().config_ttl,
        };
        must_refresh(state.checked_at, now, state.loaded.is_some(), ttl)
            .then(|| state.loaded.as_ref().map(|l| l.version.clone()))
    }

    /// The version id being served, if any.
    pub fn version(&self) -> Option<String> {
        self.state.borrow().loaded.as_ref().map(|l| l.version.clone())
    }

    fn apply(&self, outcome: Result<Refresh, String>, now: UnixMillis, log: &impl Log) {
        let mut state = self.state.borrow_mut();
        state.checked_at = Some(now);
        match outcome {
            Ok(Refresh::Unchanged) => state.last_error = None,
            Ok(Refresh::Fallback(loaded, reason)) => {
                log.record(
                    Level::Warn,
                    &format!("routes: serving last-good version {}: {reason}", loaded.version),
                );
                state.loaded = Some(loaded);
                state.last_error = Some(reason);
            }
            Ok(Refresh::New(loaded)) => {
                let previous = state.loaded.as_ref().map_or("none", |l| l.version.as_str());
                log.record(
                    Level::Info,
                    &format!("routes: switched from version {previous} to {}", loaded.version),
                );
                state.loaded = Some(loaded);
                state.last_error = None;
            }
            Err(reason) => {
                match &state.loaded {
                    Some(kept) => log.record(
                        Level::Warn,
                        &format!("routes: keeping last-known-good version {}: {reason}", kept.version),
                    ),
                    None => log.record(Level::Error, &format!("routes: no valid config to serve: {reason}")),
                }
                state.last_error = Some(reason);
            }
        }
    }
}

async fn refresh(kv: &impl KeyValue, loaded: Option<&str>) -> Result<Refresh, String> {
    let reason = match follow(kv, CURRENT_KEY, loaded).await {
        Ok(refresh) => return Ok(refresh),
        Err(reason) => reason,
    };
    match follow(kv, LAST_GOOD_KEY, loaded).await {
        Ok(Refresh::New(fallback)) => Ok(Refresh::Fallback(fallback, reason)),
        _ => Err(reason),
    }
}

/// Reads the version named by `pointer` unless it is the one already loaded.
async fn follow(kv: &impl KeyValue, pointer: &str, loaded: Option<&str>) -> Result<Refresh, String> {
    let id = kv
        .get(pointer)
        .await
        .map_err(|e| format!("reading `{pointer}`: {e}"))?
        .ok_or_else(|| format!("`{pointer}` is not set"))?;
    let version = String::from_utf8(id).unwrap_or_default().trim().to_owned();
    if !is_version_id(&version) {
        return Err(format!("`{pointer}` does not hold a valid version id"));
    }
    if loaded == Some(version.as_str()) {
        return Ok(Refresh::Unchanged);
    }
    let key = version_key(&version);
    let document = kv
        .get(&key)
        .await
        .map_err(|e| format!("reading `{key}`: {e}"))?
        .ok_or_else(|| format!("`{key}` is missing"))?;
    let config =
        Config::from_json(&document).map_err(|errors| format!("version {version} is invalid: {errors}"))?;
    Ok(Refresh::New(Loaded { version, config: Rc::new(config) }))
}
