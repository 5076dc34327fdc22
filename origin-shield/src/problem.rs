//! Failures the shield answers itself, and their RFC 9457 `problem+json` bodies.
//!
//! [`ProxyFailure::classify`] reads a Pingora error (which side failed, and how)
//! and names the failure; [`ProxyFailure::status`] and [`Problem`] turn it into
//! the response. Classifying is separate from sending: this module never
//! touches a session.

pub use edge_gateway_core::problem::Problem;
use pingora_error::{Error, ErrorSource, ErrorType};

/// Why the shield could not proxy a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyFailure {
    /// Upstream side: the origin refused or dropped the connection, or sent garbage. Retry-safe
    /// for idempotent requests, at another shield.
    #[error("the origin could not be reached or answered badly")]
    OriginUnreachable,
    /// Upstream side: connecting to or reading from the origin took longer than configured.
    #[error("the origin did not answer in time")]
    OriginTimeout,
    /// Client side: the request could not be read or was malformed. Not retry-safe.
    #[error("the request was malformed")]
    BadRequest,
    /// Client side: the client went away; nothing can be sent.
    #[error("the client connection closed")]
    ClientGone,
    /// Internal: a bug or resource problem in the shield.
    #[error("the shield failed internally")]
    Internal,
    /// An explicit HTTP status chosen by a proxy phase.
    #[error("the request was answered with status {0}")]
    Status(u16),
}

impl ProxyFailure {
    /// Names the failure behind a Pingora error.
    pub fn classify(e: &Error) -> Self {
        use ErrorType::*;
        match (e.esource(), e.etype()) {
            (_, HTTPStatus(code)) => ProxyFailure::Status(*code),
            (ErrorSource::Upstream, ConnectTimedout | ReadTimedout | WriteTimedout) => {
                ProxyFailure::OriginTimeout
            }
            (ErrorSource::Upstream, _) => ProxyFailure::OriginUnreachable,
            (ErrorSource::Downstream, WriteError | ReadError | ConnectionClosed) => ProxyFailure::ClientGone,
            (ErrorSource::Downstream, _) => ProxyFailure::BadRequest,
            (ErrorSource::Internal | ErrorSource::Unset, _) => ProxyFailure::Internal,
        }
    }

    /// The status to answer with; `None` when the client is gone.
    pub fn status(self) -> Option<u16> {
        match self {
            ProxyFailure::OriginUnreachable => Some(502),
            ProxyFailure::OriginTimeout => Some(504),
            ProxyFailure::BadRequest => Some(400),
            ProxyFailure::ClientGone => None,
            ProxyFailure::Internal => Some(500),
            ProxyFailure::Status(code) => Some(code),
        }
    }

    /// The problem document for this failure, if one is sent.
    pub fn problem(self, region: &str) -> Option<Problem> {
        let status = self.status()?;
        let (slug, title) = match self {
            ProxyFailure::OriginUnreachable => ("origin-unreachable", "Bad Gateway"),
            ProxyFailure::OriginTimeout => ("origin-timeout", "Gateway Timeout"),
            ProxyFailure::BadRequest => ("bad-request", "Bad Request"),
            ProxyFailure::Internal => ("internal", "Internal Server Error"),
            ProxyFailure::Status(_) | ProxyFailure::ClientGone => ("status", "Error"),
        };
        Some(Problem {
            kind: format!("urn:origin-shield:problem:{slug}"),
            title: title.to_owned(),
            status,
            detail: format!("origin shield {region}: {self}"),
            request_id: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        use ErrorType::*;
        let rows = [
            (ErrorSource::Upstream, ConnectRefused, Some(502)),
            (ErrorSource::Upstream, ConnectNoRoute, Some(502)),
            (ErrorSource::Upstream, ConnectionClosed, Some(502)),
            (ErrorSource::Upstream, InvalidHTTPHeader, Some(502)),
            (ErrorSource::Upstream, ConnectTimedout, Some(504)),
            (ErrorSource::Upstream, ReadTimedout, Some(504)),
            (ErrorSource::Downstream, InvalidHTTPHeader, Some(400)),
            (ErrorSource::Downstream, ConnectionClosed, None),
            (ErrorSource::Internal, InternalError, Some(500)),
            (ErrorSource::Unset, HTTPStatus(429), Some(429)),
        ];
        for (source, etype, status) in rows {
            let e = Error::create(etype.clone(), source.clone(), None, None);
            assert_eq!(ProxyFailure::classify(&e).status(), status, "{source:?} {etype:?}");
        }
    }

    #[test]
    fn problem_body_has_the_rfc_9457_members() {
        let problem = ProxyFailure::OriginTimeout.problem("eu-west").expect("sent");
        let json: serde_json::Value = serde_json::from_slice(&problem.to_json()).expect("json");
        assert_eq!(json["type"], "urn:origin-shield:problem:origin-timeout");
        assert_eq!(json["title"], "Gateway Timeout");
        assert_eq!(json["status"], 504);
        assert_eq!(json["detail"], "origin shield eu-west: the origin did not answer in time");
    }
}
