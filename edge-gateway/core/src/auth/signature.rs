//! The cryptography behind one narrow trait: [`SignatureVerifier`].
//!
//! This module decides whether `signature` is a valid signature of `signing_input` under one
//! [`Jwk`] for one [`Algorithm`]. It never chooses the key or the algorithm (that is
//! [`crate::auth::jwt`]'s job, against the policy) and never looks at claims. [`CoreVerifier`]
//! covers every [`Algorithm`] in pure Rust; an adapter may supply its own implementation (for
//! example Web Crypto on Workers, where RSA is native and faster than Rust compiled to wasm).

use jwt_compact::alg::{Ed25519, Es256, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key};
use jwt_compact::{Algorithm as JwtCompactAlgorithm, AlgorithmSignature};
use rsa::RsaPublicKey;
use rsa::signature::Verifier as _;
use sha2::{Sha256, Sha384, Sha512};

use crate::auth::error::JwtError;
use crate::auth::jwks::{Jwk, Material};
use crate::auth::policy::Algorithm;

/// Checks one signature with one key. The caller has already checked that `key.fits(alg)`.
pub trait SignatureVerifier {
    /// `Ok(())` when `signature` signs `signing_input` (the ASCII `header.payload`) under `key`;
    /// [`JwtError::InvalidSignature`] when it does not; [`JwtError::UnsupportedAlgorithm`] when
    /// this verifier cannot check `alg`.
    fn verify(
        &self,
        alg: Algorithm,
        key: &Jwk,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JwtError>;
}

/// The built-in verifier: HMAC and ES256/EdDSA through `jwt-compact`, RSA through `rsa`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoreVerifier;

impl SignatureVerifier for CoreVerifier {
    fn verify(
        &self,
        alg: Algorithm,
        key: &Jwk,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JwtError> {
        let valid = match (&key.material, alg) {
            (Material::Secret(k), Algorithm::Hs256) => {
                check(&Hs256, &Hs256Key::new(k), signing_input, signature)
            }
            (Material::Secret(k), Algorithm::Hs384) => {
                check(&Hs384, &Hs384Key::new(k), signing_input, signature)
            }
            (Material::Secret(k), Algorithm::Hs512) => {
                check(&Hs512, &Hs512Key::new(k), signing_input, signature)
            }
            (Material::P256(k), Algorithm::Es256) => check(&Es256, k, signing_input, signature),
            (Material::Ed25519(k), Algorithm::EdDsa) => check(&Ed25519, k, signing_input, signature),
            (Material::Rsa { key, .. }, alg) if alg.is_rsa() => check_rsa(alg, key, signing_input, signature),
            // `fits` was checked by the caller; a mismatch here is a bug, refused all the same.
            _ => false,
        };
        if valid { Ok(()) } else { Err(JwtError::InvalidSignature) }
    }
}

fn check<A: JwtCompactAlgorithm>(alg: &A, key: &A::VerifyingKey, input: &[u8], signature: &[u8]) -> bool {
    if A::Signature::LENGTH.is_some_and(|len| len.get() != signature.len()) {
        return false;
    }
    match A::Signature::try_from_slice(signature) {
        Ok(signature) => alg.verify_signature(&signature, key, input),
        Err(_) => false,
    }
}

fn check_rsa(alg: Algorithm, key: &RsaPublicKey, input: &[u8], signature: &[u8]) -> bool {
    if signature.len() != rsa::traits::PublicKeyParts::size(key) {
        return false;
    }
    match alg {
        Algorithm::Rs256 => pkcs1::<Sha256>(key, input, signature),
        Algorithm::Rs384 => pkcs1::<Sha384>(key, input, signature),
        Algorithm::Rs512 => pkcs1::<Sha512>(key, input, signature),
        Algorithm::Ps256 => pss::<Sha256>(key, input, signature),
        Algorithm::Ps384 => pss::<Sha384>(key, input, signature),
        Algorithm::Ps512 => pss::<Sha512>(key, input, signature),
        _ => false,
    }
}

fn pkcs1<D>(key: &RsaPublicKey, input: &[u8], signature: &[u8]) -> bool
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature) else { return false };
    rsa::pkcs1v15::VerifyingKey::<D>::new(key.clone()).verify(input, &signature).is_ok()
}

fn pss<D>(key: &RsaPublicKey, input: &[u8], signature: &[u8]) -> bool
where
    D: sha2::Digest + sha2::digest::FixedOutputReset,
{
    let Ok(signature) = rsa::pss::Signature::try_from(signature) else { return false };
    rsa::pss::VerifyingKey::<D>::new(key.clone()).verify(input, &signature).is_ok()
}
