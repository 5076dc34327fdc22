//! Validation of the `auth` section and of each route's `auth`, with JSON paths.

use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use http::HeaderName;

use super::{Errors, NAME_RULE, check_methods, is_name, key_path, positive_millis};
use crate::auth::{IssuerPolicy, IssuerPolicySpec, Jwks};
use crate::config::auth::{
    ApiKeySettings, AuthRule, AuthSettings, ClaimRule, ClaimTest, IdentityHeaders, Issuer, JwksCacheSettings,
    KeySource, RouteAuth, TokenSource,
};
use crate::config::raw::{
    RawApiKeys, RawAuth, RawAuthRule, RawClaimRule, RawIdentityHeaders, RawIssuer, RawJwksCache, RawRouteAuth,
};

const MAX_CACHE_MS: u64 = 7 * 24 * 3600 * 1000;
const MAX_FETCH_TIMEOUT_MS: u64 = 60_000;
/// Headers a route may not use for tokens or identity: the gateway or HTTP owns them.
const RESERVED: [&str; 10] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "cookie",
    "via",
    "forwarded",
    "x-forwarded-for",
    "x-request-id",
    "traceparent",
];

/// The validated `auth` section, and every issuer name declared (valid or not), so routes that
/// name an invalid issuer are not reported twice.
pub(super) struct CheckedAuth {
    pub(super) settings: AuthSettings,
    pub(super) declared: Vec<String>,
}

/// Checks the gateway-wide `auth` section.
pub(super) fn check_auth(raw: &RawAuth, errors: &mut Errors) -> CheckedAuth {
    let issuers =
        raw.issuers.iter().filter_map(|(name, issuer)| check_issuer(name, issuer, errors)).collect();
    let settings = AuthSettings {
        issuers,
        api_keys: check_api_keys(&raw.api_keys, errors),
        identity_headers: check_identity_headers(&raw.identity_headers, errors),
    };
    CheckedAuth { settings, declared: raw.issuers.keys().cloned().collect() }
}

fn check_issuer(name: &str, raw: &RawIssuer, errors: &mut Errors) -> Option<Issuer> {
    let base = format!("$.auth.issuers{}", key_path(name));
    let before = errors.0.len();
    if !is_name(name) {
        errors.push(&base, format!("issuer name {NAME_RULE}"));
    }
    let spec = IssuerPolicySpec {
        issuer: raw.issuer.clone(),
        audiences: raw.audiences.clone(),
        algorithms: raw.algorithms.clone(),
        leeway_ms: raw.leeway_ms,
        required_claims: raw.required_claims.clone(),
        max_token_bytes: raw.max_token_bytes,
    };
    let policy = IssuerPolicy::try_from(spec)
        .map_err(|e| {
            for (field, reason) in e.problems {
                errors.push(format!("{base}.{field}"), reason);
            }
        })
        .ok();
    let keys = check_key_source(raw, &base, errors);
    let jwks_cache = check_jwks_cache(&raw.jwks_cache, &format!("{base}.jwks_cache"), errors);
    if raw.tenant_claim.as_deref().is_some_and(str::is_empty) {
        errors.push(format!("{base}.tenant_claim"), "must not be empty");
    }
    if errors.0.len() != before {
        return None;
    }
    Some(Issuer {
        name: name.to_owned(),
        policy: policy?,
        keys: keys?,
        jwks_cache,
        tenant_claim: raw.tenant_claim.clone(),
        cache_verified_tokens: raw.cache_verified_tokens.unwrap_or(true),
    })
}

fn check_key_source(raw: &RawIssuer, base: &str, errors: &mut Errors) -> Option<KeySource> {
    let set = [raw.jwks_uri.is_some(), raw.discovery_url.is_some(), raw.jwks.is_some()];
    if set.iter().filter(|s| **s).count() != 1 {
        errors.push(base, "set exactly one of `jwks_uri`, `discovery_url` and `jwks`");
        return None;
    }
    if let Some(uri) = &raw.jwks_uri {
        return check_fetch_url(uri, &format!("{base}.jwks_uri"), errors).map(KeySource::JwksUri);
    }
    if let Some(uri) = &raw.discovery_url {
        return check_fetch_url(uri, &format!("{base}.discovery_url"), errors).map(KeySource::Discovery);
    }
    let document = serde_json::to_vec(raw.jwks.as_ref()?).unwrap_or_default();
    match Jwks::parse(&document) {
        Err(e) => errors.push(format!("{base}.jwks"), e.to_string()),
        Ok(parsed) if !parsed.skipped.is_empty() => {
            for skipped in parsed.skipped {
                errors.push(
                    format!("{base}.jwks.keys[{}]", skipped.index),
                    format!("unusable key: {:?}", skipped.reason),
                );
            }
        }
        Ok(parsed) if parsed.jwks.is_empty() => errors.push(format!("{base}.jwks.keys"), "holds no key"),
        Ok(parsed) => return Some(KeySource::Inline(Rc::new(parsed.jwks))),
    }
    None
}

/// An absolute `http(s)` URL without fragment.
fn check_fetch_url(url: &str, path: &str, errors: &mut Errors) -> Option<String> {
    let valid = url.parse::<http::Uri>().ok().is_some_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.host().is_some_and(|h| !h.is_empty())
            && !url.contains('#')
    });
    if !valid {
        errors.push(path, "must be an absolute http:// or https:// URL without a fragment");
        return None;
    }
    Some(url.to_owned())
}

fn check_jwks_cache(raw: &RawJwksCache, base: &str, errors: &mut Errors) -> JwksCacheSettings {
    let default = JwksCacheSettings::default();
    let mut field = |value: Option<u64>, default: Duration, name: &str, max: u64| {
        positive_millis(value, default, max, &format!("{base}.{name}"), errors)
    };
    let settings = JwksCacheSettings {
        min_ttl: field(raw.min_ttl_ms, default.min_ttl, "min_ttl_ms", MAX_CACHE_MS),
        max_ttl: field(raw.max_ttl_ms, default.max_ttl, "max_ttl_ms", MAX_CACHE_MS),
        max_stale: field(raw.max_stale_ms, default.max_stale, "max_stale_ms", MAX_CACHE_MS),
        refetch_interval: field(
            raw.refetch_interval_ms,
            default.refetch_interval,
            "refetch_interval_ms",
            MAX_CACHE_MS,
        ),
        fetch_timeout: field(
            raw.fetch_timeout_ms,
            default.fetch_timeout,
            "fetch_timeout_ms",
            MAX_FETCH_TIMEOUT_MS,
        ),
    };
    if settings.min_ttl > settings.max_ttl {
        errors.push(format!("{base}.min_ttl_ms"), "must not exceed max_ttl_ms");
    }
    settings
}

fn check_api_keys(raw: &RawApiKeys, errors: &mut Errors) -> ApiKeySettings {
    let default = ApiKeySettings::default();
    let header = raw
        .header
        .as_deref()
        .and_then(|name| header_name(name, "$.auth.api_keys.header", errors))
        .unwrap_or(default.header);
    if raw.query.as_deref().is_some_and(|q| q.is_empty() || q.contains(['&', '=', '#'])) {
        errors.push("$.auth.api_keys.query", "must be a non-empty parameter name without '&', '=' or '#'");
    }
    let cache_ttl = positive_millis(
        raw.cache_ttl_ms,
        default.cache_ttl,
        3_600_000,
        "$.auth.api_keys.cache_ttl_ms",
        errors,
    );
    ApiKeySettings { header, query: raw.query.clone(), cache_ttl }
}

fn check_identity_headers(raw: &RawIdentityHeaders, errors: &mut Errors) -> IdentityHeaders {
    let default = IdentityHeaders::default();
    let mut pick = |value: &Option<String>, default: HeaderName, field: &str| {
        value
            .as_deref()
            .and_then(|name| header_name(name, &format!("$.auth.identity_headers.{field}"), errors))
            .unwrap_or(default)
    };
    let headers = IdentityHeaders {
        subject: pick(&raw.subject, default.subject, "subject"),
        tenant: pick(&raw.tenant, default.tenant, "tenant"),
        scopes: pick(&raw.scopes, default.scopes, "scopes"),
        method: pick(&raw.method, default.method, "method"),
        issuer: pick(&raw.issuer, default.issuer, "issuer"),
    };
    let mut seen = HashSet::new();
    if !headers.all().into_iter().all(|name| seen.insert(name.clone())) {
        errors.push("$.auth.identity_headers", "the five header names must differ");
    }
    headers
}

/// A header name a route or the identity settings may use.
fn header_name(name: &str, path: &str, errors: &mut Errors) -> Option<HeaderName> {
    let lower = name.to_ascii_lowercase();
    if RESERVED.contains(&lower.as_str()) || lower == "authorization" {
        errors.push(path, format!("`{name}` is reserved"));
        return None;
    }
    match HeaderName::from_bytes(lower.as_bytes()) {
        Ok(header) => Some(header),
        Err(_) => {
            errors.push(path, format!("`{name}` is not a valid header name"));
            None
        }
    }
}

/// Checks one route's `auth` against the validated issuers.
pub(super) fn check_route_auth(
    raw: &RawRouteAuth,
    auth: &CheckedAuth,
    base: &str,
    errors: &mut Errors,
) -> RouteAuth {
    if raw.jwt.is_empty() && !raw.api_key {
        errors.push(base, "must accept `jwt` issuers, `api_key`, or both");
    }
    let mut issuers = Vec::new();
    for (j, name) in raw.jwt.iter().enumerate() {
        let path = format!("{base}.jwt[{j}]");
        match auth.settings.issuers.iter().position(|issuer| &issuer.name == name) {
            Some(index) if issuers.contains(&index) => {
                errors.push(path, format!("issuer `{name}` listed twice"))
            }
            Some(index) => {
                let iss = auth.settings.issuers[index].policy.issuer();
                if let Some(&other) =
                    issuers.iter().find(|&&o| auth.settings.issuers[o].policy.issuer() == iss)
                {
                    let other = &auth.settings.issuers[other].name;
                    errors.push(
                        path,
                        format!(
                            "issuers `{other}` and `{name}` both have `iss` `{iss}`: a token names only its `iss`, so the gateway could not tell which keys to check; give the route one of them"
                        ),
                    );
                }
                issuers.push(index);
            }
            None if auth.declared.contains(name) => {} // its own errors are reported
            None => errors.push(path, format!("unknown issuer `{name}`")),
        }
    }
    RouteAuth {
        issuers,
        api_key: raw.api_key,
        token: check_token_source(raw, base, errors),
        forward_authorization: raw.forward_authorization,
        rules: raw
            .rules
            .iter()
            .enumerate()
            .map(|(j, rule)| check_rule(rule, &format!("{base}.rules[{j}]"), errors))
            .collect(),
    }
}

fn check_token_source(raw: &RawRouteAuth, base: &str, errors: &mut Errors) -> TokenSource {
    if (raw.token_cookie.is_some() || raw.token_header.is_some()) && raw.jwt.is_empty() {
        errors.push(base, "`token_cookie` and `token_header` need `jwt` issuers");
    }
    match (&raw.token_cookie, &raw.token_header) {
        (Some(_), Some(_)) => {
            errors.push(format!("{base}.token_header"), "set either token_cookie or token_header, not both");
            TokenSource::Bearer
        }
        (Some(cookie), None) => {
            if cookie.is_empty()
                || !cookie.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
            {
                errors.push(format!("{base}.token_cookie"), "is not a valid cookie name");
            }
            TokenSource::Cookie(cookie.clone())
        }
        (None, Some(header)) => header_name(header, &format!("{base}.token_header"), errors)
            .map_or(TokenSource::Bearer, TokenSource::Header),
        (None, None) => TokenSource::Bearer,
    }
}

fn check_rule(raw: &RawAuthRule, base: &str, errors: &mut Errors) -> AuthRule {
    for (k, scope) in raw.scopes.iter().enumerate() {
        if scope.is_empty() || scope.contains(' ') || !scope.is_ascii() {
            errors.push(format!("{base}.scopes[{k}]"), "must be a non-empty ASCII scope without spaces");
        }
    }
    if raw.scopes.is_empty() && raw.claims.is_empty() {
        errors.push(base, "must require at least one scope or claim");
    }
    AuthRule {
        methods: check_methods(&raw.methods, base, errors),
        scopes: raw.scopes.clone(),
        claims: raw
            .claims
            .iter()
            .enumerate()
            .filter_map(|(k, claim)| check_claim(claim, &format!("{base}.claims[{k}]"), errors))
            .collect(),
    }
}

fn check_claim(raw: &RawClaimRule, base: &str, errors: &mut Errors) -> Option<ClaimRule> {
    if raw.claim.is_empty() {
        errors.push(format!("{base}.claim"), "must not be empty");
    }
    let test = match (&raw.equals, &raw.one_of, &raw.contains) {
        (Some(value), None, None) => ClaimTest::Equals(value.clone()),
        (None, Some(values), None) if !values.is_empty() => ClaimTest::OneOf(values.clone()),
        (None, Some(_), None) => {
            errors.push(format!("{base}.one_of"), "must list at least one value");
            return None;
        }
        (None, None, Some(value)) => ClaimTest::Contains(value.clone()),
        _ => {
            errors.push(base, "set exactly one of `equals`, `one_of` and `contains`");
            return None;
        }
    };
    Some(ClaimRule { claim: raw.claim.clone(), test })
}
