//! Authentication decisions: is this bearer token a JWT that one configured issuer signed, for us,
//! and valid right now?
//!
//! The submodules split the decision the way RFC 8725 orders it:
//!
//! - [`policy`]: what one issuer is allowed to send ([`policy::IssuerPolicy`]: issuer, audiences,
//!   an explicit algorithm allowlist that can never contain `none`, leeway, size limit).
//! - [`jwks`]: which keys the issuer published ([`jwks::Jwks`], parsed from RFC 7517 JSON; keys
//!   that cannot be used are skipped and listed, never fatal).
//! - [`jwt`]: the verification itself ([`jwt::verify`]): size first, then structure, header,
//!   key selection, signature, and finally the claims against a caller-supplied `now`.
//! - [`signature`]: the cryptography behind one narrow trait ([`signature::SignatureVerifier`]),
//!   so a platform adapter can bring its own (Web Crypto) for any algorithm.
//! - [`claims`]: the registered claims and their checks against the policy and `now`.
//! - [`cache`]: a bounded cache of already-verified tokens, keyed by a SHA-256 of the token.
//! - [`error`]: why a token was refused ([`error::JwtError`]) and what the client may be told.
//!
//! This module never performs I/O and never reads a clock: it does not fetch JWKS documents (and
//! never follows `jku`, `x5u` or an embedded `jwk` header), and time is always a parameter. The
//! caller fetches the key set, and refetches it (rate-limited) when [`error::JwtError::UnknownKid`]
//! says a key may have rotated.
//!
//! # Algorithms
//!
//! HS256/384/512 are always verified here, with `jwt-compact`. The public-key algorithms are
//! verified in Rust only with the `rust-verifiers` feature (on by default; the Spin adapter and
//! native tools use it): without it, they go through the adapter's
//! [`crate::ports::SignatureCheck`] (Web Crypto on Workers, which keeps `rsa`, `p256` and
//! `ed25519-dalek` out of the Worker), and [`CoreVerifier`] answers
//! [`JwtError::UnsupportedAlgorithm`] for them rather than ever accepting a token.
//!
//! With the feature, ES256 and EdDSA (Ed25519) are verified with `jwt-compact`. RS256/384/512 and
//! PS256/384/512 are verified with the `rsa` crate directly, because `jwt-compact`'s own `rsa`
//! feature turns on `rand_core/getrandom`, and getrandom 0.2 refuses to compile for
//! `wasm32-unknown-unknown` without its JS backend:
//!
//! ```text
//! error: the wasm*-unknown-unknown targets are not supported by default, you may need to enable
//!        the "js" feature. For more information see: https://docs.rs/getrandom/#webassembly-support
//!    --> getrandom-0.2.17/src/lib.rs:346:9
//! ```
//!
//! Verification needs no randomness, and `rsa` 0.9 with default features off builds for both wasm
//! targets. (RUSTSEC-2023-0071, the Marvin timing attack, concerns private-key operations only.)

pub mod apikey;
pub mod cache;
pub mod claims;
pub mod error;
pub mod identity;
pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod policy;
pub mod signature;

pub use cache::TokenCache;
pub use error::JwtError;
pub use jwks::{Jwk, Jwks, JwksError, KeyType, ParsedJwks, SkipReason, SkippedKey};
pub use jwt::{Claims, UnverifiedToken, VerifiedToken, peek_issuer, verify, verify_async, verify_with};
pub use policy::{Algorithm, IssuerPolicy, IssuerPolicySpec, PolicyError};
pub use signature::{CoreVerifier, SignatureVerifier};
