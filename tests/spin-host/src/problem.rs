//! Responses the host makes itself: Spin's empty ones (404, 500), and the admin API's RFC 9457
//! problem details.

use bytes::Bytes;
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

/// The error of a body that fails mid-stream (the component's, or the shield's it passes on).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every response the host sends.
pub(crate) type HostBody = UnsyncBoxBody<Bytes, BoxError>;

/// A small byte body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> HostBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

/// A response with no body, as Spin answers an unmatched route (404) or a failed component (500).
pub(crate) fn empty(status: StatusCode) -> http::Response<HostBody> {
    let mut response = http::Response::new(full(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> http::Response<HostBody> {
    let mut response = http::Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// An `application/problem+json` response for `status`.
pub(crate) fn response(status: StatusCode, detail: &str) -> http::Response<HostBody> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = http::Response::new(full(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, http::HeaderValue::from_static("application/problem+json"));
    headers.insert(CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}
