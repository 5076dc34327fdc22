//! `POST /__gateway/purge?url=…&prefix=…&tag=…&all=1`: purge the edge cache everywhere, and the
//! origin shields of every region.
//!
//! Enabled only when the platform holds a purge secret ([`Ports::purge_secret`]: a Workers
//! secret); without one the path is routed like any other. The caller sends
//! `Authorization: Bearer <secret>` (compared in constant time). A purge writes new stamps to
//! the `cache/purge` document in KV ([`crate::cache::purge`]); every instance honours them once
//! its copy is older than the config TTL, so the answer states the propagation bound. When the
//! platform also holds the shields' purge secret ([`Ports::shield_purge_secret`]), the same
//! purge is sent to each region's `POST /__shield/purge` (URLs and prefixes as paths, which is
//! what the shields see when a route neither strips nor rewrites the path), and the answer
//! lists each region's outcome.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderValue, Method, Response};

use crate::auth::apikey::constant_time_eq;
use crate::body::Body;
use crate::cache::purge::{PURGE_KEY, PurgeRequest, PurgeStamps};
use crate::config::Config;
use crate::error::{GatewayError, Unauthorized};
use crate::ports::{Clock, KeyValue, Level, Log, Ports, Upstream};
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
            ports.log().record(Level::Error, &format!("purge: reading `{PURGE_KEY}` failed: {e}"));
            return Err(GatewayError::Internal);
        }
    };
    current.apply(&request, now);
    let document = serde_json::to_vec(&current).unwrap_or_default();
    if let Err(e) = ports.kv().put(PURGE_KEY, &document, None).await {
        ports.log().record(Level::Error, &format!("purge: writing `{PURGE_KEY}` failed: {e}"));
        return Err(GatewayError::Internal);
    }
    stamps.invalidate();
    ports
        .log()
        .record(Level::Info, &format!("purge: {}", serde_json::to_string(&request).unwrap_or_default()));
    let shields = match ports.shield_purge_secret().filter(|s| !s.is_empty()) {
        Some(shield_secret) => purge_shields(ports, config, &request, &shield_secret).await,
        None => serde_json::Map::new(),
    };
    let propagation_ms = config.settings.config_ttl.as_millis() as u64 + KV_PROPAGATION_MS;
    let body = serde_json::json!({
        "purged": request, "stamp": now, "propagation_ms": propagation_ms, "shields": shields,
    });
    let mut response = Response::new(Body::Bytes(Bytes::from(body.to_string())));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Sends `request` to every region's shield; one outcome per region (`purged` or why not).
async fn purge_shields<P: Ports>(
    ports: &P,
    config: &Config,
    request: &PurgeRequest,
    secret: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut bodies = Vec::new();
    if request.all {
        bodies.push(serde_json::json!({ "prefixes": ["/"] }));
    }
    for (field, names) in [("urls", &request.urls), ("tags", &request.tags), ("prefixes", &request.prefixes)]
    {
        if !names.is_empty() {
            bodies.push(serde_json::json!({ field: names }));
        }
    }
    let mut outcomes = serde_json::Map::new();
    for region in &config.regions {
        let mut outcome = "purged".to_owned();
        for body in &bodies {
            let Ok(uri) = format!("{}/__shield/purge", region.shield).parse::<http::Uri>() else { continue };
            let mut shield_request = http::Request::new(Body::Bytes(Bytes::from(body.to_string())));
            *shield_request.method_mut() = Method::POST;
            *shield_request.uri_mut() = uri;
            let headers = shield_request.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Ok(value) = HeaderValue::from_str(&format!("Bearer {secret}")) {
                headers.insert(AUTHORIZATION, value);
            }
            match ports.upstream().send(shield_request, config.settings.timeouts).await {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => outcome = format!("status {}", response.status().as_u16()),
                Err(error) => outcome = error.to_string(),
            }
        }
        if outcome != "purged" {
            ports.log().record(Level::Warn, &format!("purge: shield {}: {outcome}", region.name));
        }
        outcomes.insert(region.name.clone(), serde_json::Value::String(outcome));
    }
    outcomes
}
