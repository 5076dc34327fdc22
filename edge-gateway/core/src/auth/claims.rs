//! The claims of a verified token and their checks against a policy and `now`.
//!
//! This module decides whether the registered claims (RFC 7519 §4.1) are well-typed and
//! acceptable: `iss` equal, `aud` intersecting, `exp`/`nbf`/`iat` against `now` with leeway,
//! required claims present. It runs only after the signature verified, and never reads a clock.

use serde_json::{Map, Value};

use crate::auth::error::JwtError;
use crate::auth::policy::IssuerPolicy;
use crate::ports::UnixMillis;

/// The claims of a verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// `sub`, the subject.
    pub sub: Option<String>,
    /// `iss`, the issuer (equal to the policy's).
    pub iss: Option<String>,
    /// `aud`, one or more audiences (a single string becomes one entry).
    pub aud: Vec<String>,
    /// `exp`, in seconds since the epoch (fractions dropped).
    pub exp: Option<u64>,
    /// `nbf`, in seconds since the epoch.
    pub nbf: Option<u64>,
    /// `iat`, in seconds since the epoch.
    pub iat: Option<u64>,
    /// Scopes from `scope` (space-separated, RFC 8693) and `scp` (string or array), in order.
    pub scopes: Vec<String>,
    /// Every other claim, untouched.
    pub extra: Map<String, Value>,
}

impl Claims {
    /// Reads the registered claims out of a payload object; wrong types are [`JwtError::Malformed`].
    pub(crate) fn from_payload(payload: &[u8]) -> Result<Claims, JwtError> {
        let mut extra: Map<String, Value> = serde_json::from_slice(payload)
            .map_err(|_| JwtError::Malformed("payload is not a JSON object"))?;
        let mut scopes = Vec::new();
        if let Some(scope) = extra.remove("scope") {
            scopes.extend(
                scope
                    .as_str()
                    .ok_or(JwtError::Malformed("scope"))?
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
        }
        if let Some(scp) = extra.remove("scp") {
            scopes.extend(
                strings(scp, "scp")?.into_iter().flat_map(|s| {
                    s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>()
                }),
            );
        }
        Ok(Claims {
            sub: extra.remove("sub").map(|v| string(v, "sub")).transpose()?,
            iss: extra.remove("iss").map(|v| string(v, "iss")).transpose()?,
            aud: extra.remove("aud").map(|v| strings(v, "aud")).transpose()?.unwrap_or_default(),
            exp: extra.remove("exp").map(|v| numeric_date(v, "exp")).transpose()?,
            nbf: extra.remove("nbf").map(|v| numeric_date(v, "nbf")).transpose()?,
            iat: extra.remove("iat").map(|v| numeric_date(v, "iat")).transpose()?,
            scopes,
            extra,
        })
    }

    /// Whether the claim `name` was present.
    pub fn has(&self, name: &str) -> bool {
        match name {
            "sub" => self.sub.is_some(),
            "iss" => self.iss.is_some(),
            "aud" => !self.aud.is_empty(),
            "exp" => self.exp.is_some(),
            "nbf" => self.nbf.is_some(),
            "iat" => self.iat.is_some(),
            "scope" | "scp" => !self.scopes.is_empty(),
            other => self.extra.contains_key(other),
        }
    }

    /// Checks required claims, issuer, audience and times, in that order.
    pub(crate) fn check(&self, policy: &IssuerPolicy, now: UnixMillis) -> Result<(), JwtError> {
        if let Some(missing) = policy.required_claims().iter().find(|name| !self.has(name)) {
            return Err(JwtError::MissingClaim(missing.clone()));
        }
        if self.iss.as_deref() != Some(policy.issuer()) {
            return Err(JwtError::WrongIssuer);
        }
        let audience_ok = if policy.audiences().is_empty() {
            self.aud.is_empty()
        } else {
            self.aud.iter().any(|aud| policy.audiences().contains(aud))
        };
        if !audience_ok {
            return Err(JwtError::WrongAudience);
        }
        let leeway = policy.leeway_ms();
        if self.exp.is_some_and(|exp| now >= millis(exp).saturating_add(leeway)) {
            return Err(JwtError::Expired);
        }
        if self.nbf.is_some_and(|nbf| now.saturating_add(leeway) < millis(nbf)) {
            return Err(JwtError::NotYetValid);
        }
        if self.iat.is_some_and(|iat| now.saturating_add(leeway) < millis(iat)) {
            return Err(JwtError::IssuedInFuture);
        }
        Ok(())
    }

    /// `exp` in milliseconds, if present.
    pub fn exp_millis(&self) -> Option<UnixMillis> {
        self.exp.map(millis)
    }
}

fn millis(seconds: u64) -> UnixMillis {
    seconds.saturating_mul(1000)
}

fn string(value: Value, name: &'static str) -> Result<String, JwtError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(JwtError::Malformed(name)),
    }
}

fn strings(value: Value, name: &'static str) -> Result<Vec<String>, JwtError> {
    match value {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => items.into_iter().map(|item| string(item, name)).collect(),
        _ => Err(JwtError::Malformed(name)),
    }
}

/// RFC 7519 NumericDate: a non-negative JSON number of seconds; fractions are dropped.
fn numeric_date(value: Value, name: &'static str) -> Result<u64, JwtError> {
    let number = value.as_number().ok_or(JwtError::Malformed(name))?;
    if let Some(seconds) = number.as_u64() {
        return Ok(seconds);
    }
    match number.as_f64() {
        // Truncation of the fraction is intended; `as` saturates above u64::MAX.
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(seconds as u64),
        _ => Err(JwtError::Malformed(name)),
    }
}
