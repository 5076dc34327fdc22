//! JWT verification, as tables: every algorithm, the RFC 7515 Appendix A vectors, an attack table
//! (each row names the exact refusal), JWKS parsing, policy validation and the token cache.
//!
//! Native only: tokens are signed here with `jwt-compact`'s `rsa` feature, which needs getrandom.
//! With `rust-verifiers` only (the default): these rows verify RS/PS/ES/EdDSA in Rust; the build
//! without it is covered by tests/jwt_port.rs.
#![cfg(all(not(target_arch = "wasm32"), feature = "rust-verifiers"))]

use base64ct::{Base64UrlUnpadded, Encoding};
use edge_gateway_core::auth::{
    Algorithm, IssuerPolicy, IssuerPolicySpec, Jwks, JwtError, SkipReason, TokenCache, verify,
};
use edge_gateway_core::auth::{CoreVerifier, Jwk, SignatureVerifier, UnverifiedToken, verify_with};
use jwt_compact::alg::{self, Ed25519, Es256, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key, Rsa};
use jwt_compact::alg::{RsaPrivateKey, SigningKey as _};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt as _, Claims, Header};
use rand::RngCore as _;
use serde_json::{Value, json};

/// 2023-11-14T22:13:20Z, in milliseconds.
const NOW: u64 = 1_700_000_000_000;
const NOW_S: u64 = NOW / 1000;
const ISS: &str = "https://issuer.example";

/// RFC 7515 Appendix A.2's RSA key (RFC 7517 Appendix A.1 public part, with the private parts).
const RFC_RSA_JWK: &str = r#"{"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB","d":"Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ","p":"4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc","q":"uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc","dp":"BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0","dq":"h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU","qi":"IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U"}"#;

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// Keys generated for this run (RSA is the RFC key: generating one unoptimised takes too long).
struct Fixture {
    hs256: Vec<u8>,
    hs384: Vec<u8>,
    hs512: Vec<u8>,
    ec: <Es256 as jwt_compact::Algorithm>::SigningKey,
    ed: <Ed25519 as jwt_compact::Algorithm>::SigningKey,
    rsa: RsaPrivateKey,
}

impl Fixture {
    fn new() -> Self {
        let rsa_jwk: JsonWebKey<'_> = serde_json::from_str(RFC_RSA_JWK).unwrap();
        Fixture {
            hs256: random::<32>().to_vec(),
            hs384: random::<48>().to_vec(),
            hs512: random::<64>().to_vec(),
            ec: alg::SigningKey::<Es256>::from_slice(&random::<32>()).unwrap(),
            ed: alg::SigningKey::<Ed25519>::from_slice(&random::<32>()).unwrap(),
            rsa: RsaPrivateKey::try_from(&rsa_jwk).unwrap(),
        }
    }

    fn public_jwk(&self, kid: &str, jwk: JsonWebKey<'_>) -> Value {
        let mut value = serde_json::to_value(jwk).unwrap();
        value["kid"] = json!(kid);
        value
    }

    /// The issuer's key set: one key per family, plus the three HMAC secrets.
    fn jwks_json(&self, with_secrets: bool) -> Vec<u8> {
        let mut keys = vec![
            self.public_jwk("ec-1", JsonWebKey::from(&self.ec.to_verifying_key())),
            self.public_jwk("ed-1", JsonWebKey::from(&self.ed.to_verifying_key())),
            self.public_jwk("rsa-1", JsonWebKey::from(&self.rsa.to_public_key())),
        ];
        if with_secrets {
            for (kid, secret) in [("hs256", &self.hs256), ("hs384", &self.hs384), ("hs512", &self.hs512)] {
                keys.push(json!({"kty": "oct", "kid": kid, "k": Base64UrlUnpadded::encode_string(secret)}));
            }
        }
        serde_json::to_vec(&json!({ "keys": keys })).unwrap()
    }

    fn jwks(&self, with_secrets: bool) -> Jwks {
        let parsed = Jwks::parse(&self.jwks_json(with_secrets)).unwrap();
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        parsed.jwks
    }

    /// An ES256 token whose signed payload is `payload`, verbatim.
    fn sign_raw_es256(&self, payload: &[u8]) -> String {
        use jwt_compact::Algorithm as _;
        use jwt_compact::AlgorithmSignature as _;
        let input =
            format!("{}.{}", b64(&json!({"alg": "ES256"})), Base64UrlUnpadded::encode_string(payload));
        let signature = Es256.sign(&self.ec, input.as_bytes());
        format!("{input}.{}", Base64UrlUnpadded::encode_string(&signature.as_bytes()))
    }

    /// A token for `alg` signed with this fixture's key, with `header` fields merged in.
    fn sign(&self, alg: Algorithm, header: Value, claims: Value) -> String {
        let Value::Object(fields) = header else { panic!("header must be an object") };
        let header = Header::new(fields);
        let claims = Claims::new(claims);
        let rsa = |name| Rsa::with_name(name).token(&header, &claims, &self.rsa).unwrap();
        match alg {
            Algorithm::Hs256 => Hs256.token(&header, &claims, &Hs256Key::new(&self.hs256)).unwrap(),
            Algorithm::Hs384 => Hs384.token(&header, &claims, &Hs384Key::new(&self.hs384)).unwrap(),
            Algorithm::Hs512 => Hs512.token(&header, &claims, &Hs512Key::new(&self.hs512)).unwrap(),
            Algorithm::Es256 => Es256.token(&header, &claims, &self.ec).unwrap(),
            Algorithm::EdDsa => Ed25519.token(&header, &claims, &self.ed).unwrap(),
            other => rsa(other.name()),
        }
    }
}

fn claims() -> Value {
    json!({
        "iss": ISS, "aud": ["other", "api"], "sub": "alice", "exp": NOW_S + 600, "nbf": NOW_S - 5,
        "iat": NOW_S - 5, "scope": "read write", "tenant": "t1",
    })
}

fn with(mut base: Value, changes: Value) -> Value {
    for (name, value) in changes.as_object().unwrap() {
        match value {
            Value::Null => base.as_object_mut().unwrap().remove(name),
            value => base.as_object_mut().unwrap().insert(name.clone(), value.clone()),
        };
    }
    base
}

fn policy_for(algorithms: &[&str], audiences: &[&str], issuer: &str) -> IssuerPolicy {
    IssuerPolicy::try_from(IssuerPolicySpec {
        issuer: issuer.to_owned(),
        audiences: audiences.iter().map(|a| a.to_string()).collect(),
        algorithms: algorithms.iter().map(|a| a.to_string()).collect(),
        leeway_ms: 30_000,
        required_claims: vec!["sub".to_owned()],
        max_token_bytes: Some(4096),
    })
    .unwrap()
}

/// The worst case for confusion attacks: every algorithm allowed.
fn permissive_policy() -> IssuerPolicy {
    let all: Vec<&str> = Algorithm::ALL.iter().map(|alg| alg.name()).collect();
    policy_for(&all, &["api"], ISS)
}

fn b64(json: &Value) -> String {
    Base64UrlUnpadded::encode_string(json.to_string().as_bytes())
}

#[test]
fn every_algorithm_verifies_with_its_key() {
    let fx = Fixture::new();
    let jwks = fx.jwks(true);
    let rows: [(Algorithm, &str); 11] = [
        (Algorithm::Hs256, "hs256"),
        (Algorithm::Hs384, "hs384"),
        (Algorithm::Hs512, "hs512"),
        (Algorithm::Es256, "ec-1"),
        (Algorithm::EdDsa, "ed-1"),
        (Algorithm::Rs256, "rsa-1"),
        (Algorithm::Rs384, "rsa-1"),
        (Algorithm::Rs512, "rsa-1"),
        (Algorithm::Ps256, "rsa-1"),
        (Algorithm::Ps384, "rsa-1"),
        (Algorithm::Ps512, "rsa-1"),
    ];
    for (alg, kid) in rows {
        let policy = policy_for(&[alg.name()], &["api"], ISS);
        for header in [json!({ "kid": kid }), json!({})] {
            let token = fx.sign(alg, header.clone(), claims());
            let verified =
                verify(&token, &jwks, &policy, NOW).unwrap_or_else(|e| panic!("{alg} {header}: {e:?}"));
            assert_eq!((verified.alg, verified.kid.as_deref()), (alg, Some(kid)), "{alg}");
            assert_eq!(verified.claims.sub.as_deref(), Some("alice"));
            assert_eq!(verified.claims.aud, ["other", "api"]);
            assert_eq!(verified.claims.scopes, ["read", "write"]);
            assert_eq!(verified.claims.exp, Some(NOW_S + 600));
            assert_eq!(verified.claims.extra.get("tenant"), Some(&json!("t1")));
        }
    }
}

/// RFC 7515 Appendix A.1 (HS256), A.2 (RS256) and A.3 (ES256), with their published keys.
#[test]
fn rfc7515_appendix_a_vectors_verify() {
    const PAYLOAD: &str =
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    let rows = [
        (
            "A.1 HS256",
            r#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#,
            format!(
                "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.{PAYLOAD}.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
            ),
            Algorithm::Hs256,
        ),
        (
            "A.2 RS256",
            RFC_RSA_JWK,
            format!(
                "eyJhbGciOiJSUzI1NiJ9.{PAYLOAD}.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
            ),
            Algorithm::Rs256,
        ),
        (
            "A.3 ES256",
            r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
            format!(
                "eyJhbGciOiJFUzI1NiJ9.{PAYLOAD}.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
            ),
            Algorithm::Es256,
        ),
    ];
    let before_exp = 1_300_819_379_000;
    let after_exp = 1_300_819_380_000;
    for (name, jwk, token, alg) in rows {
        let jwks = Jwks::parse(format!(r#"{{"keys":[{jwk}]}}"#).as_bytes()).unwrap().jwks;
        let mut policy = policy_for(&[alg.name()], &[], "joe");
        policy = IssuerPolicy::try_from(IssuerPolicySpec {
            leeway_ms: 0,
            required_claims: vec![],
            ..spec_of(&policy)
        })
        .unwrap();
        let verified = verify(&token, &jwks, &policy, before_exp).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(verified.claims.extra.get("http://example.com/is_root"), Some(&json!(true)), "{name}");
        assert_eq!(verify(&token, &jwks, &policy, after_exp), Err(JwtError::Expired), "{name}");
    }
}

fn spec_of(policy: &IssuerPolicy) -> IssuerPolicySpec {
    IssuerPolicySpec {
        issuer: policy.issuer().to_owned(),
        audiences: policy.audiences().to_vec(),
        algorithms: policy.algorithms().iter().map(|alg| alg.name().to_owned()).collect(),
        leeway_ms: policy.leeway_ms(),
        required_claims: vec![],
        max_token_bytes: Some(policy.max_token_bytes()),
    }
}

/// Which key set a row is checked against.
#[derive(Clone, Copy)]
enum Set {
    /// Public keys and HMAC secrets.
    All,
    /// Public keys only (an issuer that never uses HMAC).
    PublicOnly,
}

#[test]
fn attacks_are_refused_with_the_exact_error() {
    let fx = Fixture::new();
    let attacker = Fixture::new();
    let ec_point = {
        let jwk = serde_json::to_value(JsonWebKey::from(&fx.ec.to_verifying_key())).unwrap();
        let coordinate = |c: &str| Base64UrlUnpadded::decode_vec(jwk[c].as_str().unwrap()).unwrap();
        [vec![4], coordinate("x"), coordinate("y")].concat()
    };
    let rsa_n = Base64UrlUnpadded::decode_vec(
        serde_json::from_str::<Value>(RFC_RSA_JWK).unwrap()["n"].as_str().unwrap(),
    )
    .unwrap();
    let hs_with = |secret: &[u8], header: Value| {
        Hs256
            .token(
                &Header::new(header.as_object().unwrap().clone()),
                &Claims::new(claims()),
                &Hs256Key::new(secret),
            )
            .unwrap()
    };
    let es = |header: Value, claims: Value| fx.sign(Algorithm::Es256, header, claims);
    let good = es(json!({"kid": "ec-1"}), claims());
    let (head, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let tampered_payload = format!("{head}.{}.{signature}", b64(&with(claims(), json!({"sub": "admin"}))));
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let tampered_signature =
        format!("{head}.{}.{flipped}{}", rest.split_once('.').unwrap().0, &signature[1..]);
    let attacker_jwk = attacker.public_jwk("ec-1", JsonWebKey::from(&attacker.ec.to_verifying_key()));
    let key_source_headers = json!({"kid": "ec-1", "jwk": attacker_jwk, "jku": "https://evil.example/jwks", "x5u": "https://evil.example/c"});

    let rows: Vec<(&str, Set, String, JwtError)> = vec![
        (
            "alg none",
            Set::All,
            format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims())),
            JwtError::AlgorithmNotAllowed("none".into()),
        ),
        (
            "alg NONE",
            Set::All,
            format!("{}.{}.", b64(&json!({"alg": "NONE"})), b64(&claims())),
            JwtError::AlgorithmNotAllowed("NONE".into()),
        ),
        (
            "alg unknown",
            Set::All,
            format!("{}.{}.AA", b64(&json!({"alg": "HS1"})), b64(&claims())),
            JwtError::AlgorithmNotAllowed("HS1".into()),
        ),
        (
            "HS256 with the EC key's point, kid of the EC key",
            Set::All,
            hs_with(&ec_point, json!({"kid": "ec-1"})),
            JwtError::KeyMismatch { kid: "ec-1".into(), alg: Algorithm::Hs256 },
        ),
        (
            "HS256 with the RSA modulus, kid of the RSA key",
            Set::All,
            hs_with(&rsa_n, json!({"kid": "rsa-1"})),
            JwtError::KeyMismatch { kid: "rsa-1".into(), alg: Algorithm::Hs256 },
        ),
        (
            "HS256 with the EC key's point, no kid",
            Set::PublicOnly,
            hs_with(&ec_point, json!({})),
            JwtError::NoMatchingKey(Algorithm::Hs256),
        ),
        (
            "HS256 with the JWKS document itself, no kid",
            Set::PublicOnly,
            hs_with(&fx.jwks_json(false), json!({})),
            JwtError::NoMatchingKey(Algorithm::Hs256),
        ),
        (
            "ES256 naming the Ed25519 key",
            Set::All,
            es(json!({"kid": "ed-1"}), claims()),
            JwtError::KeyMismatch { kid: "ed-1".into(), alg: Algorithm::Es256 },
        ),
        (
            "unknown kid",
            Set::All,
            es(json!({"kid": "rotated"}), claims()),
            JwtError::UnknownKid("rotated".into()),
        ),
        (
            "expired beyond leeway",
            Set::All,
            es(json!({}), with(claims(), json!({"exp": NOW_S - 31}))),
            JwtError::Expired,
        ),
        (
            "expiring now",
            Set::All,
            es(json!({}), with(claims(), json!({"exp": NOW_S - 30}))),
            JwtError::Expired,
        ),
        (
            "not yet valid",
            Set::All,
            es(json!({}), with(claims(), json!({"nbf": NOW_S + 31}))),
            JwtError::NotYetValid,
        ),
        (
            "issued in the future",
            Set::All,
            es(json!({}), with(claims(), json!({"iat": NOW_S + 31}))),
            JwtError::IssuedInFuture,
        ),
        (
            "wrong issuer",
            Set::All,
            es(json!({}), with(claims(), json!({"iss": "https://evil.example"}))),
            JwtError::WrongIssuer,
        ),
        (
            "missing issuer",
            Set::All,
            es(json!({}), with(claims(), json!({"iss": null}))),
            JwtError::MissingClaim("iss".into()),
        ),
        (
            "missing exp",
            Set::All,
            es(json!({}), with(claims(), json!({"exp": null}))),
            JwtError::MissingClaim("exp".into()),
        ),
        (
            "missing sub (required by policy)",
            Set::All,
            es(json!({}), with(claims(), json!({"sub": null}))),
            JwtError::MissingClaim("sub".into()),
        ),
        (
            "wrong audience",
            Set::All,
            es(json!({}), with(claims(), json!({"aud": "billing"}))),
            JwtError::WrongAudience,
        ),
        (
            "exp not a number",
            Set::All,
            es(json!({}), with(claims(), json!({"exp": "tomorrow"}))),
            JwtError::Malformed("exp"),
        ),
        (
            "unknown crit",
            Set::All,
            es(json!({"crit": ["exp"], "exp": 1}), claims()),
            JwtError::UnsupportedCritical("exp".into()),
        ),
        ("empty crit", Set::All, es(json!({"crit": []}), claims()), JwtError::Malformed("crit")),
        ("tampered payload", Set::All, tampered_payload, JwtError::InvalidSignature),
        ("tampered signature", Set::All, tampered_signature, JwtError::InvalidSignature),
        (
            "truncated signature",
            Set::All,
            format!("{head}.{}.{}", rest.split_once('.').unwrap().0, &signature[..40]),
            JwtError::InvalidSignature,
        ),
        (
            "signed by attacker, own key in jwk/jku/x5u",
            Set::All,
            attacker.sign(Algorithm::Es256, key_source_headers, claims()),
            JwtError::InvalidSignature,
        ),
        (
            "signed by attacker, no kid",
            Set::All,
            attacker.sign(
                Algorithm::Es256,
                json!({"jwk": attacker.public_jwk("x", JsonWebKey::from(&attacker.ec.to_verifying_key()))}),
                claims(),
            ),
            JwtError::InvalidSignature,
        ),
        (
            "oversize",
            Set::All,
            format!("{good}{}", "A".repeat(4097 - good.len())),
            JwtError::TooLarge { len: 4097, limit: 4096 },
        ),
        (
            "oversize garbage is not decoded",
            Set::All,
            "!".repeat(10_000),
            JwtError::TooLarge { len: 10_000, limit: 4096 },
        ),
        (
            "two parts",
            Set::All,
            format!("{head}.{}", rest.split_once('.').unwrap().0),
            JwtError::Malformed("not three parts"),
        ),
        ("five parts (JWE)", Set::All, format!("{good}.AA.AA"), JwtError::Malformed("not three parts")),
        ("bad base64 header", Set::All, format!("!!.{rest}"), JwtError::Malformed("invalid base64url")),
        (
            "padded base64 header",
            Set::All,
            format!("{head}=.{rest}"),
            JwtError::Malformed("invalid base64url"),
        ),
        (
            "bad base64 signature",
            Set::All,
            format!("{head}.{}.%%", rest.split_once('.').unwrap().0),
            JwtError::Malformed("invalid base64url"),
        ),
        (
            "header not JSON",
            Set::All,
            format!("{}.{rest}", Base64UrlUnpadded::encode_string(b"{alg")),
            JwtError::Malformed("header is not a JSON object"),
        ),
        (
            "header a JSON array",
            Set::All,
            format!("{}.{rest}", b64(&json!(["ES256"]))),
            JwtError::Malformed("header is not a JSON object"),
        ),
        (
            "alg not a string",
            Set::All,
            format!("{}.{rest}", b64(&json!({"alg": 1}))),
            JwtError::Malformed("alg"),
        ),
        (
            "signed payload not JSON",
            Set::All,
            fx.sign_raw_es256(b"not json"),
            JwtError::Malformed("payload is not a JSON object"),
        ),
        ("empty token", Set::All, String::new(), JwtError::Malformed("not three parts")),
    ];
    let (all, public_only) = (fx.jwks(true), fx.jwks(false));
    let policy = permissive_policy();
    for (name, set, token, expected) in rows {
        let jwks = match set {
            Set::All => &all,
            Set::PublicOnly => &public_only,
        };
        assert_eq!(verify(&token, jwks, &policy, NOW), Err(expected), "{name}");
    }
    assert!(verify(&good, &all, &policy, NOW).is_ok(), "the untampered token verifies");
}

#[test]
fn policy_allowlist_and_leeway_edges() {
    let fx = Fixture::new();
    let jwks = fx.jwks(true);
    let es_only = policy_for(&["ES256"], &["api"], ISS);
    let rows: Vec<(&str, String, Result<(), JwtError>)> = vec![
        (
            "HS256 when only ES256 is allowed",
            fx.sign(Algorithm::Hs256, json!({"kid": "hs256"}), claims()),
            Err(JwtError::AlgorithmNotAllowed("HS256".into())),
        ),
        (
            "RS256 when only ES256 is allowed",
            fx.sign(Algorithm::Rs256, json!({}), claims()),
            Err(JwtError::AlgorithmNotAllowed("RS256".into())),
        ),
        (
            "expired within leeway",
            fx.sign(Algorithm::Es256, json!({}), with(claims(), json!({"exp": NOW_S - 29}))),
            Ok(()),
        ),
        (
            "nbf within leeway",
            fx.sign(Algorithm::Es256, json!({}), with(claims(), json!({"nbf": NOW_S + 30}))),
            Ok(()),
        ),
        (
            "single-string aud",
            fx.sign(Algorithm::Es256, json!({}), with(claims(), json!({"aud": "api"}))),
            Ok(()),
        ),
        (
            "fractional exp",
            fx.sign(Algorithm::Es256, json!({}), with(claims(), json!({"exp": NOW_S as f64 + 60.5}))),
            Ok(()),
        ),
        (
            "jku ignored, own kid",
            fx.sign(Algorithm::Es256, json!({"kid": "ec-1", "jku": "https://evil.example"}), claims()),
            Ok(()),
        ),
    ];
    for (name, token, expected) in rows {
        assert_eq!(verify(&token, &jwks, &es_only, NOW).map(|_| ()), expected, "{name}");
    }
}

#[test]
fn jwks_keeps_usable_keys_and_lists_the_rest() {
    let weak_n = Base64UrlUnpadded::encode_string(&[0xC5; 128]);
    let ec = r#""kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0""#;
    let rows: Vec<(&str, String, Option<SkipReason>)> = vec![
        ("EC P-256 for signatures", format!(r#"{{{ec},"use":"sig","alg":"ES256"}}"#), None),
        ("EC key_ops verify", format!(r#"{{{ec},"key_ops":["verify"]}}"#), None),
        ("encryption key", format!(r#"{{{ec},"use":"enc"}}"#), Some(SkipReason::NotForVerification)),
        ("key_ops sign only", format!(r#"{{{ec},"key_ops":["sign"]}}"#), Some(SkipReason::NotForVerification)),
        ("EC key pinned to HS256", format!(r#"{{{ec},"alg":"HS256"}}"#), Some(SkipReason::UnsupportedAlgorithm("HS256".into()))),
        ("EC key pinned to none", format!(r#"{{{ec},"alg":"none"}}"#), Some(SkipReason::UnsupportedAlgorithm("none".into()))),
        ("P-384", r#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}"#.into(), Some(SkipReason::UnsupportedCurve("P-384".into()))),
        ("X25519", r#"{"kty":"OKP","crv":"X25519","x":"AA"}"#.into(), Some(SkipReason::UnsupportedCurve("X25519".into()))),
        ("EC point not on the curve", r#"{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#.into(), Some(SkipReason::BadKeyMaterial("x"))),
        ("EC x not base64url", r#"{"kty":"EC","crv":"P-256","x":"@@","y":"AA"}"#.into(), Some(SkipReason::BadKeyMaterial("x"))),
        ("RSA 1024-bit", format!(r#"{{"kty":"RSA","n":"{weak_n}","e":"AQAB"}}"#), Some(SkipReason::BadKeyMaterial("n"))),
        ("RSA without e", r#"{"kty":"RSA","n":"AQAB"}"#.into(), Some(SkipReason::BadKeyMaterial("e"))),
        ("oct without k", r#"{"kty":"oct"}"#.into(), Some(SkipReason::BadKeyMaterial("k"))),
        ("unknown kty", r#"{"kty":"PQC"}"#.into(), Some(SkipReason::UnsupportedKeyType("PQC".into()))),
        ("no kty", r#"{"kid":"a"}"#.into(), Some(SkipReason::NotAKey)),
        ("kid not a string", format!(r#"{{{ec},"kid":7}}"#), Some(SkipReason::BadKeyMaterial("kid"))),
        ("not an object", "42".into(), Some(SkipReason::NotAKey)),
    ];
    for (name, key, expected) in rows {
        let parsed = Jwks::parse(format!(r#"{{"keys":[{key}]}}"#).as_bytes())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let skipped = parsed.skipped.first().map(|skipped| skipped.reason.clone());
        assert_eq!(skipped, expected, "{name}");
        assert_eq!(parsed.jwks.keys().len(), usize::from(expected.is_none()), "{name}");
    }
}

#[test]
fn jwks_documents_that_are_not_key_sets_are_errors_not_panics() {
    let many = format!(r#"{{"keys":[{}]}}"#, vec![r#"{"kty":"oct","k":"AA"}"#; 40].join(","));
    /// Usable and skipped key counts, when the document is a key set.
    type Counts = Option<(usize, usize)>;
    let rows: [(&str, &[u8], Counts); 8] = [
        ("empty", b"", None),
        ("not JSON", b"\xff\xfe", None),
        ("array", b"[]", None),
        ("keys not an array", br#"{"keys":{}}"#, None),
        ("no keys", br#"{"other":[]}"#, None),
        ("empty set", br#"{"keys":[]}"#, Some((0, 0))),
        ("deeply nested", &[b'['; 10_000], None),
        ("more than MAX_KEYS", many.as_bytes(), Some((32, 8))),
    ];
    for (name, doc, expected) in rows {
        let outcome = Jwks::parse(doc).ok().map(|parsed| (parsed.jwks.keys().len(), parsed.skipped.len()));
        assert_eq!(outcome, expected, "{name}");
    }
}

#[test]
fn policy_specs_are_validated_with_every_problem_reported() {
    let valid = IssuerPolicySpec {
        issuer: ISS.into(),
        audiences: vec!["api".into()],
        algorithms: vec!["ES256".into()],
        ..IssuerPolicySpec::default()
    };
    let rows: Vec<(&str, IssuerPolicySpec, Vec<&str>)> = vec![
        ("valid", valid.clone(), vec![]),
        (
            "none allowed",
            IssuerPolicySpec { algorithms: vec!["ES256".into(), "none".into()], ..valid.clone() },
            vec!["algorithms"],
        ),
        ("no algorithms", IssuerPolicySpec { algorithms: vec![], ..valid.clone() }, vec!["algorithms"]),
        (
            "unknown algorithm",
            IssuerPolicySpec { algorithms: vec!["ES512".into()], ..valid.clone() },
            vec!["algorithms"],
        ),
        (
            "lowercase alg",
            IssuerPolicySpec { algorithms: vec!["es256".into()], ..valid.clone() },
            vec!["algorithms"],
        ),
        ("leeway too long", IssuerPolicySpec { leeway_ms: 600_000, ..valid.clone() }, vec!["leeway_ms"]),
        (
            "zero max size",
            IssuerPolicySpec { max_token_bytes: Some(0), ..valid.clone() },
            vec!["max_token_bytes"],
        ),
        (
            "everything wrong at once",
            IssuerPolicySpec {
                issuer: String::new(),
                audiences: vec![String::new()],
                algorithms: vec![],
                leeway_ms: u64::MAX,
                required_claims: vec![],
                max_token_bytes: Some(1 << 20),
            },
            vec!["issuer", "audiences", "algorithms", "leeway_ms", "max_token_bytes"],
        ),
    ];
    for (name, spec, fields) in rows {
        let problems = match IssuerPolicy::try_from(spec) {
            Ok(policy) => {
                assert_eq!(policy.required_claims(), ["iss", "exp", "aud"], "{name}");
                vec![]
            }
            Err(error) => error.problems.iter().map(|(field, _)| *field).collect(),
        };
        assert_eq!(problems, fields, "{name}");
    }
}

#[test]
fn the_client_never_learns_which_check_failed() {
    let errors = [
        JwtError::TooLarge { len: 1, limit: 0 },
        JwtError::Malformed("x"),
        JwtError::AlgorithmNotAllowed("none".into()),
        JwtError::UnsupportedCritical("b64".into()),
        JwtError::UnknownKid("k".into()),
        JwtError::KeyMismatch { kid: "k".into(), alg: Algorithm::Hs256 },
        JwtError::NoMatchingKey(Algorithm::Es256),
        JwtError::UnsupportedAlgorithm(Algorithm::Rs256),
        JwtError::InvalidSignature,
        JwtError::MissingClaim("sub".into()),
        JwtError::Expired,
        JwtError::NotYetValid,
        JwtError::IssuedInFuture,
        JwtError::WrongIssuer,
        JwtError::WrongAudience,
    ];
    let description = errors[0].error_description();
    for error in &errors {
        assert_eq!(
            (error.error_code(), error.error_description()),
            ("invalid_token", description),
            "{error:?}"
        );
        assert_eq!(error.wants_fresh_keys(), matches!(error, JwtError::UnknownKid(_)), "{error:?}");
    }
}

#[test]
fn token_cache_reuses_verifications_until_exp_or_ttl() {
    let fx = Fixture::new();
    let (jwks, policy) = (fx.jwks(false), policy_for(&["ES256"], &["api"], ISS));
    let token = |exp: u64, sub: &str| {
        fx.sign(Algorithm::Es256, json!({}), with(claims(), json!({"exp": exp, "sub": sub})))
    };
    let verified = |token: &str| verify(token, &jwks, &policy, NOW).unwrap();
    let (a, b, c) = (token(NOW_S + 10, "a"), token(NOW_S + 600, "b"), token(NOW_S + 600, "c"));

    let mut cache = TokenCache::new(2, 60_000);
    cache.insert(&a, verified(&a), NOW);
    cache.insert(&b, verified(&b), NOW);
    assert!(!format!("{cache:?}").contains(&a), "the cache never holds a token");
    // Each row: (what, token, at, cached subject expected).
    let rows: [(&str, &str, u64, Option<&str>); 6] = [
        ("fresh hit", &a, NOW + 9_999, Some("a")),
        ("a expires with its exp (10 s), before the TTL", &a, NOW + 10_000, None),
        ("b lives until the TTL (60 s), before its exp", &b, NOW + 59_999, Some("b")),
        ("b gone at the TTL", &b, NOW + 60_000, None),
        ("never inserted", &c, NOW, None),
        ("a stays evicted", &a, NOW, None),
    ];
    for (what, token, at, expected) in rows {
        let cached = cache.get(token, at).map(|verified| verified.claims.sub.clone().unwrap());
        assert_eq!(cached.as_deref(), expected, "{what}");
    }

    let mut lru = TokenCache::new(2, 60_000);
    lru.insert(&a, verified(&a), NOW);
    lru.insert(&b, verified(&b), NOW);
    assert!(lru.get(&a, NOW + 1).is_some(), "a is now the most recently used");
    lru.insert(&c, verified(&c), NOW + 2);
    let present = [&a, &b, &c].map(|token| lru.get(token, NOW + 3).is_some());
    assert_eq!(present, [true, false, true], "b, least recently used, was evicted");
    lru.insert(&a, verified(&a), NOW + 20_000);
    assert!(lru.get(&a, NOW + 20_000).is_none(), "an already expired token is not cached");
    lru.clear();
    assert!(lru.is_empty());
}

/// An adapter's verifier that has no RSA (as Web Crypto would be, were it not wired yet).
struct WithoutRsa;

impl SignatureVerifier for WithoutRsa {
    fn verify(&self, alg: Algorithm, key: &Jwk, input: &[u8], signature: &[u8]) -> Result<(), JwtError> {
        if alg.is_rsa() {
            return Err(JwtError::UnsupportedAlgorithm(alg));
        }
        CoreVerifier.verify(alg, key, input, signature)
    }
}

#[test]
fn adapters_can_bring_their_own_verifier() {
    let fx = Fixture::new();
    let (jwks, policy) = (fx.jwks(false), permissive_policy());
    let rows = [
        (Algorithm::Es256, Ok(Algorithm::Es256)),
        (Algorithm::EdDsa, Ok(Algorithm::EdDsa)),
        (Algorithm::Rs256, Err(JwtError::UnsupportedAlgorithm(Algorithm::Rs256))),
        (Algorithm::Ps512, Err(JwtError::UnsupportedAlgorithm(Algorithm::Ps512))),
    ];
    for (alg, expected) in rows {
        let token = fx.sign(alg, json!({}), claims());
        let outcome = verify_with(&WithoutRsa, &token, &jwks, &policy, NOW).map(|verified| verified.alg);
        assert_eq!(outcome, expected, "{alg}");
        if let Err(error) = outcome {
            assert_eq!(error.side(), edge_gateway_core::error::Side::Internal, "{alg}");
        }
    }
}

/// The steps an asynchronous verifier (Web Crypto) drives itself, in order.
#[test]
fn verification_can_be_driven_step_by_step() {
    let fx = Fixture::new();
    let (jwks, policy) = (fx.jwks(false), permissive_policy());
    let token = fx.sign(Algorithm::Ps256, json!({"kid": "rsa-1"}), claims());
    let unverified = UnverifiedToken::parse(&token, &policy).unwrap();
    assert_eq!((unverified.alg(), unverified.kid()), (Algorithm::Ps256, Some("rsa-1")));
    let candidates = unverified.candidates(&jwks).unwrap();
    assert_eq!(candidates.len(), 1);
    let key = candidates[0];
    assert!(key.rsa_components().is_some(), "an adapter can import the RSA key");
    CoreVerifier.verify(unverified.alg(), key, unverified.signing_input(), unverified.signature()).unwrap();
    let verified = unverified.accept(key, &policy, NOW).unwrap();
    assert_eq!(verified.claims.sub.as_deref(), Some("alice"));
}

/// RFC 7520 §4.4 (HMAC-SHA2 integrity protection), Figures 32 and 34: the signature verifies
/// with the cookbook's symmetric key. Its payload is prose, not a claims set, so the token as a
/// whole is then refused as malformed: the signature step is checked on its own.
#[test]
fn rfc_7520_4_4_hs256_signature_verifies_and_its_prose_payload_is_not_a_jwt() {
    const TOKEN: &str = concat!(
        "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9.",
        "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.",
        "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0"
    );
    let jwks = Jwks::parse(
        br#"{"keys":[{"kty":"oct","kid":"018c0ae5-4d9b-471b-bfd6-eef314bc7037","use":"sig","alg":"HS256",
                     "k":"hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"}]}"#,
    )
    .unwrap()
    .jwks;
    let policy = policy_for(&["HS256"], &[], "https://issuer.example");
    let unverified = UnverifiedToken::parse(TOKEN, &policy).unwrap();
    assert_eq!(unverified.kid(), Some("018c0ae5-4d9b-471b-bfd6-eef314bc7037"));
    let key = unverified.candidates(&jwks).unwrap()[0];
    assert_eq!(
        CoreVerifier.verify(Algorithm::Hs256, key, unverified.signing_input(), unverified.signature()),
        Ok(())
    );
    let mut forged = unverified.signature().to_vec();
    forged[0] ^= 1;
    assert_eq!(
        CoreVerifier.verify(Algorithm::Hs256, key, unverified.signing_input(), &forged),
        Err(JwtError::InvalidSignature)
    );
    assert_eq!(verify(TOKEN, &jwks, &policy, NOW), Err(JwtError::Malformed("payload is not a JSON object")));
}
