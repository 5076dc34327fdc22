//! `/__gateway/admin/…`: the authenticated admin API (routes versions) and the status page.
//!
//! Enabled only when the platform holds an admin secret ([`Ports::admin_secret`]: the Workers
//! secret `ADMIN_SECRET`, the Spin variable `admin_secret`); without one every admin path answers
//! 404 as if it did not exist. The caller sends `Authorization: Bearer <secret>`, compared in
//! constant time; after [`MAX_FAILURES`] failed attempts in a minute an instance answers 429 with
//! `Retry-After` to everyone until the minute is over (on Spin an instance lives for one request,
//! so there the limit only bounds one request's work).
//!
//! | request | answer |
//! |---|---|
//! | `GET routes` | `{"version", "published_at", "document"}`, 404 when nothing is published |
//! | `GET routes/history` | `{"versions": [{"version", "published_at", "current"}]}`, newest first |
//! | `PUT routes[?dry_run=true]` | 201 `{"version", "published_at", "previous"}`; 422 with `errors` |
//! | `POST routes/rollback` `{"version"?}` | 200 `{"version", "previous"}`; 404 unknown; 422 invalid |
//! | `GET status`, `GET status.json` | the status page ([`super::status`]) |
//!
//! A push validates with [`Config::from_json`] and then writes, in this order: the immutable
//! version `routes/versions/<id>`, the history [`HISTORY_KEY`] (the last [`HISTORY_LEN`]), and
//! only then `routes/current` and `routes/last-good`. So a push that fails at any step leaves the
//! live version as it was, and `current` can only ever name a version already written, whatever
//! concurrent pushes interleave (the history, a read-modify-write, may then miss one of them).

use std::cell::Cell;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::apikey::constant_time_eq;
use crate::body::Body;
use crate::config::{Config, ConfigError};
use crate::live::{CURRENT_KEY, LAST_GOOD_KEY, is_version_id, version_key};
use crate::normalize;
use crate::ports::{BodyError, Clock, KeyValue, Level, Log, Ports, UnixMillis, Upstream};
use crate::problem::{PROBLEM_JSON, Problem};

use super::{Gateway, status};

/// Every admin path starts with this.
pub(super) const ADMIN_PREFIX: &str = "/__gateway/admin/";
/// Key of the publication history: `{"versions": [{"version", "published_at"}]}`, newest first.
pub const HISTORY_KEY: &str = "routes/history";
/// Entries the history keeps.
pub const HISTORY_LEN: usize = 50;
/// Failed attempts an instance tolerates per minute.
pub const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW_MS: u64 = 60_000;
/// The largest routes document a push accepts.
const MAX_DOCUMENT_BYTES: u64 = 1 << 20;

/// Failed authentication attempts in the current minute.
#[derive(Debug, Default)]
pub(super) struct Guard {
    window_start: Cell<UnixMillis>,
    failures: Cell<u32>,
}

impl Guard {
    /// Seconds until attempts are heard again, when the instance is refusing them now.
    fn locked(&self, now: UnixMillis) -> Option<u64> {
        let end = self.window_start.get() + FAILURE_WINDOW_MS;
        (now < end && self.failures.get() >= MAX_FAILURES).then(|| (end - now).div_ceil(1000))
    }

    fn fail(&self, now: UnixMillis) {
        if now >= self.window_start.get() + FAILURE_WINDOW_MS {
            self.window_start.set(now);
            self.failures.set(0);
        }
        self.failures.set(self.failures.get() + 1);
    }
}

/// Why an admin request was refused; [`AdminError::respond`] makes the problem response.
#[derive(Debug)]
enum AdminError {
    /// No or wrong secret.
    Unauthorized,
    /// Too many failed attempts; retry after this many seconds.
    Locked(u64),
    /// No such path, version or publication.
    NotFound(String),
    /// The path exists, not with this method.
    MethodNotAllowed(&'static str),
    /// The body is not what the request needs.
    BadRequest(String),
    /// The document (pushed or stored) does not validate.
    Invalid(Vec<ConfigError>),
    /// The store failed; the detail is logged, not sent.
    Store(String),
}

impl AdminError {
    fn respond<S>(self, request_id: &str) -> Response<Body<S>> {
        let (status, kind, detail) = match &self {
            AdminError::Unauthorized => {
                (StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong admin secret".into())
            }
            AdminError::Locked(_) => {
                (StatusCode::TOO_MANY_REQUESTS, "admin-locked", "too many failed attempts".into())
            }
            AdminError::NotFound(what) => (StatusCode::NOT_FOUND, "not-found", what.clone()),
            AdminError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "method not allowed here".into())
            }
            AdminError::BadRequest(why) => (StatusCode::BAD_REQUEST, "bad-request", why.clone()),
            AdminError::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-routes",
                format!("{} error(s) in the routes document", errors.len()),
            ),
            AdminError::Store(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "the key-value store failed".into())
            }
        };
        let problem = Problem {
            kind: format!("urn:edge-gateway:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            request_id: Some(request_id.to_owned()),
        };
        let mut body = serde_json::to_value(&problem).unwrap_or_default();
        if let (AdminError::Invalid(errors), Value::Object(map)) = (&self, &mut body) {
            let list = errors.iter().map(|e| json!({ "path": e.path, "reason": e.reason })).collect();
            map.insert("errors".into(), Value::Array(list));
        }
        let mut response = answer(status, PROBLEM_JSON, body.to_string());
        let headers = response.headers_mut();
        match self {
            AdminError::Unauthorized => {
                headers.insert(
                    http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"gateway-admin\""),
                );
            }
            AdminError::Locked(seconds) => {
                headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
            }
            AdminError::MethodNotAllowed(allow) => {
                headers.insert(http::header::ALLOW, HeaderValue::from_static(allow));
            }
            _ => {}
        }
        response
    }
}

fn answer<S>(status: StatusCode, content_type: &'static str, body: String) -> Response<Body<S>> {
    let mut response = Response::new(Body::Bytes(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json_answer<S>(status: StatusCode, value: &Value) -> Response<Body<S>> {
    answer(status, "application/json", value.to_string())
}

/// `Some` when the request names the admin API: the admin secret, empty when the API is not
/// enabled (every admin path then answers 404). The path is judged in its normal form
/// ([`normalize::path`]), so `/__gateway/%61dmin/…` or `//__gateway/admin/…` name the API as
/// the plain spelling does: an admin path is never routed on to an origin, with or without a
/// secret, whatever the routes document's catch-all.
pub(super) fn enabled<P: Ports>(ports: &P, path: &str) -> Option<String> {
    let path = normalize::path(path).ok()?;
    let names_admin = path.starts_with(ADMIN_PREFIX) || path == ADMIN_PREFIX.trim_end_matches('/');
    names_admin.then(|| ports.admin_secret().unwrap_or_default())
}

/// Serves one admin request (one [`enabled`] said names the API). Never fails.
pub(super) async fn endpoint<P: Ports>(
    gateway: &Gateway,
    ports: &P,
    request: Request<Body<P::Stream>>,
    secret: &str,
    request_id: &str,
) -> Response<Body<P::Stream>> {
    match serve(gateway, ports, request, secret).await {
        Ok(response) => response,
        Err(error) => {
            match &error {
                AdminError::Store(detail) => {
                    ports.log().record(Level::Error, &format!("admin request {request_id} failed: {detail}"))
                }
                other => {
                    ports.log().record(Level::Info, &format!("admin request {request_id} refused: {other:?}"))
                }
            }
            error.respond(request_id)
        }
    }
}

async fn serve<P: Ports>(
    gateway: &Gateway,
    ports: &P,
    request: Request<Body<P::Stream>>,
    secret: &str,
) -> Result<Response<Body<P::Stream>>, AdminError> {
    if secret.is_empty() {
        return Err(AdminError::NotFound("no such path".into()));
    }
    let now = ports.clock().now();
    if let Some(seconds) = gateway.admin.locked(now) {
        return Err(AdminError::Locked(seconds));
    }
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !constant_time_eq(presented.as_bytes(), secret.as_bytes()) {
        gateway.admin.fail(now);
        return Err(AdminError::Unauthorized);
    }
    let (head, body) = request.into_parts();
    let normal = normalize::path(head.uri.path()).unwrap_or_default();
    let path = normal.strip_prefix(ADMIN_PREFIX).unwrap_or_default();
    let dry_run =
        head.uri.query().unwrap_or_default().split('&').any(|p| p == "dry_run=true" || p == "dry_run=1");
    match (path, &head.method) {
        ("routes", &Method::GET) => current_routes(ports).await,
        ("routes", &Method::PUT) => push(ports, read_body(ports, body).await?, dry_run).await,
        ("routes", _) => Err(AdminError::MethodNotAllowed("GET, PUT")),
        ("routes/history", &Method::GET) => history_answer(ports).await,
        ("routes/rollback", &Method::POST) => rollback(ports, &read_body(ports, body).await?).await,
        ("status", &Method::GET) => {
            let status = status::gather(gateway, ports, live_published_at(gateway, ports).await).await;
            Ok(answer(StatusCode::OK, "text/html; charset=utf-8", status::html(&status)))
        }
        ("status.json", &Method::GET) => {
            let status = status::gather(gateway, ports, live_published_at(gateway, ports).await).await;
            Ok(json_answer(StatusCode::OK, &serde_json::to_value(&status).unwrap_or_default()))
        }
        ("routes/history" | "status" | "status.json", _) => Err(AdminError::MethodNotAllowed("GET")),
        ("routes/rollback", _) => Err(AdminError::MethodNotAllowed("POST")),
        _ => Err(AdminError::NotFound(format!("no admin endpoint `{path}`"))),
    }
}

async fn read_body<P: Ports>(ports: &P, body: Body<P::Stream>) -> Result<Bytes, AdminError> {
    let read = match body {
        Body::Empty => return Ok(Bytes::new()),
        Body::Bytes(bytes) => Body::Bytes(bytes),
        Body::Stream(stream) => {
            ports.upstream().limit_body(stream, MAX_DOCUMENT_BYTES).await.map_err(|e| match e {
                BodyError::TooLarge { limit, .. } => {
                    AdminError::BadRequest(format!("body exceeds {limit} bytes"))
                }
                other => AdminError::BadRequest(other.to_string()),
            })?
        }
    };
    match read {
        Body::Bytes(bytes) if bytes.len() as u64 <= MAX_DOCUMENT_BYTES => Ok(bytes),
        Body::Empty => Ok(Bytes::new()),
        _ => Err(AdminError::BadRequest(format!("body unreadable or over {MAX_DOCUMENT_BYTES} bytes"))),
    }
}

/// One publication in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    version: String,
    published_at: UnixMillis,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct History {
    versions: Vec<Entry>,
}

async fn get_text<P: Ports>(ports: &P, key: &str) -> Result<Option<Vec<u8>>, AdminError> {
    ports.kv().get(key).await.map_err(|e| AdminError::Store(format!("reading `{key}`: {e}")))
}

async fn put<P: Ports>(ports: &P, key: &str, value: &[u8]) -> Result<(), AdminError> {
    ports.kv().put(key, value, None).await.map_err(|e| AdminError::Store(format!("writing `{key}`: {e}")))
}

async fn current_id<P: Ports>(ports: &P) -> Result<Option<String>, AdminError> {
    let id = get_text(ports, CURRENT_KEY).await?.map(|v| String::from_utf8_lossy(&v).trim().to_owned());
    Ok(id.filter(|id| is_version_id(id)))
}

async fn history<P: Ports>(ports: &P) -> Result<History, AdminError> {
    let Some(bytes) = get_text(ports, HISTORY_KEY).await? else { return Ok(History::default()) };
    Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        ports.log().record(Level::Warn, &format!("admin: `{HISTORY_KEY}` unreadable ({e}); starting afresh"));
        History::default()
    }))
}

/// When `id` was published: from the history, else from an id that starts with its timestamp.
fn published_at(history: &History, id: &str) -> Option<UnixMillis> {
    history
        .versions
        .iter()
        .find(|e| e.version == id)
        .map(|e| e.published_at)
        .or_else(|| id.split('-').next().and_then(|t| t.parse().ok()))
}

async fn live_published_at<P: Ports>(gateway: &Gateway, ports: &P) -> Option<UnixMillis> {
    let id = gateway.live.version()?;
    published_at(&history(ports).await.ok()?, &id)
}

async fn current_routes<P: Ports>(ports: &P) -> Result<Response<Body<P::Stream>>, AdminError> {
    let id =
        current_id(ports).await?.ok_or_else(|| AdminError::NotFound("no routes are published".into()))?;
    let document = get_text(ports, &version_key(&id))
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("version {id} is missing from the store")))?;
    let document: Value = serde_json::from_slice(&document).unwrap_or(Value::Null);
    let at = published_at(&history(ports).await?, &id);
    Ok(json_answer(StatusCode::OK, &json!({ "version": id, "published_at": at, "document": document })))
}

async fn history_answer<P: Ports>(ports: &P) -> Result<Response<Body<P::Stream>>, AdminError> {
    let current = current_id(ports).await?;
    let versions: Vec<Value> = history(ports)
        .await?
        .versions
        .into_iter()
        .map(|e| {
            let live = current.as_deref() == Some(e.version.as_str());
            json!({ "version": e.version, "published_at": e.published_at, "current": live })
        })
        .collect();
    Ok(json_answer(StatusCode::OK, &json!({ "versions": versions })))
}

/// The id of a document pushed at `now`: the timestamp and the first 8 hex digits of its SHA-256.
pub fn version_id(now: UnixMillis, document: &[u8]) -> String {
    let digest = Sha256::digest(document);
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{now}-{hash}")
}

async fn push<P: Ports>(
    ports: &P,
    document: Bytes,
    dry_run: bool,
) -> Result<Response<Body<P::Stream>>, AdminError> {
    Config::from_json(&document).map_err(|errors| AdminError::Invalid(errors.0))?;
    let now = ports.clock().now();
    let id = version_id(now, &document);
    let previous = current_id(ports).await?;
    let outcome = json!({ "version": id, "published_at": now, "previous": previous });
    if dry_run {
        let mut outcome = outcome;
        outcome["dry_run"] = Value::Bool(true);
        return Ok(json_answer(StatusCode::OK, &outcome));
    }
    put(ports, &version_key(&id), &document).await?;
    let mut history = history(ports).await?;
    history.versions.retain(|e| e.version != id);
    history.versions.insert(0, Entry { version: id.clone(), published_at: now });
    history.versions.truncate(HISTORY_LEN);
    put(ports, HISTORY_KEY, &serde_json::to_vec(&history).unwrap_or_default()).await?;
    flip(ports, &id).await?;
    ports.log().record(
        Level::Info,
        &format!("admin: pushed routes version {id} (previous {})", previous.as_deref().unwrap_or("none")),
    );
    Ok(json_answer(StatusCode::CREATED, &outcome))
}

/// Points `routes/current`, then `routes/last-good`, at `id` (already written).
async fn flip<P: Ports>(ports: &P, id: &str) -> Result<(), AdminError> {
    put(ports, CURRENT_KEY, id.as_bytes()).await?;
    if let Err(error) = put(ports, LAST_GOOD_KEY, id.as_bytes()).await {
        ports.log().record(Level::Warn, &format!("admin: current is {id}, last-good not updated: {error:?}"));
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackRequest {
    version: Option<String>,
}

async fn rollback<P: Ports>(ports: &P, body: &[u8]) -> Result<Response<Body<P::Stream>>, AdminError> {
    let request: RollbackRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RollbackRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| AdminError::BadRequest(format!("rollback body: {e}")))?
    };
    let previous = current_id(ports).await?;
    let target = match request.version {
        Some(id) => id,
        None => previous_in_history(&history(ports).await?, previous.as_deref())
            .ok_or_else(|| AdminError::NotFound("no earlier version in the history".into()))?,
    };
    let missing = || AdminError::NotFound(format!("unknown version `{target}`"));
    if !is_version_id(&target) {
        return Err(missing());
    }
    let document = get_text(ports, &version_key(&target)).await?.ok_or_else(missing)?;
    Config::from_json(&document).map_err(|errors| AdminError::Invalid(errors.0))?;
    flip(ports, &target).await?;
    ports.log().record(
        Level::Info,
        &format!("admin: rolled back to {target} (from {})", previous.as_deref().unwrap_or("none")),
    );
    Ok(json_answer(StatusCode::OK, &json!({ "version": target, "previous": previous })))
}

/// The publication before `current` in the history (or the newest other one when `current` is
/// not in it).
fn previous_in_history(history: &History, current: Option<&str>) -> Option<String> {
    let ids: Vec<&str> = history.versions.iter().map(|e| e.version.as_str()).collect();
    match ids.iter().position(|id| Some(*id) == current) {
        Some(index) => ids.get(index + 1).map(|id| (*id).to_owned()),
        None => ids.first().map(|id| (*id).to_owned()),
    }
}
