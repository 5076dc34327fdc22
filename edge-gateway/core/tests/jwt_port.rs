//! Public keys through the signature port, in both builds of the core: with `rust-verifiers`
//! (the default) and without it (the Workers build, `--no-default-features`), where the built-in
//! verifier checks HMAC only and refuses every public-key algorithm as unsupported, never as
//! accepted, while an adapter's `SignatureCheck` still receives the key as a JWK to import.
#![allow(missing_docs)]

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use std::cell::RefCell;

use base64ct::{Base64UrlUnpadded, Encoding};
use edge_gateway_core::auth::{Algorithm, IssuerPolicy, IssuerPolicySpec, Jwk, Jwks, JwtError, SkipReason};
use edge_gateway_core::auth::{verify, verify_async};
use edge_gateway_core::ports::SignatureCheck;
use serde_json::{Value, json};

/// 2023-11-14T22:13:20Z, in milliseconds.
const NOW: u64 = 1_700_000_000_000;
const ISS: &str = "https://issuer.example";
/// RFC 7515 Appendix A.3's P-256 public key.
const EC_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const EC_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
/// RFC 8037 Appendix A.2's Ed25519 public key.
const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// A 2048-bit odd modulus (not a real key: these rows never verify an RSA signature in Rust).
fn modulus() -> String {
    let mut n = vec![0xC5; 256];
    n[255] = 0x01;
    b64(&n)
}

fn key_set() -> Jwks {
    let doc = json!({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "ec", "x": EC_X, "y": EC_Y},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": ED_X},
        {"kty": "RSA", "kid": "rsa", "n": modulus(), "e": "AQAB"},
        {"kty": "oct", "kid": "hs", "k": b64(SECRET)},
    ]});
    let parsed = Jwks::parse(&serde_json::to_vec(&doc).unwrap()).unwrap();
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    parsed.jwks
}

fn policy() -> IssuerPolicy {
    IssuerPolicy::try_from(IssuerPolicySpec {
        issuer: ISS.to_owned(),
        audiences: vec![],
        algorithms: ["HS256", "RS256", "PS256", "ES256", "EdDSA"].map(str::to_owned).to_vec(),
        leeway_ms: 0,
        required_claims: vec![],
        max_token_bytes: None,
    })
    .unwrap()
}

/// A token for `alg` and `kid` with `signature` as its raw signature bytes.
fn token(alg: &str, kid: &str, signature: &[u8]) -> String {
    let header = b64(&serde_json::to_vec(&json!({"alg": alg, "kid": kid})).unwrap());
    let claims = b64(&serde_json::to_vec(&json!({"iss": ISS, "exp": NOW / 1000 + 60})).unwrap());
    format!("{header}.{claims}.{}", b64(signature))
}

fn hs256_token() -> String {
    use hmac_sha256::sign;
    let unsigned = token("HS256", "hs", b"");
    let input = unsigned.trim_end_matches('.');
    format!("{input}.{}", b64(&sign(SECRET, input.as_bytes())))
}

/// HMAC-SHA-256 (RFC 2104) over the core's own SHA-256, so the test signs without another crate.
mod hmac_sha256 {
    use sha2::{Digest, Sha256};

    pub(crate) fn sign(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
        let pad = |byte: u8| key.iter().map(|k| k ^ byte).chain([byte; 32]).collect::<Vec<u8>>();
        let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
        Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
    }
}

/// An adapter's verifier double: accepts exactly the signature `b"valid"`, and records the JWK
/// it was handed to import.
#[derive(Default)]
struct PlatformCheck {
    imported: RefCell<Vec<Value>>,
}

impl SignatureCheck for PlatformCheck {
    async fn verify(
        &self,
        alg: Algorithm,
        key: &Jwk,
        _input: &[u8],
        signature: &[u8],
    ) -> Result<(), JwtError> {
        let jwk = key.public_jwk().ok_or(JwtError::UnsupportedAlgorithm(alg))?;
        self.imported.borrow_mut().push(jwk);
        if signature == b"valid" { Ok(()) } else { Err(JwtError::InvalidSignature) }
    }
}

#[test]
fn public_keys_reach_the_adapter_as_the_jwk_the_set_published() {
    let jwks = key_set();
    let by_kid = |kid: &str| jwks.keys().iter().find(|key| key.kid() == Some(kid)).unwrap().public_jwk();
    assert_eq!(by_kid("ec"), Some(json!({"kty": "EC", "crv": "P-256", "x": EC_X, "y": EC_Y})));
    assert_eq!(by_kid("ed"), Some(json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X})));
    assert_eq!(by_kid("rsa"), Some(json!({"kty": "RSA", "n": modulus(), "e": "AQAB"})));
    assert_eq!(by_kid("hs"), None, "an HMAC secret never leaves the core");
}

#[test]
fn the_adapter_verifies_every_public_key_algorithm_through_the_port() {
    let (jwks, policy) = (key_set(), policy());
    for (alg, kid) in [("ES256", "ec"), ("EdDSA", "ed"), ("RS256", "rsa"), ("PS256", "rsa")] {
        let check = PlatformCheck::default();
        let accepted =
            pollster::block_on(verify_async(&check, &token(alg, kid, b"valid"), &jwks, &policy, NOW));
        assert_eq!(accepted.map(|verified| verified.alg.name()), Ok(alg), "{alg}");
        let refused =
            pollster::block_on(verify_async(&check, &token(alg, kid, b"forged"), &jwks, &policy, NOW));
        assert_eq!(refused, Err(JwtError::InvalidSignature), "{alg}");
        assert_eq!(check.imported.borrow().len(), 2, "{alg}: the key went to the adapter");
    }
}

#[test]
fn hmac_is_verified_in_the_core_in_both_builds() {
    let (jwks, policy) = (key_set(), policy());
    let token = hs256_token();
    assert_eq!(verify(&token, &jwks, &policy, NOW).map(|verified| verified.alg), Ok(Algorithm::Hs256));
    let input = token.rsplit_once('.').unwrap().0;
    let forged = format!("{input}.{}", b64(&hmac_sha256::sign(&[7; 32], input.as_bytes())));
    assert_eq!(verify(&forged, &jwks, &policy, NOW).map(|_| ()), Err(JwtError::InvalidSignature));
}

/// The RSA bounds are the core's, not only the `rsa` crate's: both builds keep the same keys.
#[test]
fn rsa_keys_outside_the_bounds_are_skipped_in_both_builds() {
    let even_n = b64(&[0xC4; 256]);
    let rows = [
        ("even modulus", even_n.as_str(), "AQAB", SkipReason::BadKeyMaterial("n")),
        ("exponent 1", &modulus(), "AQ", SkipReason::BadKeyMaterial("e")),
        ("even exponent", &modulus(), "AQAA", SkipReason::BadKeyMaterial("e")),
        ("exponent 2^33 + 1", &modulus(), "AgAAAAE", SkipReason::BadKeyMaterial("e")),
        ("exponent of nine bytes", &modulus(), "AQAAAAAAAAAB", SkipReason::BadKeyMaterial("e")),
    ];
    for (name, n, e, expected) in rows {
        let doc = json!({"keys": [{"kty": "RSA", "n": n, "e": e}]});
        let parsed = Jwks::parse(&serde_json::to_vec(&doc).unwrap()).unwrap();
        let reasons: Vec<_> = parsed.skipped.into_iter().map(|skipped| skipped.reason).collect();
        assert_eq!(reasons, [expected], "{name}");
    }
    let largest =
        json!({"keys": [{"kty": "RSA", "n": modulus(), "e": b64(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF])}]});
    let parsed = Jwks::parse(&serde_json::to_vec(&largest).unwrap()).unwrap();
    assert_eq!(parsed.jwks.keys().len(), 1, "2^33 - 1 is the largest exponent kept");
}

/// Without `rust-verifiers` the built-in verifier has no public-key code: a token for such a key
/// is refused as a configuration problem (`UnsupportedAlgorithm`, internal), never accepted.
#[cfg(not(feature = "rust-verifiers"))]
#[test]
fn without_rust_verifiers_public_key_tokens_are_unsupported_not_accepted() {
    use edge_gateway_core::error::Side;
    let (jwks, policy) = (key_set(), policy());
    let rows = [
        ("ES256", "ec", Algorithm::Es256),
        ("EdDSA", "ed", Algorithm::EdDsa),
        ("RS256", "rsa", Algorithm::Rs256),
        ("PS256", "rsa", Algorithm::Ps256),
    ];
    for (name, kid, alg) in rows {
        for signature in [&b"valid"[..], &[0u8; 64][..], &[0u8; 256][..]] {
            let outcome = verify(&token(name, kid, signature), &jwks, &policy, NOW);
            assert_eq!(outcome, Err(JwtError::UnsupportedAlgorithm(alg)), "{name}");
            assert_eq!(outcome.unwrap_err().side(), Side::Internal, "{name}");
        }
    }
}

/// Without `rust-verifiers` a P-256 point is not checked against the curve at parse time: the
/// key is kept, and the adapter's import (Web Crypto) is what refuses it.
#[cfg(not(feature = "rust-verifiers"))]
#[test]
fn without_rust_verifiers_curve_points_are_left_to_the_adapter() {
    let zeros = b64(&[0; 32]);
    let doc = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": zeros, "y": zeros}]});
    assert_eq!(Jwks::parse(&serde_json::to_vec(&doc).unwrap()).unwrap().jwks.keys().len(), 1);
}

/// With `rust-verifiers` the same point is refused when the set is parsed.
#[cfg(feature = "rust-verifiers")]
#[test]
fn with_rust_verifiers_curve_points_are_checked_at_parse_time() {
    let zeros = b64(&[0; 32]);
    let doc = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": zeros, "y": zeros}]});
    let parsed = Jwks::parse(&serde_json::to_vec(&doc).unwrap()).unwrap();
    assert_eq!(parsed.skipped[0].reason, SkipReason::BadKeyMaterial("x"));
}
