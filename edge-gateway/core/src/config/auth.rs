//! Validated authentication settings: issuers, API keys, identity headers and route policies.
//!
//! These are the shapes [`super::Config::from_json`] produces from the `auth` section and each
//! route's `auth`; the checks live in the validation pass. Nothing here performs I/O or decides
//! about a request: [`crate::stages::authenticate`] does that.

use std::rc::Rc;
use std::time::Duration;

use http::{HeaderName, Method};
use serde_json::Value;

use crate::auth::{IssuerPolicy, Jwks};

/// Gateway-wide authentication settings.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// JWT issuers, sorted by name; routes refer to them by index.
    pub issuers: Vec<Issuer>,
    /// Where API keys are read from.
    pub api_keys: ApiKeySettings,
    /// The identity headers sent to the origin.
    pub identity_headers: IdentityHeaders,
}

/// One JWT issuer.
#[derive(Debug, Clone)]
pub struct Issuer {
    /// The name routes use.
    pub name: String,
    /// What its tokens must satisfy.
    pub policy: IssuerPolicy,
    /// Where its keys come from.
    pub keys: KeySource,
    /// How fetched keys are cached.
    pub jwks_cache: JwksCacheSettings,
    /// The claim naming the tenant, if any.
    pub tenant_claim: Option<String>,
    /// Whether verified tokens are remembered until `exp`.
    pub cache_verified_tokens: bool,
}

/// Where an issuer's key set comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Inline in the routes document.
    Inline(Rc<Jwks>),
    /// Fetched from this URL.
    JwksUri(String),
    /// Fetched from the `jwks_uri` of this OpenID Connect discovery document.
    Discovery(String),
}

/// How a fetched key set is cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksCacheSettings {
    /// Shortest TTL, whatever `Cache-Control` says.
    pub min_ttl: Duration,
    /// Longest TTL.
    pub max_ttl: Duration,
    /// How long past its TTL a key set may serve while the issuer is unreachable.
    pub max_stale: Duration,
    /// Least time between two fetches caused by an unknown `kid`.
    pub refetch_interval: Duration,
    /// Time limit of one fetch.
    pub fetch_timeout: Duration,
}

impl Default for JwksCacheSettings {
    fn default() -> Self {
        JwksCacheSettings {
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            max_stale: Duration::from_secs(6 * 3600),
            refetch_interval: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(5),
        }
    }
}

/// Where API keys are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeySettings {
    /// Request header carrying the key.
    pub header: HeaderName,
    /// Query parameter carrying the key, if allowed.
    pub query: Option<String>,
    /// How long one instance reuses a lookup.
    pub cache_ttl: Duration,
}

impl Default for ApiKeySettings {
    fn default() -> Self {
        ApiKeySettings {
            header: HeaderName::from_static("x-api-key"),
            query: None,
            cache_ttl: Duration::from_secs(30),
        }
    }
}

/// Names of the identity headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    /// Subject.
    pub subject: HeaderName,
    /// Tenant.
    pub tenant: HeaderName,
    /// Scopes, space-separated.
    pub scopes: HeaderName,
    /// `jwt` or `api_key`.
    pub method: HeaderName,
    /// Issuer name.
    pub issuer: HeaderName,
}

impl IdentityHeaders {
    /// All five names.
    pub fn all(&self) -> [&HeaderName; 5] {
        [&self.subject, &self.tenant, &self.scopes, &self.method, &self.issuer]
    }
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        IdentityHeaders {
            subject: HeaderName::from_static("x-auth-subject"),
            tenant: HeaderName::from_static("x-auth-tenant"),
            scopes: HeaderName::from_static("x-auth-scopes"),
            method: HeaderName::from_static("x-auth-method"),
            issuer: HeaderName::from_static("x-auth-issuer"),
        }
    }
}

/// Who may call one route.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteAuth {
    /// Indices into [`AuthSettings::issuers`] whose JWTs are accepted (may be empty).
    pub issuers: Vec<usize>,
    /// Whether an API key is accepted.
    pub api_key: bool,
    /// Where the JWT is read from.
    pub token: TokenSource,
    /// Whether `Authorization` reaches the origin.
    pub forward_authorization: bool,
    /// Authorization rules.
    pub rules: Vec<AuthRule>,
}

/// Where a route reads its JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1).
    Bearer,
    /// The whole value of this header.
    Header(HeaderName),
    /// The value of this cookie.
    Cookie(String),
}

/// One authorization rule: applies to `methods` (all when `None`), requires every scope and
/// every claim test.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthRule {
    /// Methods the rule applies to.
    pub methods: Option<Vec<Method>>,
    /// Scopes required.
    pub scopes: Vec<String>,
    /// Claim tests required.
    pub claims: Vec<ClaimRule>,
}

/// A test on one claim.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRule {
    /// The claim's name.
    pub claim: String,
    /// The test.
    pub test: ClaimTest,
}

/// What a claim must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimTest {
    /// Equal to this value.
    Equals(Value),
    /// Equal to one of these values.
    OneOf(Vec<Value>),
    /// An array (or space-separated string) containing this value.
    Contains(Value),
}
