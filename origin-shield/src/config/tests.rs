//! Table-driven validation tests: one row per rule, each asserting the exact path and reason.

use super::*;

fn valid() -> RawConfig {
    RawConfig {
        listen: Some("127.0.0.1:9101".into()),
        region: Some("eu-west".into()),
        origin: Some("http://127.0.0.1:9000".into()),
        ..RawConfig::default()
    }
}

fn only_error(raw: RawConfig) -> String {
    let errors = ShieldConfig::try_from(raw).expect_err("config should be refused").0;
    assert_eq!(errors.len(), 1, "expected exactly one error, got {errors:?}");
    errors[0].to_string()
}

#[test]
fn minimal_config_gets_defaults() {
    let config = ShieldConfig::try_from(valid()).expect("valid");
    assert_eq!(config.listen, "127.0.0.1:9101".parse().unwrap());
    assert_eq!(config.origin.authority(), "127.0.0.1:9000");
    assert_eq!(config.origin.health_check_path, "/");
    assert_eq!(config.timeouts.connect, Duration::from_secs(1));
    assert_eq!(config.timeouts.read, Duration::from_secs(30));
    assert_eq!((config.health.rise, config.health.fall), (1, 2));
    assert!(!config.preserve_host);
}

#[test]
fn origin_url_forms_that_are_accepted() {
    let rows = [
        ("http://127.0.0.1:9000", "127.0.0.1", 9000),
        ("http://127.0.0.1:9000/", "127.0.0.1", 9000),
        ("http://localhost", "localhost", 80),
        ("http://[::1]:8080", "::1", 8080),
    ];
    for (url, host, port) in rows {
        let raw = RawConfig { origin: Some(url.into()), ..valid() };
        let origin = ShieldConfig::try_from(raw).expect(url).origin;
        assert_eq!((origin.host.as_str(), origin.port), (host, port), "{url}");
    }
}

#[test]
fn each_rule_reports_its_path_and_reason() {
    type Edit = fn(&mut RawConfig);
    let rows: &[(&str, Edit, &str)] = &[
        ("listen missing", |r| r.listen = None, "listen: is required"),
        (
            "listen not an address",
            |r| r.listen = Some("localhost:80".into()),
            "listen: must be an IP:port socket address, e.g. 127.0.0.1:9101",
        ),
        (
            "listen port 0",
            |r| r.listen = Some("127.0.0.1:0".into()),
            "listen: port must not be 0 (the ready line names a fixed port)",
        ),
        ("region missing", |r| r.region = None, "region: is required"),
        (
            "region bad chars",
            |r| r.region = Some("EU West".into()),
            "region: must be 1-32 characters of a-z, 0-9 and -",
        ),
        ("origin missing", |r| r.origin = None, "origin: is required"),
        ("origin https", |r| r.origin = Some("https://example.com".into()), "origin: must be an http:// URL"),
        (
            "origin with path",
            |r| r.origin = Some("http://h:1/api".into()),
            "origin: must be scheme://host[:port] only (no path, query or user info)",
        ),
        (
            "origin bad authority",
            |r| r.origin = Some("http://h h".into()),
            "origin: must name a valid host[:port]",
        ),
        (
            "origin port too big",
            |r| r.origin = Some("http://h:70000".into()),
            "origin: port must be between 1 and 65535",
        ),
        (
            "health path relative",
            |r| r.health_check_path = Some("healthz".into()),
            "health_check_path: must be an absolute path starting with /",
        ),
        ("threads zero", |r| r.threads = Some(0), "threads: must be between 1 and 64"),
        (
            "connect_ms zero",
            |r| r.timeouts.connect_ms = Some(0),
            "timeouts.connect_ms: must be between 1 and 600000",
        ),
        (
            "read_ms too big",
            |r| r.timeouts.read_ms = Some(600_001),
            "timeouts.read_ms: must be between 1 and 600000",
        ),
        ("idle_ms zero", |r| r.timeouts.idle_ms = Some(0), "timeouts.idle_ms: must be between 1 and 600000"),
        (
            "interval zero",
            |r| r.health.interval_ms = Some(0),
            "health.interval_ms: must be between 1 and 600000",
        ),
        (
            "probe timeout zero",
            |r| r.health.timeout_ms = Some(0),
            "health.timeout_ms: must be between 1 and 600000",
        ),
        ("rise zero", |r| r.health.rise = Some(0), "health.rise: must be between 1 and 100"),
        ("fall too big", |r| r.health.fall = Some(101), "health.fall: must be between 1 and 100"),
    ];
    for (name, edit, expected) in rows {
        let mut raw = valid();
        edit(&mut raw);
        assert_eq!(only_error(raw), *expected, "row: {name}");
    }
}

#[test]
fn every_error_is_reported_at_once() {
    let raw = RawConfig {
        listen: Some("nope".into()),
        region: None,
        origin: Some("ftp://x".into()),
        timeouts: raw::RawTimeouts { read_ms: Some(0), ..Default::default() },
        ..RawConfig::default()
    };
    let text = ShieldConfig::try_from(raw).expect_err("refused").to_string();
    assert_eq!(
        text,
        "listen: must be an IP:port socket address, e.g. 127.0.0.1:9101\n\
         region: is required\n\
         origin: must be an http:// URL\n\
         timeouts.read_ms: must be between 1 and 600000"
    );
}

#[test]
fn toml_unknown_and_mistyped_fields_name_their_path() {
    let rows = [
        ("listn = \"x\"", "listn: unknown field `listn`"),
        ("[timeouts]\nread_ms = \"fast\"", "timeouts.read_ms: invalid type"),
        ("[health]\nrise = 1\nsink = 2", "health.sink: unknown field `sink`"),
    ];
    for (text, expected) in rows {
        let err = RawConfig::from_toml(text).expect_err(text);
        assert!(err.starts_with(expected), "{text}: got {err}");
    }
}

#[test]
fn flags_override_the_file() {
    let file = RawConfig::from_toml(
        "listen = \"127.0.0.1:1\"\nregion = \"us-east\"\norigin = \"http://a:1\"\n\
         [timeouts]\nread_ms = 5",
    )
    .expect("parses");
    let flags = RawConfig { region: Some("eu-west".into()), ..RawConfig::default() };
    let config = ShieldConfig::try_from(file.overlay(flags)).expect("valid");
    assert_eq!(config.region, "eu-west");
    assert_eq!(config.listen.port(), 1);
    assert_eq!(config.timeouts.read, Duration::from_millis(5));
}

#[test]
fn the_example_config_is_valid_and_states_the_defaults() {
    let raw = RawConfig::from_toml(include_str!("../../shield.example.toml")).expect("parses");
    let example = ShieldConfig::try_from(raw).expect("valid");
    let defaults = ShieldConfig::try_from(valid()).expect("valid");
    assert_eq!(example, defaults);
}

#[test]
fn cache_and_purge_defaults() {
    let config = ShieldConfig::try_from(valid()).expect("valid");
    assert!(config.cache.enabled);
    assert_eq!(config.cache.max_bytes, 256 * 1024 * 1024);
    assert_eq!(config.cache.max_object_bytes, 8 * 1024 * 1024);
    assert_eq!(config.cache.lock_timeout, Duration::from_secs(5));
    assert_eq!(config.purge.secret, None);
}

#[test]
fn cache_and_purge_rules_report_their_path_and_reason() {
    type Edit = fn(&mut RawConfig);
    let rows: &[(&str, Edit, &str)] = &[
        (
            "max_bytes too small",
            |r| r.cache.max_bytes = Some(1024),
            "cache.max_bytes: must be between 65536 and 68719476736",
        ),
        (
            "max_object_bytes 0",
            |r| r.cache.max_object_bytes = Some(0),
            "cache.max_object_bytes: must be between 1 and 68719476736",
        ),
        (
            "object above cache",
            |r| {
                r.cache.max_bytes = Some(100_000);
                r.cache.max_object_bytes = Some(200_000);
            },
            "cache.max_object_bytes: must not exceed cache.max_bytes",
        ),
        (
            "lock timeout 0",
            |r| r.cache.lock_timeout_ms = Some(0),
            "cache.lock_timeout_ms: must be between 1 and 600000",
        ),
        (
            "short secret",
            |r| r.purge.secret = Some("short".into()),
            "purge.secret: must be at least 16 characters",
        ),
        (
            "secret with a space",
            |r| r.purge.secret = Some("0123456789 abcdef".into()),
            "purge.secret: must be printable ASCII without spaces",
        ),
    ];
    for (name, edit, expected) in rows {
        let mut raw = valid();
        edit(&mut raw);
        assert_eq!(only_error(raw), *expected, "row: {name}");
    }
}

#[test]
fn small_caches_default_max_object_bytes_to_their_size() {
    let mut raw = valid();
    raw.cache.max_bytes = Some(100_000);
    let config = ShieldConfig::try_from(raw).expect("valid");
    assert_eq!(config.cache.max_object_bytes, 100_000);
}

#[test]
fn the_purge_secret_never_reaches_debug_output() {
    let mut raw = valid();
    raw.purge.secret = Some("0123456789abcdef-secret".into());
    let config = ShieldConfig::try_from(raw).expect("valid");
    assert!(!format!("{config:?}").contains("0123456789abcdef"));
}
