//! Any bytes as a bearer token (verified against a fixed JWKS and policy) and as a JWKS
//! document: parsing and verification never panic, and nothing forged verifies.
#![no_main]

use edge_gateway_core::auth::{IssuerPolicy, IssuerPolicySpec, Jwks, verify};
use libfuzzer_sys::fuzz_target;

const JWKS: &str = r#"{"keys":[{"kty":"oct","kid":"hs","alg":"HS256","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}]}"#;

fuzz_target!(|data: &[u8]| {
    let _ = Jwks::parse(data);
    let jwks = Jwks::parse(JWKS.as_bytes()).expect("fixed JWKS").jwks;
    let spec = IssuerPolicySpec {
        issuer: "https://issuer.test".into(),
        algorithms: vec!["HS256".into(), "ES256".into(), "RS256".into(), "EdDSA".into()],
        ..IssuerPolicySpec::default()
    };
    let policy = IssuerPolicy::try_from(spec).expect("fixed policy");
    let token = String::from_utf8_lossy(data);
    // Random input cannot carry a valid HMAC under the fixed secret.
    assert!(verify(&token, &jwks, &policy, 1_700_000_000_000).is_err());
});
