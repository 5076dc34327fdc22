//! The authentication stage: which credential the request presents, whether it is valid, and
//! whether the caller may make this request.
//!
//! A route accepts JWTs from named issuers, API keys, or either. A presented token is always
//! checked (a bad token is never rescued by an API key); without a token, the API key is checked;
//! with neither, the answer is 401 with a challenge. Then every authorization rule that applies
//! to the method must hold (403). Refusals never say which check failed beyond RFC 6750; the
//! precise reason goes to the log, which never receives a token or a key.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use http::request::Parts;

use super::keyring::Keyring;
use crate::auth::apikey::{self, ApiKeyError, ApiKeyRecord};
use crate::auth::identity::{self, Denied, Identity, Presented};
use crate::auth::{self, JwtError};
use crate::config::Config;
use crate::config::auth::{ApiKeySettings, Issuer, RouteAuth};
use crate::error::{GatewayError, Unauthorized};
use crate::ports::{Clock, KeyValue, Ports, UnixMillis};

/// API-key lookups remembered per instance.
const API_KEY_CACHE_CAPACITY: usize = 1024;
/// Longest an unknown key is remembered as unknown (so a new key works soon after it is added).
const NEGATIVE_TTL_MS: u64 = 5_000;

/// The per-instance state of the stage: key sets, verified tokens, API-key lookups.
#[derive(Debug, Default)]
pub struct Authenticator {
    keyring: Keyring,
    api_keys: RefCell<HashMap<String, (Option<ApiKeyRecord>, UnixMillis)>>,
}

impl Authenticator {
    /// Authenticates and authorizes the request for a route with `policy`.
    pub async fn authenticate<P: Ports>(
        &self,
        ports: &P,
        config: &Config,
        policy: Option<&RouteAuth>,
        head: &Parts,
    ) -> Result<Identity, GatewayError> {
        let Some(policy) = policy else { return Ok(Identity::Anonymous) };
        let presented = if policy.issuers.is_empty() {
            Presented::Nothing
        } else {
            identity::token(&head.headers, &policy.token)
        };
        let identity = match presented {
            Presented::Token(token) => self.verify_token(ports, config, policy, token).await?,
            Presented::Malformed => return Err(invalid_token("malformed credentials")),
            Presented::Nothing => {
                let key = if policy.api_key {
                    identity::api_key(head, &config.auth.api_keys)
                } else {
                    Presented::Nothing
                };
                match key {
                    Presented::Token(key) => self.check_api_key(ports, &config.auth.api_keys, key).await?,
                    Presented::Malformed => {
                        return Err(GatewayError::Unauthorized(Unauthorized::InvalidApiKey(
                            "more than one API key, or an empty one".into(),
                        )));
                    }
                    Presented::Nothing => {
                        return Err(GatewayError::Unauthorized(Unauthorized::Missing {
                            bearer: !policy.issuers.is_empty(),
                        }));
                    }
                }
            }
        };
        identity::authorize(&policy.rules, &head.method, &identity).map_err(|denied| match denied {
            Denied::Scope(scope) => GatewayError::Forbidden { scope: Some(scope) },
            Denied::Claim => GatewayError::Forbidden { scope: None },
        })?;
        Ok(identity)
    }

    async fn verify_token<P: Ports>(
        &self,
        ports: &P,
        config: &Config,
        policy: &RouteAuth,
        token: &str,
    ) -> Result<Identity, GatewayError> {
        let issuer =
            pick_issuer(config, policy, token).ok_or_else(|| invalid_token("issuer not accepted"))?;
        let now = ports.clock().now();
        if issuer.cache_verified_tokens
            && let Some(verified) = self.keyring.cached_token(issuer, token, now)
        {
            return Ok(jwt_identity(issuer, verified));
        }
        let jwks = self.keyring.keys(ports, issuer, false).await?;
        let mut outcome = auth::verify_async(ports.crypto(), token, &jwks, &issuer.policy, now).await;
        if outcome.as_ref().err().is_some_and(JwtError::wants_fresh_keys) {
            let fresh = self.keyring.keys(ports, issuer, true).await?;
            if !Rc::ptr_eq(&fresh, &jwks) {
                outcome =
                    auth::verify_async(ports.crypto(), token, &fresh, &issuer.policy, ports.clock().now())
                        .await;
            }
        }
        match outcome {
            Ok(verified) => {
                if issuer.cache_verified_tokens {
                    self.keyring.remember_token(issuer, token, verified.clone(), now);
                }
                Ok(jwt_identity(issuer, verified))
            }
            Err(error) if error.side() == crate::error::Side::Internal => {
                Err(GatewayError::AuthUnavailable(format!("issuer {}: {error}", issuer.name)))
            }
            Err(error) => Err(invalid_token(&format!("issuer {}: {error}", issuer.name))),
        }
    }

    async fn check_api_key<P: Ports>(
        &self,
        ports: &P,
        settings: &ApiKeySettings,
        key: &str,
    ) -> Result<Identity, GatewayError> {
        let hash = apikey::hash_key(key).map_err(invalid_key)?;
        let now = ports.clock().now();
        let record = match self.cached_record(&hash, settings, now) {
            Some(record) => record,
            None => {
                let record = match ports.kv().get(&apikey::record_key(&hash)).await {
                    Ok(Some(bytes)) => Some(apikey::parse_record(&bytes).map_err(invalid_key)?),
                    Ok(None) => None,
                    Err(e) => return Err(GatewayError::AuthUnavailable(format!("API keys: {e}"))),
                };
                self.remember_record(&hash, record.clone(), now);
                record
            }
        };
        let record = record.ok_or_else(|| invalid_key(ApiKeyError::Unknown))?;
        apikey::check(&record, &hash, now).map_err(invalid_key)?;
        Ok(Identity::ApiKey { id: record.id, tenant: record.tenant, scopes: record.scopes })
    }

    /// `Some(lookup)` when a lookup of `hash` is still within its TTL.
    fn cached_record(
        &self,
        hash: &str,
        settings: &ApiKeySettings,
        now: UnixMillis,
    ) -> Option<Option<ApiKeyRecord>> {
        let cache = self.api_keys.borrow();
        let (record, at) = cache.get(hash)?;
        let ttl = settings.cache_ttl.as_millis() as u64;
        let ttl = if record.is_some() { ttl } else { ttl.min(NEGATIVE_TTL_MS) };
        (now.saturating_sub(*at) < ttl).then(|| record.clone())
    }

    fn remember_record(&self, hash: &str, record: Option<ApiKeyRecord>, now: UnixMillis) {
        let mut cache = self.api_keys.borrow_mut();
        if cache.len() >= API_KEY_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(hash.to_owned(), (record, now));
    }
}

/// The route's issuer for `token`: the only one, or the one whose `iss` the token names.
fn pick_issuer<'c>(config: &'c Config, policy: &RouteAuth, token: &str) -> Option<&'c Issuer> {
    let mut issuers = policy.issuers.iter().map(|&i| &config.auth.issuers[i]);
    if policy.issuers.len() == 1 {
        return issuers.next();
    }
    let limit = issuers.clone().map(|i| i.policy.max_token_bytes()).max()?;
    let iss = auth::peek_issuer(token, limit)?;
    issuers.find(|issuer| issuer.policy.issuer() == iss)
}

fn jwt_identity(issuer: &Issuer, verified: auth::VerifiedToken) -> Identity {
    let tenant = identity::tenant_of(&verified.claims, issuer.tenant_claim.as_deref());
    Identity::Jwt { issuer: issuer.name.clone(), tenant, claims: Rc::new(verified.claims) }
}

fn invalid_token(reason: &str) -> GatewayError {
    GatewayError::Unauthorized(Unauthorized::InvalidToken(reason.to_owned()))
}

fn invalid_key(error: ApiKeyError) -> GatewayError {
    GatewayError::Unauthorized(Unauthorized::InvalidApiKey(error.to_string()))
}
