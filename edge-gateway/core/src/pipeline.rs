//! The request pipeline: one function that reads top to bottom.
//!
//! ```text
//! (admin API) → config → limits → (purge endpoint) → route → authenticate → rate-limit (leases) → choose regions
//!        → edge cache: hit | forward (failover) → store → Cache-Status
//! ```
//!
//! Each stage is a pure decision from its own module; this file only calls them in order and
//! does the I/O they ask for through the [`Ports`]. Any refusal or failure becomes a problem
//! response in [`crate::problem::respond`]; a response from a shield is passed through with its
//! body still streaming. The cache step is in `pipeline/cached.rs`, the purge endpoint in
//! `pipeline/purge.rs`, the admin API and status page in `pipeline/admin.rs` and
//! `pipeline/status.rs` (before the config is loaded: a push must work with none published).

mod admin;
mod cached;
mod failover;
mod observe;
mod probe;
mod purge;
mod status;

use std::net::IpAddr;

use http::header::CONTENT_LENGTH;
use http::request::Parts;
use http::{Request, Response};

use crate::body::Body;
use crate::config::{Config, Pool, Route};
use crate::error::GatewayError;
use crate::geo::{self, GeoPoint};
use crate::limits;
use crate::live::LiveConfig;
use crate::ports::{BodyError, Clock, Level, Log, Ports, Upstream};

use crate::cache::{CacheStatus, Forward};
use crate::ports::EdgeCache;
use crate::problem;
use crate::ratelimit::key::KeyFacts;
use crate::routing::RouteMatch;
use crate::stages::edge_cache::{self, CACHE_NAME, Plan, Stamps};
use crate::stages::{Authenticator, Health, Identity, Limiter};
use observe::RequestIds;

pub use admin::{HISTORY_KEY, HISTORY_LEN, MAX_FAILURES, version_id};
pub use cached::Deferred;
pub use probe::{PROBE_ELECTION_KEY, PROBE_STATE_KEY, ProbeReport};

/// What the platform knows about the client, never taken from client-sent headers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientInfo {
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// Where the client is, when the platform knows (Workers' `request.cf`).
    pub location: Option<GeoPoint>,
    /// The client's country code, when the platform knows.
    pub country: Option<String>,
    /// The client's continent code, when the platform knows.
    pub continent: Option<String>,
}

/// The gateway of one instance: its live config, its authentication state and the pipeline.
#[derive(Debug, Default)]
pub struct Gateway {
    live: LiveConfig,
    auth: Authenticator,
    limiter: Limiter,
    health: Health,
    stamps: Stamps,
    admin: admin::Guard,
    traffic: status::Traffic,
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
        let ids = RequestIds::new(ports, &request);
        let mut served = match self.serve(ports, request, client, &ids).await {
            Ok(served) => served,
            Err(error) => {
                let level = if error.status().is_server_error() { Level::Error } else { Level::Info };
                ports.log().record(level, &format!("request {} refused: {error}", ids.request_id));
                ids.note(|r| r.error = Some(error.to_string()));
                (problem::respond(&error, &ids.request_id), None)
            }
        };
        observe::finish(ports, &ids, &mut served.0);
        let cache_status = served.0.headers().get(crate::cache::status::CACHE_STATUS);
        self.traffic.record(served.0.status(), cache_status, ports.clock().now());
        served
    }

    async fn serve<P: Ports>(
        &self,
        ports: &P,
        request: Request<Body<P::Stream>>,
        client: &ClientInfo,
        ids: &RequestIds,
    ) -> Result<(Response<Body<P::Stream>>, Option<Deferred>), GatewayError> {
        if let Some(secret) = admin::enabled(ports, request.uri().path()) {
            return Ok((admin::endpoint(self, ports, request, &secret, &ids.request_id).await, None));
        }
        let config = self.load(ports, ids).await?;
        let (mut head, body) = request.into_parts();
        limits::check(&head, &config.settings)?;
        limits::normalize(&mut head)?;
        ids.note(|r| r.uri = head.uri.clone());
        if let Some(response) = purge::endpoint(ports, &self.stamps, &config, &head).await {
            return response.map(|r| (r, None));
        }
        let matched = route(&config, &head)?;
        ids.note(|r| r.route = Some(matched.route.id.clone()));
        let identity = self.identify(ports, &config, &matched, &head, ids).await?;
        let facts = KeyFacts {
            route_id: &matched.route.id,
            identity: &identity,
            client_ip: client.ip,
            headers: &head.headers,
        };
        let limited = self.limit(ports, &config, &matched, &facts, ids).await?;
        let body = limit_undeclared_body(ports, &head, body, config.settings.max_request_body_bytes).await?;
        self.health.refresh(ports).await;
        let (pool, selection) =
            self.regions_for(ports, &config, matched.route, &identity, client, &head.headers);
        let outgoing = Outgoing { head, identity };
        let cx = cached::Context {
            config: &config,
            matched: &matched,
            pool,
            regions: &selection.order,
            usable: selection.usable,
            health: &self.health,
            client,
            ids,
        };
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
        let matched = cx.matched;
        let plan = edge_cache::plan(matched.route, &outgoing.head, ports.cache().available());
        match plan {
            Plan::Lookup { key, path } => self.through_cache(ports, cx, outgoing, body, key, path).await,
            Plan::Forward(reason, detail) => {
                let method_head = (reason == Forward::Method).then(|| copy_head(&outgoing.head));
                let mut response = failover::forward(ports, cx, outgoing, body).await?;
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

impl Gateway {
    /// The pool that serves this request (the route's, or its canary's for clients on that
    /// side) and the regions to try, in order: residency first, then health, tier and
    /// distance ([`geo::select`]).
    fn regions_for<'c, P: Ports>(
        &self,
        ports: &P,
        config: &'c Config,
        route: &Route,
        identity: &Identity,
        client: &ClientInfo,
        headers: &http::HeaderMap,
    ) -> (&'c Pool, geo::Selection) {
        let now = ports.clock().now();
        let pool = &config.pools[pool_for(route, identity, client)];
        let claimed =
            route.residency.as_ref().and_then(|r| r.claim.as_deref()).and_then(|c| claim_values(identity, c));
        let allowed: Option<Vec<usize>> = route.residency.as_ref().map(|residency| {
            let region_ok = |&i: &usize| residency.allows(&config.regions[i], claimed.as_deref());
            pool.regions.iter().copied().filter(region_ok).collect()
        });
        let place = geo::whereabouts(client, headers, &config.settings.client_location);
        let usable = |i: usize| self.health.verdict(config, pool, i, now).usable;
        let selection =
            geo::select(&pool.regions, &config.regions, allowed.as_deref(), &place, &usable, pool.attempts);
        (pool, selection)
    }
}

/// The route's pool, or its canary pool for clients whose sticky key (API key, subject or
/// address) falls on the canary side.
fn pool_for(route: &Route, identity: &Identity, client: &ClientInfo) -> usize {
    let Some(canary) = route.canary else { return route.pool };
    let key = match identity {
        Identity::ApiKey { id, .. } => Some(format!("key:{id}")),
        _ => identity.claim("sub").and_then(|v| v.as_str().map(|s| format!("sub:{s}"))),
    };
    let key = key.or_else(|| client.ip.map(|ip| format!("ip:{ip}")));
    match key {
        Some(key) if geo::canary_side(&route.id, &key, canary.percent) => canary.pool,
        _ => route.pool,
    }
}

/// A residency claim's values: a string, or a list of strings.
fn claim_values(identity: &Identity, claim: &str) -> Option<Vec<String>> {
    match identity.claim(claim)? {
        serde_json::Value::String(s) => Some(vec![s]),
        serde_json::Value::Array(items) => {
            Some(items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        }
        _ => None,
    }
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
