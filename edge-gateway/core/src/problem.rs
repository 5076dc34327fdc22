//! Refusals as `application/problem+json` (RFC 9457), built in one place.
//!
//! Every response the gateway makes itself comes from [`respond`], so status, content type,
//! `Allow` and the request id are always consistent. Details of internal and upstream failures
//! never reach the body.

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Response};
use serde::Serialize;

use crate::body::Body;
use crate::cache::conditional::{Answer, content_range};
use crate::error::GatewayError;
use crate::forward::REQUEST_ID;

/// Media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The JSON body of a problem response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, human-readable summary of the type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened to this request.
    pub detail: String,
    /// The request id, for support (set by the gateway; the shield has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Problem {
    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl Problem {
    /// The problem for `error`.
    pub fn from_error(error: &GatewayError, request_id: &str) -> Problem {
        let status = error.status();
        Problem {
            kind: format!("urn:edge-gateway:problem:{}", error.kind()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: error.public_detail(),
            request_id: Some(request_id.to_owned()),
        }
    }
}

/// The response for `error`: problem JSON, `Allow` on 405, `WWW-Authenticate` on 401 and on
/// 403 for a missing scope, `Content-Range` on 416, never cached.
pub fn respond<S>(error: &GatewayError, request_id: &str) -> Response<Body<S>> {
    let problem = Problem::from_error(error, request_id);
    let mut response = Response::new(Body::Bytes(Bytes::from(problem.to_json())));
    *response.status_mut() = error.status();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, id);
    }
    if let Some(challenge) = error.challenge().and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(WWW_AUTHENTICATE, challenge);
    }
    if let GatewayError::RangeNotSatisfiable { length } = *error
        && let Some(value) = content_range(Answer::Unsatisfiable { length })
    {
        headers.insert(CONTENT_RANGE, value);
    }
    if let GatewayError::RateLimited { fields, .. } = error {
        for (name, value) in fields {
            headers.insert(name.clone(), value.clone());
        }
    }
    if let GatewayError::MethodNotAllowed { allow } = error {
        let list = allow.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
        if let Ok(value) = HeaderValue::from_str(&list) {
            headers.insert(ALLOW, value);
        }
    }
    response
}
