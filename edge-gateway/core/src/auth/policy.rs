//! What one issuer is allowed to send: the validated [`IssuerPolicy`].
//!
//! This module decides which algorithms, audiences, clock leeway, claims and token sizes are
//! acceptable. It never reads config sources itself: [`IssuerPolicySpec`] is the plain shape a
//! config layer fills in, and `TryFrom` turns it into an [`IssuerPolicy`], reporting every
//! problem at once. Nothing downstream re-checks a policy.

use std::fmt;

/// A JWS signature algorithm this gateway knows (RFC 7518 §3, RFC 8037 for EdDSA).
///
/// There is deliberately no variant for `none`: an unsecured JWT can never be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256.
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519 (the only EdDSA curve accepted).
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
}

impl Algorithm {
    /// Every algorithm, in a stable order.
    pub const ALL: [Algorithm; 11] = [
        Algorithm::Hs256,
        Algorithm::Hs384,
        Algorithm::Hs512,
        Algorithm::Es256,
        Algorithm::EdDsa,
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Ps512,
    ];

    /// The `alg` header value (case-sensitive, RFC 7515 §4.1.1).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Hs256 => "HS256",
            Algorithm::Hs384 => "HS384",
            Algorithm::Hs512 => "HS512",
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Rs256 => "RS256",
            Algorithm::Rs384 => "RS384",
            Algorithm::Rs512 => "RS512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
        }
    }

    /// The algorithm named `name`; `None` for `none` and anything unknown.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// Whether this is an HMAC (shared-secret) algorithm.
    pub fn is_hmac(self) -> bool {
        matches!(self, Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512)
    }

    /// Whether this is an RSA algorithm (PKCS#1 v1.5 or PSS).
    pub fn is_rsa(self) -> bool {
        !self.is_hmac() && !matches!(self, Algorithm::Es256 | Algorithm::EdDsa)
    }

    /// The shortest HMAC secret allowed, in bytes (the hash size, RFC 7518 §3.2); 0 otherwise.
    pub fn min_secret_len(self) -> usize {
        match self {
            Algorithm::Hs256 => 32,
            Algorithm::Hs384 => 48,
            Algorithm::Hs512 => 64,
            _ => 0,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The largest token accepted when a policy does not say otherwise (8 KiB).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The largest `max_token_bytes` a policy may set (64 KiB).
pub const MAX_TOKEN_BYTES_CEILING: usize = 64 * 1024;
/// The largest clock leeway a policy may set (5 minutes, in milliseconds).
pub const MAX_LEEWAY_MS: u64 = 5 * 60 * 1000;

/// The unvalidated shape of an issuer policy, as a config layer reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuerPolicySpec {
    /// Exact `iss` value expected.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one. Leave empty only for an issuer
    /// whose tokens carry no `aud` (RFC 8725 §3.9 recommends one); a token that does carry an
    /// `aud` is then refused, as RFC 7519 §4.1.3 requires.
    pub audiences: Vec<String>,
    /// Allowed `alg` names, e.g. `["ES256"]`.
    pub algorithms: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in milliseconds.
    pub leeway_ms: u64,
    /// Claims that must be present besides `iss`, `exp` and (with audiences) `aud`.
    pub required_claims: Vec<String>,
    /// Largest compact token accepted, in bytes; `None` means [`DEFAULT_MAX_TOKEN_BYTES`].
    pub max_token_bytes: Option<usize>,
}

/// A validated issuer policy: every field was checked when it was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerPolicy {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway_ms: u64,
    required_claims: Vec<String>,
    max_token_bytes: usize,
}

impl IssuerPolicy {
    /// Exact `iss` value expected.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Accepted `aud` values; empty when the issuer sends none (a token with `aud` is refused).
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// Allowed algorithms (never empty, never `none`).
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// Whether `alg` is on the allowlist.
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.algorithms.contains(&alg)
    }

    /// Clock skew tolerated, in milliseconds.
    pub fn leeway_ms(&self) -> u64 {
        self.leeway_ms
    }

    /// Claims that must be present: `iss`, `exp`, `aud` (with audiences), then the configured ones.
    pub fn required_claims(&self) -> &[String] {
        &self.required_claims
    }

    /// Largest compact token accepted, in bytes; checked before any decoding.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }
}

/// Everything wrong with an [`IssuerPolicySpec`], each problem named by its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid issuer policy: {}", .problems.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; "))]
pub struct PolicyError {
    /// `(field, message)` pairs, in field order.
    pub problems: Vec<(&'static str, String)>,
}

impl TryFrom<IssuerPolicySpec> for IssuerPolicy {
    type Error = PolicyError;

    fn try_from(spec: IssuerPolicySpec) -> Result<Self, PolicyError> {
        let mut problems = Vec::new();
        if spec.issuer.is_empty() {
            problems.push(("issuer", "must not be empty".to_owned()));
        }
        if spec.audiences.iter().any(String::is_empty) {
            problems.push(("audiences", "must not contain an empty audience".to_owned()));
        }
        let algorithms = parse_algorithms(&spec.algorithms, &mut problems);
        if spec.leeway_ms > MAX_LEEWAY_MS {
            problems.push(("leeway_ms", format!("must be at most {MAX_LEEWAY_MS}")));
        }
        let max_token_bytes = spec.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
        if max_token_bytes == 0 || max_token_bytes > MAX_TOKEN_BYTES_CEILING {
            problems.push(("max_token_bytes", format!("must be between 1 and {MAX_TOKEN_BYTES_CEILING}")));
        }
        if !problems.is_empty() {
            return Err(PolicyError { problems });
        }
        let mut required_claims: Vec<String> = ["iss", "exp"].map(str::to_owned).to_vec();
        if !spec.audiences.is_empty() {
            required_claims.push("aud".to_owned());
        }
        for claim in spec.required_claims {
            if !required_claims.contains(&claim) {
                required_claims.push(claim);
            }
        }
        Ok(IssuerPolicy {
            issuer: spec.issuer,
            audiences: spec.audiences,
            algorithms,
            leeway_ms: spec.leeway_ms,
            required_claims,
            max_token_bytes,
        })
    }
}

fn parse_algorithms(names: &[String], problems: &mut Vec<(&'static str, String)>) -> Vec<Algorithm> {
    if names.is_empty() {
        problems.push(("algorithms", "must allow at least one algorithm".to_owned()));
    }
    let mut algorithms = Vec::new();
    for name in names {
        match Algorithm::from_name(name) {
            Some(alg) if !algorithms.contains(&alg) => algorithms.push(alg),
            Some(_) => {}
            None if name.eq_ignore_ascii_case("none") => {
                problems.push(("algorithms", "`none` can never be allowed".to_owned()));
            }
            None => problems.push(("algorithms", format!("unknown algorithm `{name}`"))),
        }
    }
    algorithms
}
