//! What the pipeline tells the access log: the ids and [`Record`] of one request, the timed
//! policy stages (config, auth, limit) that fill it, and the finish that writes the line, the
//! `Server-Timing` phases and the metrics point ([`crate::access_log`] builds all three).

use std::cell::RefCell;
use std::rc::Rc;

use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Response};

use super::failover::SERVER_TIMING;
use super::{Gateway, Matched};
use crate::access_log::{self, Auth, Finish, Limit, LimitDecision, Phase, Record};
use crate::config::Config;
use crate::config::access_log::AccessLogSettings;
use crate::error::GatewayError;
use crate::forward::{self, Trace};
use crate::ports::{Clock, Level, Log, Ports};
use crate::stages::Identity;

/// Ids that follow one request through the gateway, and what its access-log line will say.
pub(super) struct RequestIds {
    pub(super) request_id: String,
    pub(super) trace: Trace,
    record: RefCell<Record>,
    /// The document the request was served under: its access-log settings.
    config: RefCell<Option<Rc<Config>>>,
}

impl RequestIds {
    /// The ids of `request`, arrived now: its trace continued or started.
    pub(super) fn new<P: Ports, B>(ports: &P, request: &Request<B>) -> RequestIds {
        Self::of(ports, request.method(), request.uri(), request.headers())
    }

    /// The ids of a request head (a background revalidation).
    pub(super) fn for_head<P: Ports>(ports: &P, head: &Parts) -> RequestIds {
        Self::of(ports, &head.method, &head.uri, &head.headers)
    }

    fn of<P: Ports>(
        ports: &P,
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
    ) -> RequestIds {
        let trace = Trace::start(headers, ports.entropy());
        RequestIds {
            request_id: forward::trace::request_id(headers, &trace),
            trace,
            record: RefCell::new(Record::new(ports.clock().now(), method, uri)),
            config: RefCell::default(),
        }
    }

    /// Adds the time since `since` to `phase`.
    pub(super) fn lap<P: Ports>(&self, ports: &P, phase: Phase, since: u64) {
        self.record.borrow_mut().lap(phase, since, ports.clock().now());
    }

    /// Writes a fact into the record.
    pub(super) fn note(&self, fill: impl FnOnce(&mut Record)) {
        fill(&mut self.record.borrow_mut());
    }
}

impl Gateway {
    /// The live config, timed as the `config` phase.
    pub(super) async fn load<P: Ports>(
        &self,
        ports: &P,
        ids: &RequestIds,
    ) -> Result<Rc<Config>, GatewayError> {
        let since = ports.clock().now();
        let config = self.live.current(ports).await;
        ids.lap(ports, Phase::Config, since);
        if let Ok(config) = &config {
            *ids.config.borrow_mut() = Some(Rc::clone(config));
        }
        config
    }

    /// The auth stage, timed as the `auth` phase, its outcome noted.
    pub(super) async fn identify<P: Ports>(
        &self,
        ports: &P,
        config: &Config,
        matched: &Matched<'_>,
        head: &Parts,
        ids: &RequestIds,
    ) -> Result<Identity, GatewayError> {
        let since = ports.clock().now();
        let identity = self.auth.authenticate(ports, config, matched.route.auth.as_ref(), head).await;
        ids.lap(ports, Phase::Auth, since);
        let auth = identity.as_ref().map_or_else(|_| Auth::refused(), Auth::of);
        ids.note(|r| r.auth = Some(auth));
        identity
    }

    /// The rate-limit stage, timed as the `limit` phase, its decision noted.
    pub(super) async fn limit<P: Ports>(
        &self,
        ports: &P,
        config: &Config,
        matched: &Matched<'_>,
        facts: &crate::ratelimit::key::KeyFacts<'_>,
        ids: &RequestIds,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, GatewayError> {
        let since = ports.clock().now();
        let limited = self.limiter.check(ports, config, matched.route, facts).await;
        ids.lap(ports, Phase::Limit, since);
        let policies = &matched.route.rate_limit;
        let limit = match &limited {
            Ok(_) if policies.is_empty() => None,
            Ok(_) => {
                let names: Vec<&str> =
                    policies.iter().map(|&i| config.rate_limits.policies[i].name.as_str()).collect();
                Some(Limit { decision: LimitDecision::Admitted, policy: names.join(",") })
            }
            Err(GatewayError::RateLimited { policy, .. }) => {
                Some(Limit { decision: LimitDecision::Refused, policy: policy.clone() })
            }
            Err(GatewayError::RateLimitUnavailable { policy, .. }) => {
                Some(Limit { decision: LimitDecision::Unavailable, policy: policy.clone() })
            }
            Err(_) => None,
        };
        ids.note(|r| r.limit = limit);
        limited
    }
}

/// Ends a request: `Server-Timing` with the gateway's phases, the access-log line (unless the
/// document turns it off) and the metrics point (when the platform has a store).
pub(super) fn finish<P: Ports, B>(ports: &P, ids: &RequestIds, response: &mut Response<B>) {
    let now = ports.clock().now();
    let record = ids.record.borrow();
    if let Ok(value) = HeaderValue::try_from(access_log::server_timing(&record, now)) {
        response.headers_mut().append(SERVER_TIMING, value);
    }
    let config = ids.config.borrow();
    let default = AccessLogSettings::default();
    let settings = config.as_ref().map_or(&default, |c| &c.settings.access_log);
    let metrics = ports.metrics();
    if !settings.enabled && metrics.is_none() {
        return;
    }
    let cache_status = response.headers().get(crate::cache::status::CACHE_STATUS);
    let finish = Finish {
        status: response.status().as_u16(),
        cache_status: cache_status.and_then(|v| v.to_str().ok()),
        request_id: &ids.request_id,
        trace_id: &ids.trace.trace_id,
        now,
    };
    if settings.enabled {
        let api_key_query = config.as_ref().and_then(|c| c.auth.api_keys.query.as_deref());
        let line = access_log::line(&record, &finish, settings, api_key_query);
        ports.log().record(Level::Info, &line);
    }
    if let Some(metrics) = metrics {
        metrics.write(&access_log::data_point(&record, &finish));
    }
}
