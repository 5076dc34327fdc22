//! JWT signature checks with Web Crypto (`crypto.subtle`) for RSA, ECDSA and Ed25519.
//!
//! workerd runs these natively (BoringSSL) instead of as Rust compiled to wasm; measured under
//! workerd, verification without the token cache went from ~2 ms (ES256) and ~1 ms (RS256) per
//! request to well under the cost of the request itself (see docs/decisions/0005). HMAC stays in
//! the core's verifier: it is microseconds in wasm, and the secret never has to cross into JS.
//! Imported keys are cached in JS by their JWK, so a key is imported once per isolate.

use edge_gateway_core::auth::{Algorithm, CoreVerifier, Jwk, JwtError, SignatureVerifier};
use edge_gateway_core::ports::SignatureCheck;
use worker::js_sys;
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(inline_js = r#"
const keys = new Map();
const params = {
  RS256: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, { name: "RSASSA-PKCS1-v1_5" }],
  RS384: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" }, { name: "RSASSA-PKCS1-v1_5" }],
  RS512: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" }, { name: "RSASSA-PKCS1-v1_5" }],
  PS256: [{ name: "RSA-PSS", hash: "SHA-256" }, { name: "RSA-PSS", saltLength: 32 }],
  PS384: [{ name: "RSA-PSS", hash: "SHA-384" }, { name: "RSA-PSS", saltLength: 48 }],
  PS512: [{ name: "RSA-PSS", hash: "SHA-512" }, { name: "RSA-PSS", saltLength: 64 }],
  ES256: [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }],
  EdDSA: [{ name: "Ed25519" }, { name: "Ed25519" }],
};
export function subtle_verify(alg, jwk, data, signature) {
  const [importParams, verifyParams] = params[alg];
  const cacheKey = alg + jwk;
  let key = keys.get(cacheKey);
  if (!key) {
    key = crypto.subtle.importKey("jwk", JSON.parse(jwk), importParams, false, ["verify"]);
    if (keys.size >= 256) keys.delete(keys.keys().next().value);
    keys.set(cacheKey, key);
  }
  return key.then((k) => crypto.subtle.verify(verifyParams, k, signature, data));
}
"#)]
extern "C" {
    fn subtle_verify(alg: &str, jwk: &str, data: &[u8], signature: &[u8]) -> js_sys::Promise;
}

/// Web Crypto for public-key algorithms, the core's verifier for HMAC.
pub(crate) struct WebCryptoVerifier;

impl SignatureCheck for WebCryptoVerifier {
    async fn verify(
        &self,
        alg: Algorithm,
        key: &Jwk,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), JwtError> {
        let Some(jwk) = key.public_jwk().filter(|_| !alg.is_hmac()) else {
            return SignatureVerifier::verify(&CoreVerifier, alg, key, signing_input, signature);
        };
        let promise = subtle_verify(alg.name(), &jwk.to_string(), signing_input, signature);
        match JsFuture::from(promise).await {
            Ok(valid) if valid == JsValue::TRUE => Ok(()),
            Ok(_) => Err(JwtError::InvalidSignature),
            // Web Crypto refusing the key or the signature's shape is a failed check, not a 500.
            Err(_) => Err(JwtError::InvalidSignature),
        }
    }
}
