//! The verification of one compact JWS (RFC 7515/7519), in RFC 8725 order: [`verify`].
//!
//! This module decides, for one token, one key set and one policy: size (before any decoding),
//! structure, header (`alg` on the allowlist, no unknown `crit`), key selection (`kid`, then
//! `kty`/`crv`/`alg` compatibility), signature, then claims against `now`. It never fetches keys:
//! `jku`, `x5u`, `x5c` and an embedded `jwk` are ignored, so they cannot change the key used.
//! A header with a duplicated member is read with the last value wins (RFC 7515 §4 allows this
//! or rejection), so the `alg` checked is the `alg` used.
//!
//! [`verify`] uses the built-in [`CoreVerifier`]. An adapter whose verifier is asynchronous (Web
//! Crypto) drives the same steps itself: [`UnverifiedToken::parse`], [`UnverifiedToken::candidates`],
//! its own signature check over [`UnverifiedToken::signing_input`], then
//! [`UnverifiedToken::accept`].

use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Map, Value};

use crate::auth::claims::Claims as ParsedClaims;
use crate::auth::error::JwtError;
use crate::auth::jwks::{Jwk, Jwks};
use crate::auth::policy::{Algorithm, IssuerPolicy};
use crate::auth::signature::{CoreVerifier, SignatureVerifier};
use std::future::Future as _;

use crate::ports::{SignatureCheck, UnixMillis};

pub use crate::auth::claims::Claims;

/// `crit` extensions this verifier understands: none (RFC 7515 §4.1.11).
const UNDERSTOOD_CRITICAL: [&str; 0] = [];

/// [`verify`] with an asynchronous signature check (a platform's native crypto), same steps.
pub async fn verify_async(
    check: &impl SignatureCheck,
    token: &str,
    jwks: &Jwks,
    policy: &IssuerPolicy,
    now: UnixMillis,
) -> Result<VerifiedToken, JwtError> {
    let unverified = UnverifiedToken::parse(token, policy)?;
    let mut outcome = Err(JwtError::InvalidSignature);
    for key in unverified.candidates(jwks)? {
        match check.verify(unverified.alg, key, unverified.signing_input(), &unverified.signature).await {
            Ok(()) => return unverified.accept(key, policy, now),
            Err(JwtError::InvalidSignature) => {}
            Err(other) => outcome = Err(other),
        }
    }
    outcome
}

/// A token whose signature and claims were accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// Its claims.
    pub claims: Claims,
    /// The `kid` of the key that verified it, if that key had one.
    pub kid: Option<String>,
    /// The algorithm it was signed with.
    pub alg: Algorithm,
}

/// Verifies `token` against `jwks` and `policy` at time `now`, with the built-in verifier.
///
/// Every check of RFC 8725 §3 that applies to JWS is made; see the module docs for the order.
pub fn verify(
    token: &str,
    jwks: &Jwks,
    policy: &IssuerPolicy,
    now: UnixMillis,
) -> Result<VerifiedToken, JwtError> {
    verify_with(&CoreVerifier, token, jwks, policy, now)
}

/// [`verify`] with a caller-supplied signature verifier.
pub fn verify_with(
    verifier: &impl SignatureVerifier,
    token: &str,
    jwks: &Jwks,
    policy: &IssuerPolicy,
    now: UnixMillis,
) -> Result<VerifiedToken, JwtError> {
    // The same steps as `verify_async`; a synchronous verifier never makes it wait, so one poll
    // finishes it.
    let mut steps = std::pin::pin!(verify_async(verifier, token, jwks, policy, now));
    match steps.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(outcome) => outcome,
        std::task::Poll::Pending => unreachable!("a synchronous verifier never waits"),
    }
}

/// A token that passed the size, structure and header checks, but whose signature is unchecked.
#[derive(Debug)]
pub struct UnverifiedToken<'t> {
    alg: Algorithm,
    kid: Option<String>,
    signing_input: &'t str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl<'t> UnverifiedToken<'t> {
    /// Checks size (before decoding anything), structure and header against `policy`.
    pub fn parse(token: &'t str, policy: &IssuerPolicy) -> Result<Self, JwtError> {
        if token.len() > policy.max_token_bytes() {
            return Err(JwtError::TooLarge { len: token.len(), limit: policy.max_token_bytes() });
        }
        let (signing_input, signature) =
            token.rsplit_once('.').ok_or(JwtError::Malformed("not three parts"))?;
        let (header, payload) =
            signing_input.split_once('.').ok_or(JwtError::Malformed("not three parts"))?;
        if payload.contains('.') {
            return Err(JwtError::Malformed("not three parts"));
        }
        let header: Map<String, Value> = serde_json::from_slice(&decode(header)?)
            .map_err(|_| JwtError::Malformed("header is not a JSON object"))?;
        let alg = header_alg(&header, policy)?;
        check_critical(&header)?;
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(JwtError::Malformed("kid")),
        };
        Ok(UnverifiedToken {
            alg,
            kid,
            signing_input,
            payload: decode(payload)?,
            signature: decode(signature)?,
        })
    }

    /// The header's algorithm (already on the allowlist).
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The header's `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The bytes the signature covers: `BASE64URL(header) '.' BASE64URL(payload)`.
    pub fn signing_input(&self) -> &'t [u8] {
        self.signing_input.as_bytes()
    }

    /// The decoded signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The keys worth trying, in set order: those with the header's `kid` (or every key when
    /// there is none) that fit the header's `alg`.
    pub fn candidates<'k>(&self, jwks: &'k Jwks) -> Result<Vec<&'k Jwk>, JwtError> {
        let Some(kid) = self.kid.as_deref() else {
            let fitting: Vec<&Jwk> = jwks.keys().iter().filter(|key| key.fits(self.alg)).collect();
            return if fitting.is_empty() { Err(JwtError::NoMatchingKey(self.alg)) } else { Ok(fitting) };
        };
        let named: Vec<&Jwk> = jwks.keys().iter().filter(|key| key.kid() == Some(kid)).collect();
        if named.is_empty() {
            return Err(JwtError::UnknownKid(kid.to_owned()));
        }
        let fitting: Vec<&Jwk> = named.into_iter().filter(|key| key.fits(self.alg)).collect();
        if fitting.is_empty() {
            return Err(JwtError::KeyMismatch { kid: kid.to_owned(), alg: self.alg });
        }
        Ok(fitting)
    }

    /// Checks the claims of a token **whose signature the caller has verified with `key`**.
    pub fn accept(
        self,
        key: &Jwk,
        policy: &IssuerPolicy,
        now: UnixMillis,
    ) -> Result<VerifiedToken, JwtError> {
        let claims = ParsedClaims::from_payload(&self.payload)?;
        claims.check(policy, now)?;
        Ok(VerifiedToken { claims, kid: key.kid().map(str::to_owned), alg: self.alg })
    }
}

fn decode(part: &str) -> Result<Vec<u8>, JwtError> {
    Base64UrlUnpadded::decode_vec(part).map_err(|_| JwtError::Malformed("invalid base64url"))
}

fn header_alg(header: &Map<String, Value>, policy: &IssuerPolicy) -> Result<Algorithm, JwtError> {
    let name = match header.get("alg") {
        Some(Value::String(name)) => name,
        _ => return Err(JwtError::Malformed("alg")),
    };
    match Algorithm::from_name(name) {
        Some(alg) if policy.allows(alg) => Ok(alg),
        _ => Err(JwtError::AlgorithmNotAllowed(name.clone())),
    }
}

fn check_critical(header: &Map<String, Value>) -> Result<(), JwtError> {
    let Some(crit) = header.get("crit") else { return Ok(()) };
    let names = crit.as_array().filter(|names| !names.is_empty()).ok_or(JwtError::Malformed("crit"))?;
    for name in names {
        let name = name.as_str().ok_or(JwtError::Malformed("crit"))?;
        if !UNDERSTOOD_CRITICAL.contains(&name) {
            return Err(JwtError::UnsupportedCritical(name.to_owned()));
        }
    }
    Ok(())
}

/// The `iss` of a token, read **without verifying anything**, to pick which issuer's policy
/// verifies it. `None` for anything longer than `max_bytes` or not shaped like a JWS.
pub fn peek_issuer(token: &str, max_bytes: usize) -> Option<String> {
    if token.len() > max_bytes {
        return None;
    }
    let mut parts = token.split('.');
    let (_, payload) = (parts.next()?, parts.next()?);
    let payload: Map<String, Value> = serde_json::from_slice(&decode(payload).ok()?).ok()?;
    payload.get("iss")?.as_str().map(str::to_owned)
}
