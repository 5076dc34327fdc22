//! Who the caller is once authenticated ([`Identity`]), where credentials are read from, which
//! rules it must satisfy, and what the origin is told about it.
//!
//! Pure functions over request heads and validated config: reading a bearer token or an API key
//! out of a request, evaluating a route's [`AuthRule`]s, and building the identity headers. The
//! caller strips every client-sent identity header before setting these, on every route.

use std::rc::Rc;

use http::header::{AUTHORIZATION, COOKIE};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;

use crate::auth::Claims;
use crate::config::auth::{ApiKeySettings, AuthRule, ClaimTest, IdentityHeaders, TokenSource};

/// Longest identity header value sent; longer claims are left out rather than cut.
const MAX_IDENTITY_VALUE: usize = 1024;

/// Who the request is.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Identity {
    /// The route requires no authentication.
    Anonymous,
    /// A verified JWT.
    Jwt {
        /// The issuer's configured name.
        issuer: String,
        /// Tenant, from the issuer's `tenant_claim`.
        tenant: Option<String>,
        /// The token's claims.
        claims: Rc<Claims>,
    },
    /// A valid API key.
    ApiKey {
        /// The key's public id.
        id: String,
        /// Its tenant.
        tenant: String,
        /// Its scopes.
        scopes: Vec<String>,
    },
}

/// Why an authenticated caller may still not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// These scopes are required and at least one is missing (RFC 6750 `insufficient_scope`).
    Scope(String),
    /// A claim test failed.
    Claim,
}

impl Identity {
    /// The granted scopes.
    pub fn scopes(&self) -> &[String] {
        match self {
            Identity::Anonymous => &[],
            Identity::Jwt { claims, .. } => &claims.scopes,
            Identity::ApiKey { scopes, .. } => scopes,
        }
    }

    /// The value of claim `name`, for rules: a JWT's claims, or `sub`/`tenant` of an API key.
    pub fn claim(&self, name: &str) -> Option<Value> {
        match self {
            Identity::Anonymous => None,
            Identity::Jwt { claims, .. } => match name {
                "sub" => claims.sub.clone().map(Value::String),
                "iss" => claims.iss.clone().map(Value::String),
                "aud" => Some(Value::from(claims.aud.clone())),
                "scope" | "scp" => Some(Value::from(claims.scopes.clone())),
                _ => claims.extra.get(name).cloned(),
            },
            Identity::ApiKey { id, tenant, .. } => match name {
                "sub" => Some(Value::String(format!("apikey:{id}"))),
                "tenant" => Some(Value::String(tenant.clone())),
                _ => None,
            },
        }
    }

    /// The identity headers for the origin; values that are not valid header text are left out.
    pub fn headers(&self, names: &IdentityHeaders) -> Vec<(HeaderName, HeaderValue)> {
        let (method, subject, tenant, issuer) = match self {
            Identity::Anonymous => return Vec::new(),
            Identity::Jwt { issuer, tenant, claims } => {
                ("jwt", claims.sub.clone(), tenant.clone(), Some(issuer.clone()))
            }
            Identity::ApiKey { id, tenant, .. } => {
                ("api_key", Some(format!("apikey:{id}")), Some(tenant.clone()), None)
            }
        };
        let scopes = Some(self.scopes().join(" ")).filter(|s| !s.is_empty());
        [
            (&names.method, Some(method.to_owned())),
            (&names.subject, subject),
            (&names.tenant, tenant),
            (&names.scopes, scopes),
            (&names.issuer, issuer),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            let value = value.filter(|v| v.len() <= MAX_IDENTITY_VALUE)?;
            Some((name.clone(), HeaderValue::from_str(&value).ok()?))
        })
        .collect()
    }
}

/// The tenant named by `claim` in `claims`, when it is a string or a number.
pub fn tenant_of(claims: &Claims, claim: Option<&str>) -> Option<String> {
    match claims.extra.get(claim?)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What the request presents for a JWT route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented<'a> {
    /// Nothing in the configured place.
    Nothing,
    /// A token.
    Token(&'a str),
    /// Something that is not a usable token (wrong scheme, empty, several values).
    Malformed,
}

/// The JWT in `headers`, from `source`.
pub fn token<'h>(headers: &'h HeaderMap, source: &TokenSource) -> Presented<'h> {
    match source {
        TokenSource::Bearer => bearer(headers),
        TokenSource::Header(name) => single(headers, name)
            .map_or(Presented::Nothing, |value| value.map_or(Presented::Malformed, |v| non_empty(v.trim()))),
        TokenSource::Cookie(name) => cookie(headers, name).map_or(Presented::Nothing, non_empty),
    }
}

fn non_empty(value: &str) -> Presented<'_> {
    if value.is_empty() { Presented::Malformed } else { Presented::Token(value) }
}

/// `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Presented<'_> {
    let Some(value) = single(headers, &AUTHORIZATION) else { return Presented::Nothing };
    let Some(value) = value else { return Presented::Malformed };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => non_empty(token.trim()),
        _ => Presented::Malformed,
    }
}

/// `None` when absent, `Some(None)` when repeated or not text, else the one value.
fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<Option<&'h str>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return Some(None);
    }
    Some(first.to_str().ok())
}

/// The value of cookie `name`, from any `Cookie` field line.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|line| line.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// The API key the request presents, from the configured header or query parameter.
///
/// More than one key is malformed, however it is sent: the header twice (Spin keeps both
/// lines), one header holding a list (Workers joins repeated lines with `, `), or header and
/// query parameter together, or the parameter twice. Refusing is the only answer that is the
/// same on every runtime.
pub fn api_key<'h>(head: &'h Parts, settings: &ApiKeySettings) -> Presented<'h> {
    let in_query: Vec<&str> = match (settings.query.as_deref(), head.uri.query()) {
        (Some(param), Some(query)) => query_params(query, param).collect(),
        _ => Vec::new(),
    };
    let header = single(&head.headers, &settings.header);
    match (header, in_query.as_slice()) {
        (None, []) => Presented::Nothing,
        (None, [key]) => non_empty(key),
        (Some(Some(value)), []) if !value.contains(',') => non_empty(value.trim()),
        _ => Presented::Malformed,
    }
}

fn query_params<'q>(query: &'q str, name: &str) -> impl Iterator<Item = &'q str> {
    let name = name.to_owned();
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(move |(key, _)| *key == name)
        .map(|(_, v)| v)
}

/// `query` without any `name=` parameter; `None` when nothing is left.
pub fn without_param(query: &str, name: &str) -> Option<String> {
    let kept: Vec<&str> = query.split('&').filter(|pair| pair.split('=').next() != Some(name)).collect();
    let joined = kept.join("&");
    if joined.is_empty() { None } else { Some(joined) }
}

/// Checks every rule that applies to `method`.
pub fn authorize(rules: &[AuthRule], method: &Method, identity: &Identity) -> Result<(), Denied> {
    for rule in rules.iter().filter(|rule| rule.methods.as_ref().is_none_or(|m| applies(m, method))) {
        if !rule.scopes.iter().all(|scope| identity.scopes().contains(scope)) {
            return Err(Denied::Scope(rule.scopes.join(" ")));
        }
        for claim in &rule.claims {
            if !satisfies(identity.claim(&claim.claim).as_ref(), &claim.test) {
                return Err(Denied::Claim);
            }
        }
    }
    Ok(())
}

fn applies(methods: &[Method], method: &Method) -> bool {
    methods.contains(method) || (method == Method::HEAD && methods.contains(&Method::GET))
}

fn satisfies(value: Option<&Value>, test: &ClaimTest) -> bool {
    let Some(value) = value else { return false };
    match test {
        ClaimTest::Equals(expected) => value == expected,
        ClaimTest::OneOf(options) => options.contains(value),
        ClaimTest::Contains(item) => match (value, item) {
            (Value::Array(items), _) => items.contains(item),
            (Value::String(words), Value::String(word)) => words.split(' ').any(|w| w == word),
            _ => false,
        },
    }
}
