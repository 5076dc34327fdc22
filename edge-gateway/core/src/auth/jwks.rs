//! Which keys an issuer published: [`Jwks`], parsed from an RFC 7517 JSON Web Key Set.
//!
//! This module decides which keys are usable for signature verification and turns them into
//! ready-to-use public keys once, at parse time. Keys it cannot use (unknown `kty` or `crv`,
//! `use` other than `sig`, bad encodings, weak RSA moduli) are skipped and listed in
//! [`ParsedJwks::skipped`]; only a document that is not a key set at all is an error. It never
//! fetches anything and never panics on input.
//!
//! With the `rust-verifiers` feature a public key is also parsed into the Rust verifier's type
//! here (so a P-256 point off the curve or an RSA key `rsa` refuses is skipped). Without it the
//! checked raw members are kept for the adapter's verifier ([`Jwk::public_jwk`]), which validates
//! the key when it imports it.

use base64ct::{Base64UrlUnpadded, Encoding};
#[cfg(feature = "rust-verifiers")]
use jwt_compact::alg::{Ed25519, Es256};
use serde_json::{Map, Value};

use crate::auth::policy::Algorithm;

/// The most keys kept from one set; later ones are skipped as [`SkipReason::TooManyKeys`].
pub const MAX_KEYS: usize = 32;
/// The shortest RSA modulus accepted, in bits (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;
/// The longest RSA modulus accepted, in bits.
pub const MAX_RSA_BITS: usize = 4096;
/// The largest RSA public exponent accepted (the `rsa` crate's bound, 2^33 - 1).
pub const MAX_RSA_EXPONENT: u64 = (1 << 33) - 1;

/// The family of a key (`kty`, with `crv` for curves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyType {
    /// `kty: oct`, an HMAC secret.
    Oct,
    /// `kty: EC`, `crv: P-256`.
    P256,
    /// `kty: OKP`, `crv: Ed25519`.
    Ed25519,
    /// `kty: RSA`.
    Rsa,
}

impl KeyType {
    /// Whether a key of this type may verify `alg` (no HMAC with public-key bytes, RFC 8725 §3.1).
    pub fn fits(self, alg: Algorithm) -> bool {
        match self {
            KeyType::Oct => alg.is_hmac(),
            KeyType::P256 => alg == Algorithm::Es256,
            KeyType::Ed25519 => alg == Algorithm::EdDsa,
            KeyType::Rsa => alg.is_rsa(),
        }
    }
}

/// A key's checked members, and with `rust-verifiers` the Rust verifier's form of them.
pub(crate) enum Material {
    Secret(Vec<u8>),
    P256 {
        x: Vec<u8>,
        y: Vec<u8>,
        #[cfg(feature = "rust-verifiers")]
        key: <Es256 as jwt_compact::Algorithm>::VerifyingKey,
    },
    Ed25519 {
        x: Vec<u8>,
        #[cfg(feature = "rust-verifiers")]
        key: <Ed25519 as jwt_compact::Algorithm>::VerifyingKey,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        #[cfg(feature = "rust-verifiers")]
        key: rsa::RsaPublicKey,
    },
}

/// One usable verification key.
pub struct Jwk {
    kid: Option<String>,
    alg: Option<Algorithm>,
    pub(crate) material: Material,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material: HMAC secrets are secrets.
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("kty", &self.key_type())
            .finish()
    }
}

impl Jwk {
    /// The key id, if the set gave one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm the set pinned this key to, if any.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// The key's family.
    pub fn key_type(&self) -> KeyType {
        match self.material {
            Material::Secret(_) => KeyType::Oct,
            Material::P256 { .. } => KeyType::P256,
            Material::Ed25519 { .. } => KeyType::Ed25519,
            Material::Rsa { .. } => KeyType::Rsa,
        }
    }

    /// Whether this key may verify a token signed with `alg`: the family fits, a pinned `alg`
    /// matches, and an HMAC secret is at least as long as the hash.
    pub fn fits(&self, alg: Algorithm) -> bool {
        let secret_ok = match &self.material {
            Material::Secret(secret) => secret.len() >= alg.min_secret_len(),
            _ => true,
        };
        self.key_type().fits(alg) && self.alg.is_none_or(|pinned| pinned == alg) && secret_ok
    }

    /// The public key as an RFC 7517 JWK object (`kty`, and `n`/`e`, `crv`/`x`/`y` or `crv`/`x`),
    /// for a platform verifier to import. `None` for HMAC secrets, which never leave the core.
    pub fn public_jwk(&self) -> Option<Value> {
        match &self.material {
            Material::Secret(_) => None,
            Material::Rsa { n, e, .. } => Some(serde_json::json!({
                "kty": "RSA",
                "n": Base64UrlUnpadded::encode_string(n),
                "e": Base64UrlUnpadded::encode_string(e),
            })),
            Material::P256 { x, y, .. } => Some(serde_json::json!({
                "kty": "EC",
                "crv": "P-256",
                "x": Base64UrlUnpadded::encode_string(x),
                "y": Base64UrlUnpadded::encode_string(y),
            })),
            Material::Ed25519 { x, .. } => Some(serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": Base64UrlUnpadded::encode_string(x),
            })),
        }
    }

    /// The RSA modulus and exponent (big-endian bytes), for adapters with their own RSA verifier.
    pub fn rsa_components(&self) -> Option<(&[u8], &[u8])> {
        match &self.material {
            Material::Rsa { n, e, .. } => Some((n, e)),
            _ => None,
        }
    }
}

/// Why a key in the set was not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The entry is not a JSON object, or `kty` is missing.
    NotAKey,
    /// `kty` is not `oct`, `EC`, `OKP` or `RSA`.
    UnsupportedKeyType(String),
    /// `crv` is not `P-256` (EC) or `Ed25519` (OKP).
    UnsupportedCurve(String),
    /// `alg` is not a known signature algorithm, or does not fit the key's type.
    UnsupportedAlgorithm(String),
    /// `use` is not `sig`, or `key_ops` does not include `verify`.
    NotForVerification,
    /// A member is missing, not base64url, or not a valid key (the member is named).
    BadKeyMaterial(&'static str),
    /// The set holds more than [`MAX_KEYS`] usable keys.
    TooManyKeys,
}

/// A key that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    /// Its `kid`, if it had a string one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: SkipReason,
}

/// The document is not a JWK Set at all (not JSON, or no `keys` array).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a JWK set: {0}")]
pub struct JwksError(pub &'static str);

/// A parsed key set with the keys that were skipped.
#[derive(Debug)]
pub struct ParsedJwks {
    /// The usable keys.
    pub jwks: Jwks,
    /// The keys left out.
    pub skipped: Vec<SkippedKey>,
}

/// The usable verification keys of one issuer.
#[derive(Debug, Default)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

impl Jwks {
    /// Parses an RFC 7517 JWK Set document.
    pub fn parse(json: &[u8]) -> Result<ParsedJwks, JwksError> {
        let doc: Value = serde_json::from_slice(json).map_err(|_| JwksError("invalid JSON"))?;
        let entries = doc.get("keys").and_then(Value::as_array).ok_or(JwksError("no `keys` array"))?;
        let (mut keys, mut skipped) = (Vec::new(), Vec::new());
        for (index, entry) in entries.iter().enumerate() {
            let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
            let parsed = match entry.as_object() {
                Some(_) if keys.len() >= MAX_KEYS => Err(SkipReason::TooManyKeys),
                Some(object) => parse_key(object),
                None => Err(SkipReason::NotAKey),
            };
            match parsed {
                Ok(key) => keys.push(key),
                Err(reason) => skipped.push(SkippedKey { index, kid, reason }),
            }
        }
        Ok(ParsedJwks { jwks: Jwks { keys }, skipped })
    }

    /// All usable keys, in document order.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn parse_key(object: &Map<String, Value>) -> Result<Jwk, SkipReason> {
    let kid = match object.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(SkipReason::BadKeyMaterial("kid")),
    };
    check_usage(object)?;
    let material = match object.get("kty").and_then(Value::as_str) {
        Some("oct") => Material::Secret(member(object, "k")?),
        Some("EC") => parse_ec(object)?,
        Some("OKP") => parse_okp(object)?,
        Some("RSA") => parse_rsa(object)?,
        Some(other) => return Err(SkipReason::UnsupportedKeyType(other.to_owned())),
        None => return Err(SkipReason::NotAKey),
    };
    let alg = match object.get("alg") {
        None => None,
        Some(value) => {
            let name = value.as_str().unwrap_or_default();
            let alg = Algorithm::from_name(name)
                .ok_or_else(|| SkipReason::UnsupportedAlgorithm(name.to_owned()))?;
            Some(alg)
        }
    };
    let key = Jwk { kid, alg, material };
    match key.alg {
        Some(alg) if !key.key_type().fits(alg) => {
            Err(SkipReason::UnsupportedAlgorithm(alg.name().to_owned()))
        }
        _ => Ok(key),
    }
}

fn check_usage(object: &Map<String, Value>) -> Result<(), SkipReason> {
    if object.get("use").is_some_and(|usage| usage != "sig") {
        return Err(SkipReason::NotForVerification);
    }
    match object.get("key_ops") {
        None => Ok(()),
        Some(Value::Array(ops)) if ops.iter().any(|op| op == "verify") => Ok(()),
        Some(_) => Err(SkipReason::NotForVerification),
    }
}

fn member(object: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, SkipReason> {
    let text = object.get(name).and_then(Value::as_str).ok_or(SkipReason::BadKeyMaterial(name))?;
    match Base64UrlUnpadded::decode_vec(text) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes),
        _ => Err(SkipReason::BadKeyMaterial(name)),
    }
}

fn curve(object: &Map<String, Value>, expected: &str) -> Result<(), SkipReason> {
    match object.get("crv").and_then(Value::as_str) {
        Some(crv) if crv == expected => Ok(()),
        Some(crv) => Err(SkipReason::UnsupportedCurve(crv.to_owned())),
        None => Err(SkipReason::BadKeyMaterial("crv")),
    }
}

fn parse_ec(object: &Map<String, Value>) -> Result<Material, SkipReason> {
    curve(object, "P-256")?;
    let (x, y) = (member(object, "x")?, member(object, "y")?);
    if x.len() != 32 || y.len() != 32 {
        return Err(SkipReason::BadKeyMaterial("x"));
    }
    #[cfg(feature = "rust-verifiers")]
    let key = {
        let mut sec1 = Vec::with_capacity(65);
        sec1.push(0x04);
        sec1.extend_from_slice(&x);
        sec1.extend_from_slice(&y);
        jwt_compact::alg::VerifyingKey::<Es256>::from_slice(&sec1)
            .map_err(|_| SkipReason::BadKeyMaterial("x"))?
    };
    Ok(Material::P256 {
        x,
        y,
        #[cfg(feature = "rust-verifiers")]
        key,
    })
}

fn parse_okp(object: &Map<String, Value>) -> Result<Material, SkipReason> {
    curve(object, "Ed25519")?;
    let x = member(object, "x")?;
    if x.len() != 32 {
        return Err(SkipReason::BadKeyMaterial("x"));
    }
    #[cfg(feature = "rust-verifiers")]
    let key = jwt_compact::alg::VerifyingKey::<Ed25519>::from_slice(&x)
        .map_err(|_| SkipReason::BadKeyMaterial("x"))?;
    Ok(Material::Ed25519 {
        x,
        #[cfg(feature = "rust-verifiers")]
        key,
    })
}

fn parse_rsa(object: &Map<String, Value>) -> Result<Material, SkipReason> {
    let (mut n, mut e) = (member(object, "n")?, member(object, "e")?);
    strip_leading_zeros(&mut n);
    strip_leading_zeros(&mut e);
    let bits = n.len() * 8 - n.first().map_or(8, |top| top.leading_zeros() as usize);
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(SkipReason::BadKeyMaterial("n"));
    }
    // The bounds `rsa` enforces, checked here so both builds keep the same keys: an odd
    // modulus, an odd exponent from 3 to 2^33 - 1 (so below the modulus).
    if n.last().is_none_or(|low| low % 2 == 0) {
        return Err(SkipReason::BadKeyMaterial("n"));
    }
    let exponent = (e.len() <= 8).then(|| e.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)));
    if !exponent.is_some_and(|e| e % 2 == 1 && (3..=MAX_RSA_EXPONENT).contains(&e)) {
        return Err(SkipReason::BadKeyMaterial("e"));
    }
    #[cfg(feature = "rust-verifiers")]
    let key = rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&n), rsa::BigUint::from_bytes_be(&e))
        .map_err(|_| SkipReason::BadKeyMaterial("e"))?;
    Ok(Material::Rsa {
        n,
        e,
        #[cfg(feature = "rust-verifiers")]
        key,
    })
}

fn strip_leading_zeros(bytes: &mut Vec<u8>) {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    bytes.drain(..zeros);
}
