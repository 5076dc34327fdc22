//! Why the gateway refused or failed a request.
//!
//! Every error knows which side caused it and whether another attempt is safe; one function,
//! [`crate::problem::respond`], turns any of them into an HTTP response.

use std::time::Duration;

use http::{Method, StatusCode};

/// Who caused an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client sent something the gateway will not serve.
    Client,
    /// The origin shield failed or was too slow.
    Upstream,
    /// The gateway itself (its config, its platform).
    Internal,
}

/// Why a request got no upstream response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// No route matches the host and path.
    #[error("no route for this host and path")]
    RouteNotFound,
    /// A route matches the path, but not the method.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// Methods that would be served.
        allow: Vec<Method>,
    },
    /// The request is malformed (bad host, dot segments, bad header).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A method the gateway never forwards (`TRACE`, `CONNECT`).
    #[error("method {0} is not supported by the gateway")]
    MethodNotImplemented(Method),
    /// The declared body is larger than the configured limit.
    #[error("request body of {length} bytes exceeds the limit of {limit}")]
    PayloadTooLarge {
        /// Declared `Content-Length`.
        length: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The request target is longer than the configured limit.
    #[error("request target exceeds {limit} bytes")]
    UriTooLong {
        /// The configured limit.
        limit: u64,
    },
    /// The request headers are larger than the configured limit.
    #[error("request headers exceed {limit} bytes")]
    HeadersTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// The request already passed through this gateway (its `Via` names us).
    #[error("request loop detected")]
    LoopDetected,
    /// This instance has never loaded a valid config.
    #[error("no valid routes config: {0}")]
    NoConfig(String),
    /// The shield could not be reached in any region tried.
    #[error("upstream unreachable: {0}")]
    UpstreamConnect(String),
    /// The shield did not answer in time.
    #[error("upstream timed out after {0:?}")]
    UpstreamTimeout(Duration),
    /// The shield answered with something unusable.
    #[error("upstream protocol error: {0}")]
    UpstreamProtocol(String),
    /// The route needs credentials and the request has none, or they are not valid.
    #[error("unauthorized: {0}")]
    Unauthorized(Unauthorized),
    /// The caller is authenticated but not allowed (scopes or claims).
    #[error("forbidden{}", .scope.as_ref().map(|s| format!(": requires scope `{s}`")).unwrap_or_default())]
    Forbidden {
        /// The scopes required, when a scope rule failed.
        scope: Option<String>,
    },
    /// The issuer's keys cannot be obtained (never fetched, or stale past max-stale).
    #[error("authentication unavailable: {0}")]
    AuthUnavailable(String),
    /// No region may serve the request: none is healthy among those the route may use
    /// (residency), or the route's residency leaves none for this caller.
    #[error("no healthy region may serve this request")]
    NoHealthyRegion,
    /// A rate-limit policy refuses the request (RFC 6585 §4).
    #[error("rate limited by policy `{policy}`")]
    RateLimited {
        /// The refusing policy (the one whose wait is longest).
        policy: String,
        /// `Retry-After`, `RateLimit-Policy`, `RateLimit` (and the legacy fields if configured).
        fields: Vec<(http::HeaderName, http::HeaderValue)>,
    },
    /// The counter store of a `fail_closed` policy failed or was too slow.
    #[error("rate-limit counter unavailable for policy `{policy}`: {reason}")]
    RateLimitUnavailable {
        /// The policy whose counter did not answer.
        policy: String,
        /// Why (logged, never sent to the client).
        reason: String,
    },
    /// The request said `only-if-cached` and the edge cache cannot answer it (RFC 9111
    /// §5.2.1.7).
    #[error("not in the edge cache (only-if-cached)")]
    NotCached,
    /// `If-Match` or `If-Unmodified-Since` does not hold for the cached response (RFC 9110
    /// §13.1.1, §13.1.4).
    #[error("a precondition of the request does not hold for the cached response")]
    PreconditionFailed,
    /// The `Range` asks only for bytes past the end of the cached response (RFC 9110 §15.5.17).
    #[error("the range starts past the end of the {length}-byte representation")]
    RangeNotSatisfiable {
        /// The representation's length, sent as `Content-Range: bytes */<length>`.
        length: u64,
    },
    /// A bug or platform failure inside the gateway.
    #[error("internal error")]
    Internal,
}

/// Why a request was not authenticated. The reasons are for logs; the client gets the fixed
/// RFC 6750 wording of [`GatewayError::public_detail`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unauthorized {
    /// No credentials; `bearer` when the route accepts JWTs.
    #[error("no credentials")]
    Missing {
        /// Whether the route accepts bearer tokens (decides the challenge scheme).
        bearer: bool,
    },
    /// The bearer token was refused.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The API key was refused.
    #[error("invalid API key: {0}")]
    InvalidApiKey(String),
}

/// The realm named in every challenge.
pub const REALM: &str = "edge-gateway";
const INVALID_TOKEN_DESCRIPTION: &str =
    "The access token is missing, malformed, expired or otherwise invalid.";

impl GatewayError {
    /// Who caused it.
    pub fn side(&self) -> Side {
        match self {
            GatewayError::RouteNotFound
            | GatewayError::MethodNotAllowed { .. }
            | GatewayError::BadRequest(_)
            | GatewayError::MethodNotImplemented(_)
            | GatewayError::PayloadTooLarge { .. }
            | GatewayError::UriTooLong { .. }
            | GatewayError::HeadersTooLarge { .. }
            | GatewayError::LoopDetected
            | GatewayError::Unauthorized(_)
            | GatewayError::Forbidden { .. }
            | GatewayError::NotCached
            | GatewayError::PreconditionFailed
            | GatewayError::RangeNotSatisfiable { .. }
            | GatewayError::RateLimited { .. } => Side::Client,
            GatewayError::AuthUnavailable(_)
            | GatewayError::RateLimitUnavailable { .. }
            | GatewayError::NoHealthyRegion => Side::Upstream,
            GatewayError::UpstreamConnect(_)
            | GatewayError::UpstreamTimeout(_)
            | GatewayError::UpstreamProtocol(_) => Side::Upstream,
            GatewayError::NoConfig(_) | GatewayError::Internal => Side::Internal,
        }
    }

    /// Whether sending the same request again (to another region) is safe: only when nothing
    /// reached the upstream.
    pub fn retryable(&self) -> bool {
        matches!(self, GatewayError::UpstreamConnect(_))
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::RouteNotFound => StatusCode::NOT_FOUND,
            GatewayError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GatewayError::MethodNotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            GatewayError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            GatewayError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            GatewayError::LoopDetected => StatusCode::LOOP_DETECTED,
            GatewayError::NoConfig(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::UpstreamConnect(_) | GatewayError::UpstreamProtocol(_) => StatusCode::BAD_GATEWAY,
            GatewayError::UpstreamTimeout(_) | GatewayError::NotCached => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            GatewayError::Forbidden { .. } => StatusCode::FORBIDDEN,
            GatewayError::AuthUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            GatewayError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            GatewayError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::NoHealthyRegion => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::RateLimitUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `WWW-Authenticate` value for 401 and scope-related 403 answers (RFC 6750 §3).
    pub fn challenge(&self) -> Option<String> {
        let challenge = match self {
            GatewayError::Unauthorized(Unauthorized::Missing { bearer: true }) => {
                format!("Bearer realm=\"{REALM}\"")
            }
            GatewayError::Unauthorized(Unauthorized::Missing { bearer: false })
            | GatewayError::Unauthorized(Unauthorized::InvalidApiKey(_)) => {
                format!("ApiKey realm=\"{REALM}\"")
            }
            GatewayError::Unauthorized(Unauthorized::InvalidToken(_)) => format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{INVALID_TOKEN_DESCRIPTION}\""
            ),
            GatewayError::Forbidden { scope: Some(scope) } => {
                format!("Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scope}\"")
            }
            _ => return None,
        };
        Some(challenge)
    }

    /// A stable, short name for the problem type and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::RouteNotFound => "route-not-found",
            GatewayError::MethodNotAllowed { .. } => "method-not-allowed",
            GatewayError::BadRequest(_) => "bad-request",
            GatewayError::MethodNotImplemented(_) => "method-not-implemented",
            GatewayError::PayloadTooLarge { .. } => "payload-too-large",
            GatewayError::UriTooLong { .. } => "uri-too-long",
            GatewayError::HeadersTooLarge { .. } => "headers-too-large",
            GatewayError::LoopDetected => "loop-detected",
            GatewayError::NoConfig(_) => "no-config",
            GatewayError::UpstreamConnect(_) => "upstream-unreachable",
            GatewayError::UpstreamTimeout(_) => "upstream-timeout",
            GatewayError::UpstreamProtocol(_) => "upstream-protocol-error",
            GatewayError::Unauthorized(_) => "unauthorized",
            GatewayError::Forbidden { .. } => "forbidden",
            GatewayError::AuthUnavailable(_) => "auth-unavailable",
            GatewayError::NotCached => "not-cached",
            GatewayError::PreconditionFailed => "precondition-failed",
            GatewayError::RangeNotSatisfiable { .. } => "range-not-satisfiable",
            GatewayError::RateLimited { .. } => "rate-limited",
            GatewayError::NoHealthyRegion => "no-healthy-region",
            GatewayError::RateLimitUnavailable { .. } => "rate-limit-unavailable",
            GatewayError::Internal => "internal-error",
        }
    }

    /// What the client is told. Internal and upstream details stay in the logs.
    pub fn public_detail(&self) -> String {
        match self.side() {
            Side::Client => match self {
                GatewayError::Unauthorized(Unauthorized::InvalidToken(_)) => INVALID_TOKEN_DESCRIPTION.into(),
                GatewayError::Unauthorized(Unauthorized::InvalidApiKey(_)) => {
                    "The API key is missing, unknown, revoked or expired.".into()
                }
                GatewayError::Unauthorized(Unauthorized::Missing { .. }) => {
                    "This route requires authentication.".into()
                }
                GatewayError::Forbidden { scope: Some(_) } => {
                    "The access token lacks a scope this request requires.".into()
                }
                GatewayError::Forbidden { scope: None } => "The caller may not make this request.".into(),
                _ => self.to_string(),
            },
            Side::Upstream => match self {
                GatewayError::AuthUnavailable(_) => "the identity provider's keys are unavailable".into(),
                GatewayError::NoHealthyRegion => "no healthy region may serve this request".into(),
                GatewayError::RateLimitUnavailable { .. } => {
                    "the rate-limit counters are unavailable; try again shortly".into()
                }
                GatewayError::UpstreamTimeout(_) => "the upstream did not answer in time".into(),
                _ => "the upstream could not be reached".into(),
            },
            Side::Internal => match self {
                GatewayError::NoConfig(_) => "the gateway has no valid routes configuration yet".into(),
                _ => "the gateway failed to handle the request".into(),
            },
        }
    }
}
