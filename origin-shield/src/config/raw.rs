//! The config as written: serde types that mirror `shield.toml` field for field.
//!
//! Everything is optional here so that a file and command-line flags can be merged
//! before validation; this module never decides whether a value is acceptable
//! (see [`crate::config`] for that).

use serde::Deserialize;

/// `shield.toml` as parsed, before validation.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Socket address to listen on, e.g. `127.0.0.1:9101`.
    pub listen: Option<String>,
    /// Region name, e.g. `eu-west`.
    pub region: Option<String>,
    /// Origin base URL, e.g. `http://127.0.0.1:9000`.
    pub origin: Option<String>,
    /// Path probed on the origin by the background health check.
    pub health_check_path: Option<String>,
    /// Forward the client's `Host` instead of the origin's `host:port`.
    pub preserve_host: Option<bool>,
    /// Worker threads for the proxy service.
    pub threads: Option<u64>,
    /// Upstream timeouts.
    #[serde(default)]
    pub timeouts: RawTimeouts,
    /// Health-check cadence and thresholds.
    #[serde(default)]
    pub health: RawHealth,
    /// The shared memory cache.
    #[serde(default)]
    pub cache: RawCache,
    /// The purge API.
    #[serde(default)]
    pub purge: RawPurge,
}

/// `[cache]`: the shared memory cache in front of the origin.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    /// `false` turns the shield into a plain proxy.
    pub enabled: Option<bool>,
    /// Upper bound of the bytes held (bodies and headers); least recently used entries go first.
    pub max_bytes: Option<u64>,
    /// Responses larger than this are streamed to the client and not stored.
    pub max_object_bytes: Option<u64>,
    /// How long a request waits for another one already fetching the same key before it goes
    /// to the origin itself.
    pub lock_timeout_ms: Option<u64>,
}

/// `[purge]`: the authenticated purge API.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPurge {
    /// Shared secret sent as `Authorization: Bearer <secret>`; unset disables the API.
    /// `SHIELD_PURGE_SECRET` in the environment takes precedence.
    pub secret: Option<String>,
}

/// `[timeouts]`, in milliseconds.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    /// TCP connect timeout to the origin.
    pub connect_ms: Option<u64>,
    /// Timeout for each read from the origin (response header or body chunk).
    pub read_ms: Option<u64>,
    /// How long an idle keep-alive connection to the origin is kept in the pool.
    pub idle_ms: Option<u64>,
    /// On SIGTERM/SIGINT, how long in-flight requests may run on (rounded up to seconds).
    pub shutdown_grace_ms: Option<u64>,
}

/// `[health]`: the background probe of the origin.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    /// Time between two probes.
    pub interval_ms: Option<u64>,
    /// Deadline of one probe.
    pub timeout_ms: Option<u64>,
    /// Consecutive successes that make an unhealthy origin healthy.
    pub rise: Option<u64>,
    /// Consecutive failures that make a healthy origin unhealthy.
    pub fall: Option<u64>,
}

impl RawConfig {
    /// Parses TOML text; unknown fields and wrong types are errors carrying their field path.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let de = toml::Deserializer::parse(text).map_err(|e| e.message().to_owned())?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let reason = e.inner().message().to_owned();
            if path == "." { reason } else { format!("{path}: {reason}") }
        })
    }

    /// Overlays every field set in `flags` on top of `self` (flags win).
    pub fn overlay(mut self, flags: RawConfig) -> Self {
        self.listen = flags.listen.or(self.listen);
        self.region = flags.region.or(self.region);
        self.origin = flags.origin.or(self.origin);
        self.health_check_path = flags.health_check_path.or(self.health_check_path);
        self.preserve_host = flags.preserve_host.or(self.preserve_host);
        self.threads = flags.threads.or(self.threads);
        let (t, ft) = (&mut self.timeouts, flags.timeouts);
        t.connect_ms = ft.connect_ms.or(t.connect_ms);
        t.read_ms = ft.read_ms.or(t.read_ms);
        t.idle_ms = ft.idle_ms.or(t.idle_ms);
        t.shutdown_grace_ms = ft.shutdown_grace_ms.or(t.shutdown_grace_ms);
        self.purge.secret = flags.purge.secret.or(self.purge.secret);
        self
    }
}
