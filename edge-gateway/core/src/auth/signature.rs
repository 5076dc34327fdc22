//! The cryptography behind one narrow trait: [`SignatureVerifier`].
//!
//! This module decides whether `signature` is a valid signature of `signing_input` under one
//! [`Jwk`] for one [`Algorithm`]. It never chooses the key or the algorithm (that is
//! [`crate::auth::jwt`]'s job, against the policy) and never looks at claims. [`CoreVerifier`]
//! covers every [`Algorithm`] in pure Rust with the `rust-verifiers` feature, and HMAC only
//! without it; an adapter may supply its own implementation (for example Web Crypto on Workers,
//! where RSA is native and faster than Rust compiled to wasm, and the Worker is smaller without
//! the Rust verifiers).

use jwt_compact::alg::{Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key};
use jwt_compact::{Algorithm as JwtCompactAlgorithm, AlgorithmSignature};

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

/// The built-in verifier: HMAC through `jwt-compact`; with `rust-verifiers` also ES256/EdDSA
/// through `jwt-compact` and RSA through `rsa`. Without that feature a public-key algorithm is
/// [`JwtError::UnsupportedAlgorithm`] (a configuration error, never an accepted token).
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
            #[cfg(feature = "rust-verifiers")]
            (material, alg) if !alg.is_hmac() => rust::check(material, alg, signing_input, signature),
            #[cfg(not(feature = "rust-verifiers"))]
            (Material::P256 { .. } | Material::Ed25519 { .. } | Material::Rsa { .. }, alg)
                if !alg.is_hmac() =>
            {
                return Err(JwtError::UnsupportedAlgorithm(alg));
            }
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

/// The public-key verifiers in Rust.
#[cfg(feature = "rust-verifiers")]
mod rust {
    use jwt_compact::alg::{Ed25519, Es256};
    use rsa::RsaPublicKey;
    use rsa::signature::Verifier as _;
    use sha2::{Sha256, Sha384, Sha512};

    use super::check as check_with;
    use crate::auth::jwks::Material;
    use crate::auth::policy::Algorithm;

    /// Whether `signature` verifies under a public key; `false` when the key does not fit `alg`.
    pub(super) fn check(material: &Material, alg: Algorithm, input: &[u8], signature: &[u8]) -> bool {
        match (material, alg) {
            (Material::P256 { key, .. }, Algorithm::Es256) => check_with(&Es256, key, input, signature),
            (Material::Ed25519 { key, .. }, Algorithm::EdDsa) => check_with(&Ed25519, key, input, signature),
            (Material::Rsa { key, .. }, alg) if alg.is_rsa() => check_rsa(alg, key, input, signature),
            _ => false,
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
}
