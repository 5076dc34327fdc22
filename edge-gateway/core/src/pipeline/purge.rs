//! `POST /__gateway/purge?url=…&prefix=…&tag=…&all=1`: purge the edge cache everywhere.
//!
//! Enabled only when the platform holds a purge secret ([`Ports::purge_secret`]: a Workers
//! secret, a Spin variable); without one the path is routed like any other. The caller sends
//! `Authorization: Bearer <secret>` (compared in constant time). A purge writes new stamps to
//! the `cache/purge` document in KV ([`crate::cache::purge`]); every instance honours them once
//! its copy is older than the config TTL, so the answer states the propagation bound.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderValue, Method, Response};

use crate::auth::apikey::constant_time_eq;
use crate::body::Body;
use crate::cache::purge::{PURGE_KEY, PurgeRequest, PurgeStamps};
use crate::config::Config;
use crate::error::{GatewayError, Unauthorized};
use crate::ports::{Clock, KeyValue, Level, Log, Ports};
use crate::stages::edge_cache::Stamps;

/// The purge endpoint's path.
pub(super) const PURGE_PATH: &str = "/__gateway/purge";
/// Workers KV's own propagation bound, added to the config TTL in the answer.
const KV_PROPAGATION_MS: u64 = 60_000;

/// `Some(answer)` when the request is for the purge endpoint and the endpoint is enabled.
pub(super) async fn endpoint<P: Ports>(
    ports: &P,
    stamps: &Stamps,
    config: &Config,
    head: &Parts,
) -> Option<Result<Response<Body<P::Stream>>, GatewayError>> {
    if head.uri.path() != PURGE_PATH {
        return None;
    }
    let secret = ports.purge_secret().filter(|s| !s.is_empty())?;
    Some(purge(ports, stamps, config, head, &secret).await)
}

async fn purge<P: Ports>(
    ports: &P,
    stamps: &Stamps,
    config: &Config,
    head: &Parts,
    secret: &str,
) -> Result<Response<Body<P::Stream>>, GatewayError> {
    if head.method != Method::POST {
        return Err(GatewayError::MethodNotAllowed { allow: vec![Method::POST] });
    }
    let presented = head
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !constant_time_eq(presented.as_bytes(), secret.as_bytes()) {
        return Err(GatewayError::Unauthorized(Unauthorized::InvalidToken("wrong purge secret".into())));
    }
    let request =
        PurgeRequest::from_query(head.uri.query().unwrap_or_default()).map_err(GatewayError::BadRequest)?;
    let now = ports.clock().now();
    let mut current: PurgeStamps = match ports.kv().get(PURGE_KEY).await {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Ok(None) => PurgeStamps::default(),
        Err(e) => {
            ports.log().log(Level::Error, &format!("purge: reading `{PURGE_KEY}` failed: {e}"));
            return Err(GatewayError::Internal);
        }
    };
    current.apply(&request, now);
    let document = serde_json::to_vec(&current).unwrap_or_default();
    if let Err(e) = ports.kv().put(PURGE_KEY, &document, None).await {
        ports.log().log(Level::Error, &format!("purge: writing `{PURGE_KEY}` failed: {e}"));
        return Err(GatewayError::Internal);
    }
    stamps.invalidate();
    ports.log().log(Level::Info, &format!("purge: {}", serde_json::to_string(&request).unwrap_or_default()));
    let propagation_ms = config.settings.config_ttl.as_millis() as u64 + KV_PROPAGATION_MS;
    let body = serde_json::json!({ "purged": request, "stamp": now, "propagation_ms": propagation_ms });
    let mut response = Response::new(Body::Bytes(Bytes::from(body.to_string())));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
