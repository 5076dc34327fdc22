//! Validation of `rate_limits`, `default_rate_limit` and each route's `rate_limit`, with JSON
//! paths.
//!
//! One policy becomes a [`Policy`] through `TryFrom`, which reports every problem of that policy
//! with its path relative to the policy; the checks that need the rest of the document (names
//! routes refer to, header names the gateway itself sets) run here.

use std::collections::BTreeMap;

use http::HeaderName;

use super::{Errors, NAME_RULE, entries, is_name, key_path};
use crate::config::auth::AuthSettings;
use crate::config::raw::{RawAlgorithm, RawKeyName, RawKeyPart, RawMode, RawOnStoreError, RawRateLimit};
use crate::ratelimit::{
    Algorithm, KeyPart, MAX_LIMIT, MAX_PERIOD_S, Mode, OnStoreError, Policy, PolicyProblems, Rate, RateLimits,
};

/// Headers that carry credentials: keying on them would put secrets into counter names.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

impl TryFrom<(&str, &RawRateLimit)> for Policy {
    type Error = PolicyProblems;

    fn try_from((name, raw): (&str, &RawRateLimit)) -> Result<Policy, PolicyProblems> {
        let mut problems = Vec::new();
        let mut problem = |path: &str, reason: String| problems.push((path.to_owned(), reason));
        let within = |value: u64, max: u64| (1..=max).contains(&value);
        if !within(raw.limit, MAX_LIMIT) {
            problem(".limit", format!("must be between 1 and {MAX_LIMIT}"));
        }
        if !within(raw.period_s, MAX_PERIOD_S) {
            problem(".period_s", format!("must be between 1 and {MAX_PERIOD_S}"));
        }
        let algorithm = match (raw.algorithm, raw.burst) {
            (RawAlgorithm::SlidingWindow, Some(_)) => {
                problem(".burst", "only a `gcra` policy has a burst".into());
                Algorithm::SlidingWindow
            }
            (RawAlgorithm::SlidingWindow, None) => Algorithm::SlidingWindow,
            (RawAlgorithm::Gcra, burst) => {
                let burst = burst.unwrap_or(raw.limit);
                if !within(burst, MAX_LIMIT) {
                    problem(".burst", format!("must be between 1 and {MAX_LIMIT}"));
                }
                Algorithm::Gcra { burst }
            }
        };
        let cost = raw.cost.unwrap_or(1);
        let capacity = match algorithm {
            Algorithm::Gcra { burst } => burst,
            Algorithm::SlidingWindow => raw.limit,
        };
        if cost == 0 {
            problem(".cost", "must be at least 1".into());
        } else if cost > capacity && capacity > 0 {
            let what = if matches!(algorithm, Algorithm::Gcra { .. }) { "burst" } else { "limit" };
            problem(".cost", format!("must be at most the {what} ({capacity}): no request could ever pass"));
        }
        let key = key_parts(&raw.key, &mut problem);
        if !problems.is_empty() {
            return Err(PolicyProblems(problems));
        }
        Ok(Policy {
            name: name.to_owned(),
            rate: Rate { algorithm, limit: raw.limit, period_ms: raw.period_s * 1000 },
            key,
            cost,
            mode: match raw.mode {
                RawMode::Exact => Mode::Exact,
                RawMode::Approximate => Mode::Approximate,
            },
            on_store_error: match raw.on_store_error {
                RawOnStoreError::FailOpen => OnStoreError::FailOpen,
                RawOnStoreError::FailClosed => OnStoreError::FailClosed,
            },
            shadow: raw.shadow,
        })
    }
}

fn key_parts(raw: &[RawKeyPart], problem: &mut impl FnMut(&str, String)) -> Vec<KeyPart> {
    if raw.is_empty() {
        problem(".key", "must name at least one part (use [\"global\"] for one counter)".into());
    }
    let mut parts = Vec::new();
    for (j, part) in raw.iter().enumerate() {
        let path = format!(".key[{j}]");
        let parsed = match part {
            RawKeyPart::Named(RawKeyName::ClientIp) => KeyPart::ClientIp,
            RawKeyPart::Named(RawKeyName::ApiKey) => KeyPart::ApiKey,
            RawKeyPart::Named(RawKeyName::Subject) => KeyPart::Subject,
            RawKeyPart::Named(RawKeyName::Route) => KeyPart::Route,
            RawKeyPart::Named(RawKeyName::Global) => KeyPart::Global,
            RawKeyPart::Claim(claim) if claim.claim.is_empty() || claim.claim.len() > 256 => {
                problem(&format!("{path}.claim"), "must be 1 to 256 characters".into());
                continue;
            }
            RawKeyPart::Claim(claim) => KeyPart::Claim(claim.claim.clone()),
            RawKeyPart::Header(header) => {
                match HeaderName::from_bytes(header.header.to_ascii_lowercase().as_bytes()) {
                    Ok(name) if CREDENTIAL_HEADERS.contains(&name.as_str()) => {
                        problem(
                            &format!("{path}.header"),
                            format!(
                                "`{}` carries credentials: key on `api_key` or `subject` instead",
                                header.header
                            ),
                        );
                        continue;
                    }
                    Ok(name) => KeyPart::Header(name),
                    Err(_) => {
                        problem(
                            &format!("{path}.header"),
                            format!("`{}` is not a header name", header.header),
                        );
                        continue;
                    }
                }
            }
        };
        if parts.contains(&parsed) {
            problem(&path, "listed twice".into());
        } else {
            parts.push(parsed);
        }
    }
    if parts.contains(&KeyPart::Global) && raw.len() > 1 {
        problem(
            ".key",
            "`global` is one counter for everything: it cannot be combined with other parts".into(),
        );
    }
    parts
}

/// The validated policies, and every declared name (valid or not), so a route naming an invalid
/// policy is not reported twice.
pub(super) struct CheckedRateLimits {
    pub(super) limits: RateLimits,
    pub(super) declared: Vec<String>,
}

impl CheckedRateLimits {
    /// Indices of `names` (at `base`), reporting unknown and repeated ones.
    pub(super) fn resolve(&self, names: &[String], base: &str, errors: &mut Errors) -> Vec<usize> {
        let mut indices = Vec::new();
        for (j, name) in names.iter().enumerate() {
            let path = format!("{base}[{j}]");
            match self.limits.policies.iter().position(|p| &p.name == name) {
                Some(index) if indices.contains(&index) => {
                    errors.push(path, format!("policy `{name}` listed twice"))
                }
                Some(index) => indices.push(index),
                None if self.declared.contains(name) => {}
                None => errors.push(path, format!("unknown rate-limit policy `{name}`")),
            }
        }
        indices
    }
}

/// Takes `rate_limits` and `default_rate_limit` out of the document and checks them.
pub(super) fn check_section(
    top: &mut serde_json::Map<String, serde_json::Value>,
    legacy_headers: bool,
    auth: &AuthSettings,
    errors: &mut Errors,
) -> CheckedRateLimits {
    let policies = match top.contains_key("rate_limits") {
        true => entries::<RawRateLimit>(top, "rate_limits", errors),
        false => BTreeMap::new(),
    };
    let default = match top.remove("default_rate_limit") {
        Some(value) => errors.parse::<Vec<String>>("$.default_rate_limit", value).unwrap_or_default(),
        None => Vec::new(),
    };
    check_rate_limits(&policies, &default, legacy_headers, auth, errors)
}

/// Checks every policy, then the default list.
fn check_rate_limits(
    raw: &BTreeMap<String, Option<RawRateLimit>>,
    default: &[String],
    legacy_headers: bool,
    auth: &AuthSettings,
    errors: &mut Errors,
) -> CheckedRateLimits {
    let mut policies = Vec::new();
    for (name, policy) in raw {
        let base = format!("$.rate_limits{}", key_path(name));
        if !is_name(name) {
            errors.push(&base, format!("policy name {NAME_RULE}"));
        }
        let Some(policy) = policy else { continue };
        match Policy::try_from((name.as_str(), policy)) {
            Ok(policy) => {
                check_identity_headers(&policy, auth, &base, errors);
                policies.push(policy);
            }
            Err(PolicyProblems(problems)) => {
                for (path, reason) in problems {
                    errors.push(format!("{base}{path}"), reason);
                }
            }
        }
    }
    let mut checked = CheckedRateLimits {
        limits: RateLimits { policies, default: Vec::new(), legacy_headers },
        declared: raw.keys().cloned().collect(),
    };
    checked.limits.default = checked.resolve(default, "$.default_rate_limit", errors);
    checked
}

/// A header the gateway sets for the origin is not the caller's to choose a counter with.
fn check_identity_headers(policy: &Policy, auth: &AuthSettings, base: &str, errors: &mut Errors) {
    let names = &auth.identity_headers;
    let gateway_set = [&names.subject, &names.tenant, &names.scopes, &names.method, &names.issuer];
    for (j, part) in policy.key.iter().enumerate() {
        if let KeyPart::Header(name) = part
            && (gateway_set.contains(&name) || name == auth.api_keys.header)
        {
            errors.push(
                format!("{base}.key[{j}].header"),
                format!("`{name}` is an identity or API-key header: key on `subject`, `api_key` or a claim"),
            );
        }
    }
}
