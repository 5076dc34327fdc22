//! The validation pass: raw JSON in, [`Config`] or every error out.
//!
//! Each section and each array element is deserialized on its own, so one malformed route does
//! not hide the problems of the next; then the semantic checks run over everything that parsed.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use http::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

mod access_log;
mod auth;
mod cache;
mod exposure;
mod failover;
mod ratelimit;

use super::auth::AuthSettings;
use super::raw::{RawAuth, RawPool, RawRegion, RawRoute, RawSettings, RawTimeouts};
use super::{
    Config, ConfigError, ConfigErrors, HostPattern, PathEdit, Pool, Region, Route, Settings, TemplatePart,
};
use crate::ports::Timeouts;
use crate::routing::{self, Router};

const TOP_LEVEL: [&str; 8] =
    ["$schema", "settings", "regions", "pools", "routes", "auth", "rate_limits", "default_rate_limit"];
const MAX_TIMEOUT_MS: u64 = 300_000;
const MAX_TTL_MS: u64 = 3_600_000;

/// Collects errors with their JSON paths.
#[derive(Default)]
struct Errors(Vec<ConfigError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.0.push(ConfigError { path: path.into(), reason: reason.into() });
    }

    /// Deserializes `value` as `T`, recording a failure at its precise path under `base`.
    fn parse<T: DeserializeOwned>(&mut self, base: &str, value: Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                let path = join_path(base, error.path());
                self.push(path, error.into_inner().to_string());
                None
            }
        }
    }
}

fn join_path(base: &str, relative: &serde_path_to_error::Path) -> String {
    let mut path = base.to_owned();
    for segment in relative.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => path.push_str(&key_path(key)),
            serde_path_to_error::Segment::Enum { variant } => path.push_str(&key_path(variant)),
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    path
}

/// `.key` for identifier-like keys, `["key"]` otherwise.
fn key_path(key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain { format!(".{key}") } else { format!("[{}]", Value::String(key.to_owned())) }
}

/// Parses and validates a whole document.
pub(super) fn validate(json: &[u8]) -> Result<Config, ConfigErrors> {
    let mut errors = Errors::default();
    let document: Value = serde_json::from_slice(json).map_err(|e| {
        ConfigErrors(vec![ConfigError { path: "$".into(), reason: format!("not valid JSON: {e}") }])
    })?;
    let Value::Object(mut top) = document else {
        return Err(ConfigErrors(vec![ConfigError {
            path: "$".into(),
            reason: "the routes document must be a JSON object".into(),
        }]));
    };
    for key in top.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            errors.push(
                format!("${}", key_path(key)),
                format!("unknown field `{key}`, expected one of {TOP_LEVEL:?}"),
            );
        }
    }
    let settings = match top.remove("settings") {
        Some(value) => errors.parse::<RawSettings>("$.settings", value),
        None => Some(RawSettings::default()),
    };
    let legacy_headers = settings.as_ref().and_then(|raw| raw.legacy_rate_limit_headers).unwrap_or(false);
    let settings = settings.map(|raw| check_settings(&raw, &mut errors)).unwrap_or_default();
    let auth = match top.remove("auth") {
        Some(value) => errors.parse::<RawAuth>("$.auth", value),
        None => Some(RawAuth::default()),
    };
    let auth = auth
        .map(|raw| auth::check_auth(&raw, &mut errors))
        .unwrap_or_else(|| auth::CheckedAuth { settings: AuthSettings::default(), declared: Vec::new() });
    let regions = elements::<RawRegion>(&mut top, "regions", &mut errors);
    let pools = entries::<RawPool>(&mut top, "pools", &mut errors);
    let routes = elements::<RawRoute>(&mut top, "routes", &mut errors);
    let rate_limits = ratelimit::check_section(&mut top, legacy_headers, &auth.settings, &mut errors);

    let regions = check_regions(&regions, &mut errors);
    let pools = check_pools(&pools, &regions, &mut errors);
    let routes = check_routes(&routes, &regions, &pools, &settings, &auth, &rate_limits, &mut errors);
    let pool_shields: Vec<Vec<&str>> = pools
        .values()
        .map(|pool| {
            pool.regions.iter().filter_map(|&i| regions.get(i)).map(|(_, r)| r.shield.as_str()).collect()
        })
        .collect();
    exposure::check(&routes, &pool_shields, &mut errors);
    let router = build_router(&routes, &mut errors);
    if !errors.0.is_empty() {
        return Err(ConfigErrors(errors.0));
    }
    let regions = regions.into_iter().map(|(_, region)| region).collect();
    let routes = routes.into_iter().map(|(_, route)| route).collect();
    let pools = pools.into_values().collect();
    let rate_limits = rate_limits.limits;
    Ok(Config { settings, auth: auth.settings, regions, pools, routes, router, rate_limits })
}

/// A required array section, each element parsed on its own: `(index, parsed)`.
fn elements<T: DeserializeOwned>(
    top: &mut serde_json::Map<String, Value>,
    name: &str,
    errors: &mut Errors,
) -> Vec<(usize, T)> {
    match top.remove(name) {
        None => errors.push(format!("$.{name}"), "missing field"),
        Some(Value::Array(items)) => {
            return items
                .into_iter()
                .enumerate()
                .filter_map(|(i, item)| errors.parse(&format!("$.{name}[{i}]"), item).map(|t| (i, t)))
                .collect();
        }
        Some(_) => errors.push(format!("$.{name}"), "must be an array"),
    }
    Vec::new()
}

/// A required object section, each entry parsed on its own. Entries that fail to parse are
/// kept as `None` so references to their names are not reported twice.
fn entries<T: DeserializeOwned>(
    top: &mut serde_json::Map<String, Value>,
    name: &str,
    errors: &mut Errors,
) -> BTreeMap<String, Option<T>> {
    match top.remove(name) {
        None => errors.push(format!("$.{name}"), "missing field"),
        Some(Value::Object(items)) => {
            return items
                .into_iter()
                .map(|(key, item)| {
                    let parsed = errors.parse(&format!("$.{name}{}", key_path(&key)), item);
                    (key, parsed)
                })
                .collect();
        }
        Some(_) => errors.push(format!("$.{name}"), "must be an object"),
    }
    BTreeMap::new()
}

fn millis(value: Option<u64>, default: Duration, max: u64, path: &str, errors: &mut Errors) -> Duration {
    match value {
        None => default,
        Some(ms) if ms > max => {
            errors.push(path, format!("must be at most {max}"));
            default
        }
        Some(ms) => Duration::from_millis(ms),
    }
}

/// [`millis`] for a duration that must not be zero.
fn positive_millis(
    value: Option<u64>,
    default: Duration,
    max: u64,
    path: &str,
    errors: &mut Errors,
) -> Duration {
    if value == Some(0) {
        errors.push(path, "must be at least 1");
    }
    millis(value, default, max, path, errors)
}

fn check_timeouts(raw: Option<&RawTimeouts>, default: Timeouts, base: &str, errors: &mut Errors) -> Timeouts {
    let Some(raw) = raw else { return default };
    let mut timeout = |value: Option<u64>, default: Duration, field: &str| {
        positive_millis(value, default, MAX_TIMEOUT_MS, &format!("{base}.{field}"), errors)
    };
    let connect = timeout(raw.connect_ms, default.connect, "connect_ms");
    let response = timeout(raw.response_ms, default.response, "response_ms");
    Timeouts { connect, response }
}

fn check_settings(raw: &RawSettings, errors: &mut Errors) -> Settings {
    let default = Settings::default();
    let mut positive = |value: Option<u64>, default: u64, field: &str| match value {
        Some(0) => {
            errors.push(format!("$.settings.{field}"), "must be at least 1");
            default
        }
        Some(n) => n,
        None => default,
    };
    Settings {
        max_request_body_bytes: positive(
            raw.max_request_body_bytes,
            default.max_request_body_bytes,
            "max_request_body_bytes",
        ),
        max_header_bytes: positive(raw.max_header_bytes, default.max_header_bytes, "max_header_bytes"),
        max_url_bytes: positive(raw.max_url_bytes, default.max_url_bytes, "max_url_bytes"),
        config_ttl: millis(
            raw.config_ttl_ms,
            default.config_ttl,
            MAX_TTL_MS,
            "$.settings.config_ttl_ms",
            errors,
        ),
        timeouts: check_timeouts(raw.timeouts.as_ref(), default.timeouts, "$.settings.timeouts", errors),
        rate_limit_deadline: positive_millis(
            raw.rate_limit_deadline_ms,
            default.rate_limit_deadline,
            10_000,
            "$.settings.rate_limit_deadline_ms",
            errors,
        ),
        client_location: failover::client_location(&raw.client_location, errors),
        access_log: access_log::check(raw.access_log.as_ref(), errors),
    }
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

const NAME_RULE: &str = "must be 1 to 64 characters of A-Z, a-z, 0-9, '-', '_', '.'";

fn check_regions(raw: &[(usize, RawRegion)], errors: &mut Errors) -> Vec<(usize, Region)> {
    let mut seen = HashSet::new();
    let mut regions = Vec::new();
    for (i, region) in raw {
        let base = format!("$.regions[{i}]");
        if !is_name(&region.name) {
            errors.push(format!("{base}.name"), NAME_RULE);
        } else if !seen.insert(region.name.clone()) {
            errors.push(format!("{base}.name"), format!("duplicate region name `{}`", region.name));
        }
        if !(-90.0..=90.0).contains(&region.lat) {
            errors.push(format!("{base}.lat"), "must be between -90 and 90");
        }
        if !(-180.0..=180.0).contains(&region.lon) {
            errors.push(format!("{base}.lon"), "must be between -180 and 180");
        }
        let extras = failover::region_extras(region, &base, errors);
        match check_shield_url(&region.shield) {
            Ok(shield) => regions.push((
                *i,
                Region {
                    name: region.name.clone(),
                    shield,
                    lat: region.lat,
                    lon: region.lon,
                    country: extras.country,
                    continent: extras.continent,
                    weight: extras.weight,
                    tier: extras.tier,
                    health_check: extras.health_check,
                },
            )),
            Err(reason) => errors.push(format!("{base}.shield"), reason),
        }
    }
    regions
}

fn check_shield_url(url: &str) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("not a valid URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("must be an absolute http:// or https:// URL".into()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    if uri.query().is_some() || url.contains('#') {
        return Err("must not have a query or fragment".into());
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn check_pools(
    raw: &BTreeMap<String, Option<RawPool>>,
    regions: &[(usize, Region)],
    errors: &mut Errors,
) -> BTreeMap<String, Pool> {
    let mut pools = BTreeMap::new();
    for (name, pool) in raw {
        let base = format!("$.pools{}", key_path(name));
        if !is_name(name) {
            errors.push(&base, format!("pool name {NAME_RULE}"));
        }
        let Some(pool) = pool else { continue };
        if pool.regions.is_empty() {
            errors.push(format!("{base}.regions"), "must name at least one region");
        }
        let mut indices = Vec::new();
        for (j, region) in pool.regions.iter().enumerate() {
            let path = format!("{base}.regions[{j}]");
            match regions.iter().position(|(_, r)| &r.name == region) {
                Some(index) if indices.contains(&index) => {
                    errors.push(path, format!("region `{region}` listed twice"))
                }
                Some(index) => indices.push(index),
                None => errors.push(path, format!("unknown region `{region}`")),
            }
        }
        let attempts = match pool.attempts {
            Some(n) if n == 0 || n as usize > pool.regions.len().max(1) => {
                errors.push(
                    format!("{base}.attempts"),
                    format!("must be between 1 and the number of regions ({})", pool.regions.len()),
                );
                1
            }
            Some(n) => n as usize,
            None => indices.len().max(1),
        };
        let failover = failover::failover(pool, &base, errors);
        pools.insert(name.clone(), Pool { name: name.clone(), regions: indices, attempts, failover });
    }
    pools
}

fn check_routes(
    raw: &[(usize, RawRoute)],
    regions: &[(usize, Region)],
    pools: &BTreeMap<String, Pool>,
    settings: &Settings,
    auth: &auth::CheckedAuth,
    rate_limits: &ratelimit::CheckedRateLimits,
    errors: &mut Errors,
) -> Vec<(usize, Route)> {
    let mut ids = HashSet::new();
    let mut routes = Vec::new();
    for (i, route) in raw {
        let base = format!("$.routes[{i}]");
        let before = errors.0.len();
        if !is_name(&route.id) {
            errors.push(format!("{base}.id"), NAME_RULE);
        } else if !ids.insert(route.id.clone()) {
            errors.push(format!("{base}.id"), format!("duplicate route id `{}`", route.id));
        }
        let hosts = check_hosts(&route.hosts, &base, errors);
        let methods = check_methods(&route.methods, &base, errors);
        if !route.path.starts_with('/') {
            errors.push(format!("{base}.path"), "must start with '/'");
        }
        let pool = pools.keys().position(|name| name == &route.pool);
        if pool.is_none() {
            errors.push(format!("{base}.pool"), format!("unknown pool `{}`", route.pool));
        }
        let path_edit = check_path_edit(route, &base, errors);
        let timeouts =
            check_timeouts(route.timeouts.as_ref(), settings.timeouts, &format!("{base}.timeouts"), errors);
        let route_cache =
            route.cache.as_ref().map(|raw| cache::check_route_cache(raw, &format!("{base}.cache"), errors));
        let route_auth =
            route.auth.as_ref().map(|raw| auth::check_route_auth(raw, auth, &format!("{base}.auth"), errors));
        let canary = route
            .canary
            .as_ref()
            .and_then(|raw| failover::canary(raw, pools, &format!("{base}.canary"), errors));
        let residency = route.residency.as_ref().map(|raw| {
            let served_by = [("pool", pool), ("canary pool", canary.map(|c| c.pool))];
            let served_by: Vec<(&str, &Pool)> = served_by
                .into_iter()
                .filter_map(|(which, index)| Some((which, pools.values().nth(index?)?)))
                .collect();
            failover::residency(raw, &served_by, regions, &format!("{base}.residency"), errors)
        });
        let rate_limit = match &route.rate_limit {
            Some(names) => rate_limits.resolve(names, &format!("{base}.rate_limit"), errors),
            None => rate_limits.limits.default.clone(),
        };
        if errors.0.len() == before {
            let route = Route {
                id: route.id.clone(),
                hosts,
                methods,
                path: route.path.clone(),
                priority: route.priority,
                pool: pool.unwrap_or_default(),
                path_edit,
                timeouts,
                auth: route_auth,
                cache: route_cache,
                rate_limit,
                residency,
                canary,
            };
            routes.push((*i, route));
        }
    }
    routes
}

fn check_hosts(raw: &[String], base: &str, errors: &mut Errors) -> Vec<HostPattern> {
    if raw.is_empty() {
        return vec![HostPattern::Any];
    }
    let mut hosts = Vec::new();
    for (j, host) in raw.iter().enumerate() {
        match routing::parse_host_pattern(host) {
            Ok(pattern) if hosts.contains(&pattern) => {
                errors.push(format!("{base}.hosts[{j}]"), format!("host `{host}` listed twice"))
            }
            Ok(pattern) => hosts.push(pattern),
            Err(reason) => errors.push(format!("{base}.hosts[{j}]"), reason),
        }
    }
    hosts
}

fn check_methods(raw: &[String], base: &str, errors: &mut Errors) -> Option<Vec<Method>> {
    if raw.is_empty() {
        return None;
    }
    let mut methods = Vec::new();
    for (j, method) in raw.iter().enumerate() {
        let path = format!("{base}.methods[{j}]");
        let valid = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
        match Method::from_bytes(method.as_bytes()) {
            Ok(parsed) if valid && methods.contains(&parsed) => {
                errors.push(path, format!("method `{method}` listed twice"))
            }
            Ok(parsed) if valid => methods.push(parsed),
            _ => errors.push(path, format!("`{method}` is not an upper-case HTTP method token")),
        }
    }
    Some(methods)
}

fn check_path_edit(route: &RawRoute, base: &str, errors: &mut Errors) -> PathEdit {
    match (&route.strip_prefix, &route.rewrite) {
        (Some(_), Some(_)) => {
            errors.push(format!("{base}.rewrite"), "set either strip_prefix or rewrite, not both");
            PathEdit::Keep
        }
        (Some(prefix), None) => {
            let path = format!("{base}.strip_prefix");
            if !prefix.starts_with('/') || prefix.len() < 2 || prefix.ends_with('/') {
                errors.push(
                    path,
                    "must start with '/', have at least one character after it, and not end with '/'",
                );
            } else if !literal_prefix(&route.path).starts_with(prefix.as_str()) {
                errors
                    .push(path, format!("the path pattern `{}` does not start with `{prefix}`", route.path));
            }
            PathEdit::StripPrefix(prefix.clone())
        }
        (None, Some(template)) => match parse_template(template, &routing::pattern_params(&route.path)) {
            Ok(parts) => PathEdit::Rewrite(parts),
            Err(reason) => {
                errors.push(format!("{base}.rewrite"), reason);
                PathEdit::Keep
            }
        },
        (None, None) => PathEdit::Keep,
    }
}

/// The part of a pattern before its first parameter.
fn literal_prefix(pattern: &str) -> &str {
    pattern.split('{').next().unwrap_or_default()
}

fn parse_template(template: &str, params: &[String]) -> Result<Vec<TemplatePart>, String> {
    if !template.starts_with('/') {
        return Err("must start with '/'".into());
    }
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(TemplatePart::Literal(rest[..open].to_owned()));
        }
        let close = rest[open..].find('}').ok_or("unclosed '{' in template")? + open;
        let name = rest[open + 1..close].trim_start_matches('*');
        if !params.iter().any(|p| p == name) {
            return Err(format!("`{{{name}}}` is not a parameter of the path pattern (it has: {params:?})"));
        }
        parts.push(TemplatePart::Param(name.to_owned()));
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err("unmatched '}' in template".into());
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Literal(rest.to_owned()));
    }
    Ok(parts)
}

fn build_router(routes: &[(usize, Route)], errors: &mut Errors) -> Router {
    let indexed: Vec<Route> = routes.iter().map(|(_, route)| route.clone()).collect();
    match Router::build(&indexed) {
        Ok(router) => router,
        Err(conflicts) => {
            for conflict in conflicts {
                let (doc_index, _) = routes[conflict.route];
                errors.push(format!("$.routes[{doc_index}].path"), conflict.reason);
            }
            Router::default()
        }
    }
}
