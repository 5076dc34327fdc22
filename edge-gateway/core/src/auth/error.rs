//! Why a token was refused: [`JwtError`].
//!
//! This module decides what a refusal means (whose fault, whether fresh keys could help) and what
//! the client may be told. It never builds the HTTP response itself: the caller maps every
//! variant to `401` with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1).

use crate::auth::policy::Algorithm;
use crate::error::Side;

/// Why a bearer token was not accepted.
///
/// The variants are precise for logs and tests; the client only ever sees
/// [`JwtError::error_code`] and [`JwtError::error_description`], which do not say which check
/// failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// The token is longer than the policy's `max_token_bytes`; nothing was decoded.
    #[error("token of {len} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Length of the token, in bytes.
        len: usize,
        /// The policy's limit.
        limit: usize,
    },
    /// Not a compact JWS: wrong number of parts, bad base64url, bad JSON, wrong claim types.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is `none`, unknown, or not on the policy's allowlist.
    #[error("algorithm `{0}` is not allowed")]
    AlgorithmNotAllowed(String),
    /// The header's `crit` names an extension this verifier does not understand (RFC 7515 §4.1.11).
    #[error("unsupported critical header parameter `{0}`")]
    UnsupportedCritical(String),
    /// No key in the set has the header's `kid`: the issuer may have rotated keys, so the caller
    /// may refetch the JWKS (rate-limited) and try once more.
    #[error("no key with kid `{0}`")]
    UnknownKid(String),
    /// The key named by `kid` cannot be used with the header's `alg` (wrong `kty`, `crv` or `alg`,
    /// or an HMAC secret shorter than the hash).
    #[error("key `{kid}` cannot verify {alg}")]
    KeyMismatch {
        /// The key's id.
        kid: String,
        /// The algorithm the token asked for.
        alg: Algorithm,
    },
    /// The token has no `kid` and no key in the set fits its `alg`.
    #[error("no key in the set can verify {0}")]
    NoMatchingKey(Algorithm),
    /// The algorithm is allowed, but this verifier cannot check it (an adapter's verifier may).
    #[error("no verifier for {0}")]
    UnsupportedAlgorithm(Algorithm),
    /// The signature does not verify with any candidate key.
    #[error("invalid signature")]
    InvalidSignature,
    /// A claim the policy requires is absent.
    #[error("missing required claim `{0}`")]
    MissingClaim(String),
    /// `exp` is in the past, beyond the leeway.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future, beyond the leeway.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iss` differs from the policy's issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// No `aud` value is one of the policy's audiences.
    #[error("wrong audience")]
    WrongAudience,
}

impl JwtError {
    /// The RFC 6750 `error` code: always `invalid_token`.
    pub fn error_code(&self) -> &'static str {
        "invalid_token"
    }

    /// An RFC 6750 `error_description` that is safe to send: it never says which check failed.
    pub fn error_description(&self) -> &'static str {
        "The access token is missing, malformed, expired or otherwise invalid."
    }

    /// Who caused it: the client, except when the gateway lacks a verifier for an allowed
    /// algorithm (a configuration problem).
    pub fn side(&self) -> Side {
        match self {
            JwtError::UnsupportedAlgorithm(_) => Side::Internal,
            _ => Side::Client,
        }
    }

    /// Whether refetching the issuer's JWKS could change the outcome.
    pub fn wants_fresh_keys(&self) -> bool {
        matches!(self, JwtError::UnknownKid(_))
    }
}
