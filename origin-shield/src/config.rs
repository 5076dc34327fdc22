//! Validated shield configuration.
//!
//! [`RawConfig`] (what the file and flags say) becomes [`ShieldConfig`] through
//! [`TryFrom`], which checks every rule and reports *all* violations at once as
//! [`ConfigErrors`], each with the field path and the reason. Nothing downstream
//! re-checks a value; this module never reads files, sockets or the clock.

pub mod cache;
pub mod raw;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

pub use cache::{CacheSettings, PurgeSettings};
pub use raw::RawConfig;

/// The largest timeout or interval accepted anywhere in the config: ten minutes.
const MAX_MS: u64 = 600_000;

/// A configuration that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShieldConfig {
    /// Where the shield listens for the edge.
    pub listen: SocketAddr,
    /// Region name, used in `Via` and `x-shield-region`.
    pub region: String,
    /// The origin behind this shield (one today; the type is ready to become a list).
    pub origin: Origin,
    /// Forward the client's `Host` instead of the origin's `host:port`.
    pub preserve_host: bool,
    /// Worker threads of the proxy service.
    pub threads: usize,
    /// Upstream timeouts.
    pub timeouts: Timeouts,
    /// Health-check cadence and thresholds.
    pub health: HealthCheck,
    /// The shared memory cache.
    pub cache: CacheSettings,
    /// The purge API.
    pub purge: PurgeSettings,
}

/// One origin server, spoken to in plain HTTP/1.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The URL as configured, e.g. `http://127.0.0.1:9000`.
    pub url: String,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port (80 when the URL names none).
    pub port: u16,
    /// Path probed by the health check, e.g. `/healthz`.
    pub health_check_path: String,
}

impl Origin {
    /// The `host:port` authority sent as `Host` to the origin.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Upstream timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect to the origin; exceeding it answers 504.
    pub connect: Duration,
    /// Each read from the origin; exceeding it answers 504.
    pub read: Duration,
    /// Idle keep-alive connections to the origin are closed after this.
    pub idle: Duration,
    /// On SIGTERM/SIGINT, how long in-flight requests may run on.
    pub shutdown_grace: Duration,
}

/// Background health-check settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheck {
    /// Time between two probes.
    pub interval: Duration,
    /// Deadline of one probe.
    pub timeout: Duration,
    /// Consecutive successes that make an unhealthy origin healthy.
    pub rise: u32,
    /// Consecutive failures that make a healthy origin unhealthy.
    pub fall: u32,
}

/// One rule broken by one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct FieldError {
    /// Dotted path of the field, e.g. `timeouts.read_ms`.
    pub path: &'static str,
    /// Why the value was refused.
    pub reason: String,
}

/// Every rule broken by a config, in field order; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<FieldError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects field errors while validating.
#[derive(Default)]
struct Checker(Vec<FieldError>);

impl Checker {
    fn fail(&mut self, path: &'static str, reason: impl Into<String>) {
        self.0.push(FieldError { path, reason: reason.into() });
    }

    fn required<T>(&mut self, path: &'static str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.fail(path, "is required");
        }
        value
    }

    /// A millisecond value in `1..=MAX_MS`, or `default` when unset.
    fn millis(&mut self, path: &'static str, value: Option<u64>, default: u64) -> Duration {
        let ms = value.unwrap_or(default);
        if !(1..=MAX_MS).contains(&ms) {
            self.fail(path, format!("must be between 1 and {MAX_MS}"));
        }
        Duration::from_millis(ms)
    }

    /// A count in `1..=max`, or `default` when unset.
    fn count(&mut self, path: &'static str, value: Option<u64>, default: u64, max: u64) -> u64 {
        let n = value.unwrap_or(default);
        if !(1..=max).contains(&n) {
            self.fail(path, format!("must be between 1 and {max}"));
        }
        n
    }
}

impl TryFrom<RawConfig> for ShieldConfig {
    type Error = ConfigErrors;

    fn try_from(raw: RawConfig) -> Result<Self, ConfigErrors> {
        let mut c = Checker::default();
        let listen = c.required("listen", raw.listen).and_then(|s| check_listen(&mut c, &s));
        let region = c.required("region", raw.region).filter(|r| check_region(&mut c, r));
        let path = raw.health_check_path.unwrap_or_else(|| "/".to_owned());
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            c.fail("health_check_path", "must be an absolute path starting with /");
        }
        let origin = c.required("origin", raw.origin).and_then(|url| check_origin(&mut c, url, path));
        let threads = c.count("threads", raw.threads, 1, 64);
        let timeouts = Timeouts {
            connect: c.millis("timeouts.connect_ms", raw.timeouts.connect_ms, 1_000),
            read: c.millis("timeouts.read_ms", raw.timeouts.read_ms, 30_000),
            idle: c.millis("timeouts.idle_ms", raw.timeouts.idle_ms, 60_000),
            shutdown_grace: c.millis("timeouts.shutdown_grace_ms", raw.timeouts.shutdown_grace_ms, 1_000),
        };
        let health = check_health(&mut c, &raw.health);
        let cache = cache::check_cache(&mut c, &raw.cache);
        let purge = cache::check_purge(&mut c, &raw.purge);
        match (listen, region, origin) {
            (Some(listen), Some(region), Some(origin)) if c.0.is_empty() => Ok(ShieldConfig {
                listen,
                region,
                origin,
                preserve_host: raw.preserve_host.unwrap_or(false),
                threads: usize::try_from(threads).unwrap_or(1),
                timeouts,
                health,
                cache,
                purge,
            }),
            _ => Err(ConfigErrors(c.0)),
        }
    }
}

fn check_listen(c: &mut Checker, text: &str) -> Option<SocketAddr> {
    match text.parse::<SocketAddr>() {
        Ok(addr) if addr.port() == 0 => {
            c.fail("listen", "port must not be 0 (the ready line names a fixed port)");
            None
        }
        Ok(addr) => Some(addr),
        Err(_) => {
            c.fail("listen", "must be an IP:port socket address, e.g. 127.0.0.1:9101");
            None
        }
    }
}

fn check_region(c: &mut Checker, region: &str) -> bool {
    let ok = (1..=32).contains(&region.len())
        && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        c.fail("region", "must be 1-32 characters of a-z, 0-9 and -");
    }
    ok
}

fn check_origin(c: &mut Checker, url: String, health_check_path: String) -> Option<Origin> {
    let Some(rest) = url.strip_prefix("http://") else {
        c.fail("origin", "must be an http:// URL");
        return None;
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        c.fail("origin", "must be scheme://host[:port] only (no path, query or user info)");
        return None;
    }
    let Ok(parsed) = authority.parse::<http::uri::Authority>() else {
        c.fail("origin", "must name a valid host[:port]");
        return None;
    };
    let host = parsed.host().trim_start_matches('[').trim_end_matches(']').to_owned();
    if host.is_empty() {
        c.fail("origin", "must name a host");
        return None;
    }
    let names_port = parsed.as_str().rsplit_once(']').map_or(parsed.as_str(), |(_, p)| p).contains(':');
    let port = match (names_port, parsed.port_u16()) {
        (false, _) => 80,
        (true, Some(port)) => port,
        (true, None) => 0,
    };
    if port == 0 {
        c.fail("origin", "port must be between 1 and 65535");
        return None;
    }
    Some(Origin { url, host, port, health_check_path })
}

fn check_health(c: &mut Checker, raw: &raw::RawHealth) -> HealthCheck {
    let interval = c.millis("health.interval_ms", raw.interval_ms, 1_000);
    let timeout = c.millis("health.timeout_ms", raw.timeout_ms, 1_000);
    let rise = c.count("health.rise", raw.rise, 1, 100);
    let fall = c.count("health.fall", raw.fall, 2, 100);
    HealthCheck {
        interval,
        timeout,
        rise: u32::try_from(rise).unwrap_or(1),
        fall: u32::try_from(fall).unwrap_or(1),
    }
}
