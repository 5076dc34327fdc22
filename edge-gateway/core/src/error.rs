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
    /// A bug or platform failure inside the gateway.
    #[error("internal error")]
    Internal,
}

impl GatewayError {
    /// Who caused it.
    pub fn side(&self) -> Side {
        match self {
            GatewayError::RouteNotFound
            | GatewayError::MethodNotAllowed { .. }
            | GatewayError::BadRequest(_)
            | GatewayError::PayloadTooLarge { .. }
            | GatewayError::UriTooLong { .. }
            | GatewayError::HeadersTooLarge { .. }
            | GatewayError::LoopDetected => Side::Client,
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
            GatewayError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            GatewayError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            GatewayError::LoopDetected => StatusCode::LOOP_DETECTED,
            GatewayError::NoConfig(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::UpstreamConnect(_) | GatewayError::UpstreamProtocol(_) => StatusCode::BAD_GATEWAY,
            GatewayError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, short name for the problem type and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::RouteNotFound => "route-not-found",
            GatewayError::MethodNotAllowed { .. } => "method-not-allowed",
            GatewayError::BadRequest(_) => "bad-request",
            GatewayError::PayloadTooLarge { .. } => "payload-too-large",
            GatewayError::UriTooLong { .. } => "uri-too-long",
            GatewayError::HeadersTooLarge { .. } => "headers-too-large",
            GatewayError::LoopDetected => "loop-detected",
            GatewayError::NoConfig(_) => "no-config",
            GatewayError::UpstreamConnect(_) => "upstream-unreachable",
            GatewayError::UpstreamTimeout(_) => "upstream-timeout",
            GatewayError::UpstreamProtocol(_) => "upstream-protocol-error",
            GatewayError::Internal => "internal-error",
        }
    }

    /// What the client is told. Internal and upstream details stay in the logs.
    pub fn public_detail(&self) -> String {
        match self.side() {
            Side::Client => self.to_string(),
            Side::Upstream => match self {
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
