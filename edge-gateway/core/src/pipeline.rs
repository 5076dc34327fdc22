//! The request pipeline: one function that reads top to bottom.
//!
//! ```text
//! config → limits → (purge endpoint) → route → authenticate → rate-limit (leases) → choose regions
//!        → edge cache: hit | forward (failover) → store → Cache-Status
//! ```
//!
//! Each stage is a pure decision from its own module; this file only calls them in order and
//! does the I/O they ask for through the [`Ports`]. Any refusal or failure becomes a problem
//! response in [`crate::problem::respond`]; a response from a shield is passed through with its
//! body still streaming. The cache step is in `pipeline/cached.rs`, the purge endpoint in
//! `pipeline/purge.rs`.

mod cached;
mod purge;

use std::net::IpAddr;

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};

use crate::body::Body;
use crate::config::{Config, Route};
use crate::error::GatewayError;
use crate::forward::{self, ForwardFacts, Trace};
use crate::geo::{self, GeoPoint};
use crate::limits;
use crate::live::LiveConfig;
use crate::ports::{BodyError, Level, Log, Ports, Upstream, UpstreamError};

use crate::cache::{CacheStatus, Forward};
use crate::ports::EdgeCache;
use crate::problem;
use crate::ratelimit::key::KeyFacts;
use crate::routing::RouteMatch;
use crate::stages::edge_cache::{self, CACHE_NAME, Plan, Stamps};
use crate::stages::{Authenticator, Identity, Limiter};

pub use cached::Deferred;

/// What the platform knows about the client, never taken from client-sent headers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientInfo {
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// Where the client is, when the platform knows (Workers' `request.cf`).
    pub location: Option<GeoPoint>,
}

/// The gateway of one instance: its live config, its authentication state and the pipeline.
#[derive(Debug, Default)]
pub struct Gateway {
    live: LiveConfig,
    auth: Authenticator,
    limiter: Limiter,
    stamps: Stamps,
}

/// Ids that follow one request through the gateway.
struct RequestIds {
    request_id: String,
    trace: Trace,
}

/// The request head as received, and who sent it.
struct Outgoing {
    head: Parts,
    identity: Identity,
}

/// A route matched for a request, with its path parameters.
struct Matched<'c> {
    route: &'c Route,
    params: Vec<(String, String)>,
}

impl Gateway {
    /// A gateway that has not loaded any config yet.
    pub fn new() -> Gateway {
        Gateway::default()
    }

    /// The version of the routes document in use, if any.
    pub fn config_version(&self) -> Option<String> {
        self.live.version()
    }

    /// Serves one request. Never fails: refusals and errors become problem responses. Work
    /// deferred past the response (background revalidation) is dropped: platforms that can run
    /// it use [`Gateway::handle_deferred`].
    pub async fn handle<P: Ports>(
        &self,
        ports: &P,
        request: Request<Body<P::Stream>>,
        client: &ClientInfo,
    ) -> Response<Body<P::Stream>> {
        self.handle_deferred(ports, request, client).await.0
    }

    /// [`Gateway::handle`], returning also the work to run after the response
    /// ([`Gateway::run_deferred`]).
    pub async fn handle_deferred<P: Ports>(
        &self,
        ports: &P,
        request: Request<Body<P::Stream>>,
        client: &ClientInfo,
    ) -> (Response<Body<P::Stream>>, Option<Deferred>) {
        let trace = Trace::start(request.headers(), ports.entropy());
        let ids = RequestIds { request_id: forward::trace::request_id(request.headers(), &trace), trace };
        match self.serve(ports, request, client, &ids).await {
            Ok(served) => served,
            Err(error) => {
                let level = if error.status().is_server_error() { Level::Error } else { Level::Info };
                ports.log().record(level, &format!("request {} refused: {error}", ids.request_id));
                (problem::respond(&error, &ids.request_id), None)
            }
        }
    }

    async fn serve<P: Ports>(
        &self,
        ports: &P,
        request: Request<Body<P::Stream>>,
        client: &ClientInfo,
        ids: &RequestIds,
    ) -> Result<(Response<Body<P::Stream>>, Option<Deferred>), GatewayError> {
        let config = self.live.current(ports).await?;
        let (mut head, body) = request.into_parts();
        limits::check(&head, &config.settings)?;
        limits::normalize(&mut head)?;
        if let Some(response) = purge::endpoint(ports, &self.stamps, &config, &head).await {
            return response.map(|r| (r, None));
        }
        let matched = route(&config, &head)?;
        let identity = self.auth.authenticate(ports, &config, matched.route.auth.as_ref(), &head).await?;
        let facts = KeyFacts {
            route_id: &matched.route.id,
            identity: &identity,
            client_ip: client.ip,
            headers: &head.headers,
        };
        let limited = self.limiter.check(ports, &config, matched.route, &facts).await?;
        let body = limit_undeclared_body(ports, &head, body, config.settings.max_request_body_bytes).await?;
        let pool = &config.pools[matched.route.pool];
        let regions = geo::candidate_regions(pool, &config.regions, client.location);
        let outgoing = Outgoing { head, identity };
        let cx = cached::Context { config: &config, matched: &matched, regions: &regions, client, ids };
        let (mut response, deferred) = self.pass(ports, &cx, outgoing, body).await?;
        for (name, value) in limited {
            response.headers_mut().insert(name, value);
        }
        Ok((response, deferred))
    }

    /// The request after the policy stages: through the edge cache or straight to a region.
    async fn pass<P: Ports>(
        &self,
        ports: &P,
        cx: &cached::Context<'_, '_>,
        outgoing: Outgoing,
        body: Body<P::Stream>,
    ) -> Result<(Response<Body<P::Stream>>, Option<Deferred>), GatewayError> {
        let (config, matched) = (cx.config, cx.matched);
        let plan = edge_cache::plan(matched.route, &outgoing.head, ports.cache().available());
        match plan {
            Plan::Lookup { key, path } => self.through_cache(ports, cx, outgoing, body, key, path).await,
            Plan::Forward(reason, detail) => {
                let method_head = (reason == Forward::Method).then(|| copy_head(&outgoing.head));
                let mut response = forward_with_failover(
                    ports, config, matched, outgoing, body, cx.regions, cx.client, cx.ids,
                )
                .await?;
                if let Some(head) = method_head {
                    edge_cache::invalidate(
                        ports,
                        matched.route,
                        &head,
                        response.status(),
                        response.headers(),
                    )
                    .await;
                }
                let status = CacheStatus {
                    fwd_status: Some(response.status()),
                    detail,
                    ..CacheStatus::forward(CACHE_NAME, reason)
                };
                edge_cache::mark(&mut response, &status);
                Ok((response, None))
            }
        }
    }
}

/// A streamed body without `Content-Length` is read up to the limit (413 past it); declared
/// lengths were already checked by [`limits::check`].
async fn limit_undeclared_body<P: Ports>(
    ports: &P,
    head: &Parts,
    body: Body<P::Stream>,
    limit: u64,
) -> Result<Body<P::Stream>, GatewayError> {
    let Body::Stream(stream) = body else { return Ok(body) };
    if head.headers.contains_key(CONTENT_LENGTH) {
        return Ok(Body::Stream(stream));
    }
    ports.upstream().limit_body(stream, limit).await.map_err(|error| match error {
        BodyError::TooLarge { read, limit } => GatewayError::PayloadTooLarge { length: read, limit },
        other => GatewayError::BadRequest(other.to_string()),
    })
}

/// A copy of a request head (method, URI, headers) for work after the request is forwarded:
/// invalidation after an unsafe method, revalidation after a stale answer. (`Parts` is not
/// `Clone`: its extensions may not be.)
fn copy_head(head: &Parts) -> Parts {
    let mut copy = Request::new(());
    *copy.method_mut() = head.method.clone();
    *copy.uri_mut() = head.uri.clone();
    *copy.headers_mut() = head.headers.clone();
    copy.into_parts().0
}

fn route<'c>(config: &'c Config, head: &Parts) -> Result<Matched<'c>, GatewayError> {
    let host = limits::host(head).unwrap_or_default();
    match config.router.lookup(&config.routes, host, &head.method, head.uri.path()) {
        RouteMatch::Found { route, params } => Ok(Matched { route: &config.routes[route], params }),
        RouteMatch::MethodNotAllowed { allow } => Err(GatewayError::MethodNotAllowed { allow }),
        RouteMatch::NotFound => Err(GatewayError::RouteNotFound),
    }
}

/// Sends the request to each candidate region in turn until one answers usefully.
///
/// A request is sent to another region only when its body is empty (it can be replayed) and
/// either nothing reached the failed region (connect error) or the method is idempotent and the
/// region timed out or answered 502/503/504.
#[allow(clippy::too_many_arguments)]
async fn forward_with_failover<P: Ports>(
    ports: &P,
    config: &Config,
    matched: &Matched<'_>,
    outgoing: Outgoing,
    body: Body<P::Stream>,
    regions: &[usize],
    client: &ClientInfo,
    ids: &RequestIds,
) -> Result<Response<Body<P::Stream>>, GatewayError> {
    let head = &outgoing.head;
    let host = limits::host(head).unwrap_or_default().to_owned();
    let proto = head.uri.scheme_str().unwrap_or("https").to_owned();
    let facts = ForwardFacts {
        client_ip: client.ip,
        proto: &proto,
        host: &host,
        request_id: &ids.request_id,
        trace: &ids.trace,
    };
    let mut headers = forward::upstream_headers(&head.headers, &facts);
    let query = forward::credentials::apply(
        &mut headers,
        head.uri.query(),
        &config.auth,
        matched.route.auth.as_ref(),
        &outgoing.identity,
    );
    forward::set_cache_scope(&mut headers, &matched.route.id, matched.route.auth.is_some());
    let path = forward::edit_path(&matched.route.path_edit, head.uri.path(), &matched.params);
    let replayable = body.is_empty();
    if replayable {
        headers.remove(CONTENT_LENGTH);
        headers.remove(TRANSFER_ENCODING);
    }
    let mut body = Some(body);
    let mut last_error = GatewayError::UpstreamConnect("no region to try".into());
    for (attempt, &index) in regions.iter().enumerate() {
        let region = &config.regions[index];
        let uri = forward::upstream_uri(region, &path, query.as_deref())
            .map_err(|e| GatewayError::BadRequest(format!("cannot build upstream URL: {e}")))?;
        let mut request = Request::new(body.take().unwrap_or(Body::Empty));
        *request.method_mut() = head.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers.clone();
        let last = attempt + 1 == regions.len();
        let outcome = ports.upstream().send(request, matched.route.timeouts).await;
        let error = match outcome {
            Ok(response) if last || !retry_status(response.status(), &head.method) => {
                let (mut parts, body) = response.into_parts();
                forward::client_headers(&mut parts.headers, &ids.request_id, &region.name, &matched.route.id);
                return Ok(Response::from_parts(parts, body));
            }
            Ok(response) => GatewayError::UpstreamProtocol(format!("status {}", response.status())),
            Err(error) => upstream_error(error),
        };
        ports.log().record(
            Level::Warn,
            &format!(
                "request {}: region {} failed (attempt {}): {error}",
                ids.request_id,
                region.name,
                attempt + 1
            ),
        );
        let may_retry = replayable && (error.retryable() || idempotent(&head.method));
        last_error = error;
        if !may_retry {
            break;
        }
    }
    Err(last_error)
}

fn upstream_error(error: UpstreamError) -> GatewayError {
    match error {
        UpstreamError::Connect(reason) => GatewayError::UpstreamConnect(reason),
        UpstreamError::Timeout(after) => GatewayError::UpstreamTimeout(after),
        UpstreamError::Protocol(reason) => GatewayError::UpstreamProtocol(reason),
    }
}

/// Statuses that mean "this region failed", worth another region for idempotent methods.
fn retry_status(status: StatusCode, method: &Method) -> bool {
    matches!(status.as_u16(), 502..=504) && idempotent(method)
}

fn idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE)
}
