//! Validation of the geo, health and failover fields, with JSON paths: region tags and health
//! checks, pool retry, breaker and ejection settings, route residency and canaries, and the
//! client-location headers.

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderName, StatusCode};

use super::Errors;
use crate::config::failover::CONTINENTS;
use crate::config::failover::names_region;
use crate::config::raw::{
    RawBreaker, RawCanary, RawClientLocation, RawHealthCheck, RawOutlier, RawPool, RawRegion, RawResidency,
    RawRetryBudget, RawTier,
};
use crate::config::{Canary, ClientLocation, Failover, HealthCheck, Pool, Region, Residency, RetryOn, Tier};
use crate::geo::GeoPoint;
use crate::health::probe::{ProbeConfig, ProbeSettings};
use crate::health::{
    BreakerConfig, BreakerSettings, BudgetConfig, BudgetSettings, OutlierConfig, OutlierSettings,
    SettingProblems,
};

/// A region's tags, weight, tier and health check.
pub(super) struct RegionExtras {
    pub(super) country: Option<String>,
    pub(super) continent: Option<String>,
    pub(super) weight: u32,
    pub(super) tier: Tier,
    pub(super) health_check: HealthCheck,
}

pub(super) fn region_extras(raw: &RawRegion, base: &str, errors: &mut Errors) -> RegionExtras {
    let country = raw.country.as_ref().map(|c| c.to_ascii_uppercase());
    if let Some(c) = &country
        && !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
    {
        errors.push(format!("{base}.country"), "must be a two-letter ISO 3166-1 country code");
    }
    let continent = raw.continent.as_ref().map(|c| c.to_ascii_uppercase());
    if let Some(c) = &continent
        && !CONTINENTS.contains(&c.as_str())
    {
        errors.push(format!("{base}.continent"), format!("must be one of {}", CONTINENTS.join(", ")));
    }
    let weight = raw.weight.unwrap_or(100);
    if !(1..=1000).contains(&weight) {
        errors.push(format!("{base}.weight"), "must be 1 to 1000");
    }
    let tier = match raw.tier {
        RawTier::Primary => Tier::Primary,
        RawTier::Backup => Tier::Backup,
    };
    let health_check = health_check(&raw.health_check, &format!("{base}.health_check"), errors);
    RegionExtras { country, continent, weight, tier, health_check }
}

fn health_check(raw: &RawHealthCheck, base: &str, errors: &mut Errors) -> HealthCheck {
    let seed = HealthCheck::default();
    let defaults = ProbeSettings::default();
    let settings = ProbeSettings {
        interval_ms: raw.interval_ms.unwrap_or(defaults.interval_ms),
        unhealthy_threshold: raw.unhealthy_threshold.unwrap_or(defaults.unhealthy_threshold),
        healthy_threshold: raw.healthy_threshold.unwrap_or(defaults.healthy_threshold),
    };
    let probe = settled(ProbeConfig::try_from(settings), base, errors);
    let path = raw.path.clone().unwrap_or(seed.path);
    if !path.starts_with('/') || path.contains(['?', '#']) || path.parse::<http::uri::PathAndQuery>().is_err()
    {
        errors.push(format!("{base}.path"), "must be a path starting with '/', without query or fragment");
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(2_000);
    if timeout_ms == 0 || timeout_ms > settings.interval_ms {
        errors.push(format!("{base}.timeout_ms"), "must be at least 1 and at most interval_ms");
    }
    HealthCheck { path, timeout: Duration::from_millis(timeout_ms), probe }
}

/// A validated settings block, or the seed set after recording its problems under `base`.
fn settled<T: Default>(result: Result<T, SettingProblems>, base: &str, errors: &mut Errors) -> T {
    result.unwrap_or_else(|problems| {
        for (path, reason) in problems.0 {
            errors.push(format!("{base}{path}"), reason);
        }
        T::default()
    })
}

pub(super) fn failover(raw: &RawPool, base: &str, errors: &mut Errors) -> Failover {
    let seed = Failover::default();
    let retry_on = match &raw.retry_on {
        None => seed.retry_on,
        Some(list) => retry_on(list, &format!("{base}.retry_on"), errors),
    };
    let deadline_ms = raw.deadline_ms.unwrap_or(seed.deadline.as_millis() as u64);
    if !(1..=300_000).contains(&deadline_ms) {
        errors.push(format!("{base}.deadline_ms"), "must be 1 to 300000");
    }
    let replay_body_bytes = raw.replay_body_bytes.unwrap_or(seed.replay_body_bytes);
    if replay_body_bytes > 16 * 1024 * 1024 {
        errors.push(format!("{base}.replay_body_bytes"), "must be at most 16777216");
    }
    Failover {
        retry_on,
        deadline: Duration::from_millis(deadline_ms),
        replay_body_bytes,
        budget: settled(budget(&raw.retry_budget), &format!("{base}.retry_budget"), errors),
        breaker: settled(breaker(&raw.breaker), &format!("{base}.breaker"), errors),
        outlier: settled(outlier(&raw.outlier), &format!("{base}.outlier"), errors),
    }
}

fn retry_on(list: &[String], base: &str, errors: &mut Errors) -> RetryOn {
    let mut on = RetryOn { connect: false, timeout: false, statuses: Vec::new() };
    for (j, item) in list.iter().enumerate() {
        match item.as_str() {
            "connect" => on.connect = true,
            "timeout" => on.timeout = true,
            code => match code.parse::<u16>().ok().and_then(|c| StatusCode::from_u16(c).ok()) {
                Some(status) if status.is_server_error() => on.statuses.push(status),
                _ => errors.push(format!("{base}[{j}]"), "must be `connect`, `timeout` or a 5xx status"),
            },
        }
    }
    on
}

fn budget(raw: &RawRetryBudget) -> Result<BudgetConfig, SettingProblems> {
    let d = BudgetSettings::default();
    BudgetConfig::try_from(BudgetSettings {
        ratio_percent: raw.ratio_percent.unwrap_or(d.ratio_percent),
        min_retries_per_s: raw.min_retries_per_s.unwrap_or(d.min_retries_per_s),
        window_ms: raw.window_ms.unwrap_or(d.window_ms),
    })
}

fn breaker(raw: &RawBreaker) -> Result<BreakerConfig, SettingProblems> {
    let d = BreakerSettings::default();
    BreakerConfig::try_from(BreakerSettings {
        consecutive_failures: raw.consecutive_failures.unwrap_or(d.consecutive_failures),
        error_rate_percent: raw.error_rate_percent.unwrap_or(d.error_rate_percent),
        window_ms: raw.window_ms.unwrap_or(d.window_ms),
        min_requests: raw.min_requests.unwrap_or(d.min_requests),
        open_base_ms: raw.open_base_ms.unwrap_or(d.open_base_ms),
        open_max_ms: raw.open_max_ms.unwrap_or(d.open_max_ms),
        half_open_trials: raw.half_open_trials.unwrap_or(d.half_open_trials),
        close_after_successes: raw.close_after_successes.unwrap_or(d.close_after_successes),
        ..d
    })
}

fn outlier(raw: &RawOutlier) -> Result<OutlierConfig, SettingProblems> {
    let d = OutlierSettings::default();
    OutlierConfig::try_from(OutlierSettings {
        consecutive_errors: raw.consecutive_errors.unwrap_or(d.consecutive_errors),
        consecutive_unreachable: raw.consecutive_unreachable.unwrap_or(d.consecutive_unreachable),
        base_ejection_ms: raw.base_ejection_ms.unwrap_or(d.base_ejection_ms),
        max_ejection_ms: raw.max_ejection_ms.unwrap_or(d.max_ejection_ms),
        ..d
    })
}

pub(super) fn residency(
    raw: &RawResidency,
    pools: &[(&str, &Pool)],
    regions: &[(usize, Region)],
    base: &str,
    errors: &mut Errors,
) -> Residency {
    let known = |tag: &str| regions.iter().any(|(_, r)| names_region(r, tag));
    let tags: Vec<String> =
        [&raw.regions, &raw.countries, &raw.continents].into_iter().flatten().cloned().collect();
    let lists = [("regions", &raw.regions), ("countries", &raw.countries), ("continents", &raw.continents)];
    for (field, list) in lists {
        for (j, tag) in list.iter().enumerate() {
            if !known(tag) {
                errors.push(format!("{base}.{field}[{j}]"), format!("`{tag}` names no region"));
            }
        }
    }
    if tags.is_empty() && raw.claim.is_none() {
        errors.push(base, "must list regions, countries or continents, or name a claim");
    }
    for (which, pool) in pools {
        let reachable = pool
            .regions
            .iter()
            .any(|&i| regions.get(i).is_some_and(|(_, r)| tags.iter().any(|t| names_region(r, t))));
        if !tags.is_empty() && !reachable {
            errors.push(
                base,
                format!(
                    "no region of the route's {which} `{}` is in this set: it could never serve the route",
                    pool.name
                ),
            );
        }
    }
    if let Some(claim) = &raw.claim
        && claim.is_empty()
    {
        errors.push(format!("{base}.claim"), "must name a claim");
    }
    Residency { tags, claim: raw.claim.clone() }
}

pub(super) fn canary(
    raw: &RawCanary,
    pools: &BTreeMap<String, Pool>,
    base: &str,
    errors: &mut Errors,
) -> Option<Canary> {
    let pool = pools.keys().position(|name| name == &raw.pool);
    if pool.is_none() {
        errors.push(format!("{base}.pool"), format!("unknown pool `{}`", raw.pool));
    }
    if raw.percent > 100 {
        errors.push(format!("{base}.percent"), "must be 0 to 100");
    }
    Some(Canary { pool: pool?, percent: raw.percent.min(100) as u8 })
}

pub(super) fn client_location(raw: &RawClientLocation, errors: &mut Errors) -> ClientLocation {
    let base = "$.settings.client_location";
    let mut header = |value: &Option<String>, field: &str| {
        let name = value.as_ref()?;
        match HeaderName::try_from(name.as_str()) {
            Ok(name) => Some(name),
            Err(_) => {
                errors.push(format!("{base}.{field}"), "must be a header name");
                None
            }
        }
    };
    let lat = header(&raw.lat_header, "lat_header");
    let lon = header(&raw.lon_header, "lon_header");
    let country_header = header(&raw.country_header, "country_header");
    let continent_header = header(&raw.continent_header, "continent_header");
    let point_headers = match (lat, lon) {
        (Some(lat), Some(lon)) => Some((lat, lon)),
        (None, None) => None,
        _ => {
            errors.push(base, "lat_header and lon_header go together");
            None
        }
    };
    let default = raw.default.as_ref().and_then(|p| {
        let ok = (-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lon);
        if !ok {
            errors.push(format!("{base}.default"), "lat must be -90 to 90 and lon -180 to 180");
        }
        ok.then_some(GeoPoint { lat: p.lat, lon: p.lon })
    });
    ClientLocation { point_headers, country_header, continent_header, default }
}
