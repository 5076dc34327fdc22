//! Request sanity checks that run before routing: sizes, framing, loops, and the one
//! normalisation of path and method ([`crate::normalize`]).
//!
//! A request that fails here never reaches a route or an upstream. Pure: the request head and
//! the settings in, the first violation out (or the normalised head).

use http::Uri;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::request::Parts;
use http::uri::PathAndQuery;

use crate::config::Settings;
use crate::error::GatewayError;
use crate::{forward, normalize};

/// Checks the request head against the configured limits and basic safety rules.
pub fn check(head: &Parts, settings: &Settings) -> Result<(), GatewayError> {
    let target = head.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if target as u64 > settings.max_url_bytes {
        return Err(GatewayError::UriTooLong { limit: settings.max_url_bytes });
    }
    let header_bytes: usize = head.headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if header_bytes as u64 > settings.max_header_bytes {
        return Err(GatewayError::HeadersTooLarge { limit: settings.max_header_bytes });
    }
    if forward::is_loop(&head.headers) {
        return Err(GatewayError::LoopDetected);
    }
    if let Some(length) = content_length(head)?
        && length > settings.max_request_body_bytes
    {
        return Err(GatewayError::PayloadTooLarge { length, limit: settings.max_request_body_bytes });
    }
    if host(head).is_none() {
        return Err(GatewayError::BadRequest("missing or invalid Host".into()));
    }
    Ok(())
}

/// Checks the method and replaces the path by its normal form, so that routing, the cache key
/// and the forwarded path all see the same resource. The query is kept as received.
pub fn normalize(head: &mut Parts) -> Result<(), GatewayError> {
    normalize::method(&head.method).map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    if normalize::is_refused_method(&head.method) {
        return Err(GatewayError::MethodNotImplemented(head.method.clone()));
    }
    let path = normalize::path(head.uri.path()).map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    if path == head.uri.path() {
        return Ok(());
    }
    let target = match head.uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.into_owned(),
    };
    let mut parts = head.uri.clone().into_parts();
    parts.path_and_query = Some(
        PathAndQuery::try_from(target).map_err(|e| GatewayError::BadRequest(format!("invalid path: {e}")))?,
    );
    head.uri = Uri::from_parts(parts).map_err(|e| GatewayError::BadRequest(format!("invalid URI: {e}")))?;
    Ok(())
}

/// The declared body length. Conflicting or malformed `Content-Length`, or one sent together
/// with `Transfer-Encoding`, is refused (request smuggling, RFC 9112 §6.3).
fn content_length(head: &Parts) -> Result<Option<u64>, GatewayError> {
    let mut lengths = head.headers.get_all(CONTENT_LENGTH).iter().peekable();
    if lengths.peek().is_none() {
        return Ok(None);
    }
    if head.headers.contains_key(TRANSFER_ENCODING) {
        return Err(GatewayError::BadRequest("both Content-Length and Transfer-Encoding".into()));
    }
    let mut found: Option<u64> = None;
    for value in lengths {
        let parsed = value
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| GatewayError::BadRequest("malformed Content-Length".into()))?;
        if found.is_some_and(|previous| previous != parsed) {
            return Err(GatewayError::BadRequest("conflicting Content-Length values".into()));
        }
        found = Some(parsed);
    }
    Ok(found)
}

/// The host the client asked for: the URI authority, else the `Host` header.
pub fn host(head: &Parts) -> Option<&str> {
    let host = head
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| head.headers.get(HOST).and_then(|h| h.to_str().ok()))?;
    let valid = !host.is_empty()
        && host.len() <= 261
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    valid.then_some(host)
}
