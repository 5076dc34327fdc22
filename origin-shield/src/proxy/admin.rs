//! The shield's own endpoints, answered before any cache or origin work: `GET /healthz`,
//! `GET /metrics` and `POST /__shield/purge`.
//!
//! [`route`] names the endpoint a request is for (pure); `ShieldProxy::serve_admin` answers
//! it. Refusals are `application/problem+json`: 401 without the purge secret, 400 for a bad
//! body, 404 when purge is disabled, 405 for a wrong method, 413 for a body over 64 KiB.

use std::time::Instant;

use edge_gateway_core::problem::{PROBLEM_JSON, Problem};
use http::Method;
use pingora_error::Result;
use pingora_proxy::Session;

use super::{ShieldProxy, healthz};
use crate::metrics::{self, Gauges};
use crate::purge;

/// An endpoint the shield answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    /// `GET`/`HEAD /healthz`.
    Healthz,
    /// `GET`/`HEAD /metrics`.
    Metrics,
    /// `/__shield/purge` (any method; only `POST` is accepted).
    Purge,
}

/// The endpoint `method path` is for, if it is one of the shield's own.
pub fn route(method: &Method, path: &str) -> Option<Admin> {
    let read = method == Method::GET || method == Method::HEAD;
    match path {
        healthz::PATH if read => Some(Admin::Healthz),
        metrics::PATH if read => Some(Admin::Metrics),
        purge::PATH => Some(Admin::Purge),
        _ => None,
    }
}

/// A refusal of the purge API.
fn problem(status: u16, slug: &str, title: &str, detail: String) -> (u16, Vec<u8>) {
    let problem = Problem {
        kind: format!("urn:origin-shield:problem:{slug}"),
        title: title.to_owned(),
        status,
        detail,
        request_id: None,
    };
    (status, problem.to_json())
}

impl ShieldProxy {
    /// Answers the admin endpoint `admin`.
    pub(super) async fn serve_admin(&self, session: &mut Session, admin: Admin) -> Result<()> {
        match admin {
            Admin::Healthz => {
                let verdict = self.health.verdict(Instant::now(), &self.health_policy);
                let (status, body) = healthz::report(&self.region, &self.origin.url, verdict);
                self.respond(session, status, "application/json", body, &[]).await
            }
            Admin::Metrics => {
                let gauges = Gauges { cache_bytes: self.cache.bytes(), cache_entries: self.cache.entries() };
                let body = self.metrics.render(gauges).into_bytes();
                self.respond(session, 200, metrics::CONTENT_TYPE, body, &[]).await
            }
            Admin::Purge => {
                let (status, body) = self.purge(session).await?;
                let ct = if status == 200 { "application/json" } else { PROBLEM_JSON };
                let extra: &[(&str, &str)] = match status {
                    401 => &[("www-authenticate", "Bearer realm=\"origin-shield purge\"")],
                    405 => &[("allow", "POST")],
                    _ => &[],
                };
                if status != 200 {
                    // The body may be unread: never reuse this connection.
                    session.set_keepalive(None);
                }
                self.respond(session, status, ct, body, extra).await
            }
        }
    }

    /// Runs a purge request; the status and body to answer with.
    async fn purge(&self, session: &mut Session) -> Result<(u16, Vec<u8>)> {
        let Some(secret) = self.purge_secret.as_deref() else {
            return Ok(problem(404, "not-found", "Not Found", "the purge API is disabled".to_owned()));
        };
        if session.req_header().method != Method::POST {
            return Ok(problem(405, "method-not-allowed", "Method Not Allowed", "use POST".to_owned()));
        }
        let auth = session.req_header().headers.get(http::header::AUTHORIZATION).map(|v| v.as_bytes());
        if !purge::authorized(auth, secret) {
            let detail = "send Authorization: Bearer <purge secret>".to_owned();
            return Ok(problem(401, "unauthorized", "Unauthorized", detail));
        }
        let Some(body) = read_body(session, purge::MAX_BODY).await? else {
            let detail = format!("the body exceeds {} bytes", purge::MAX_BODY);
            return Ok(problem(413, "body-too-large", "Content Too Large", detail));
        };
        let selector = match purge::parse(&body) {
            Ok(selector) => selector,
            Err(detail) => return Ok(problem(400, "bad-purge-request", "Bad Request", detail)),
        };
        let purged = self.cache.purge(&selector);
        self.metrics.add_purged(purged);
        Ok((200, serde_json::json!({ "purged": purged }).to_string().into_bytes()))
    }
}

/// The whole request body, or `None` when it exceeds `limit` bytes.
async fn read_body(session: &mut Session, limit: usize) -> Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    while let Some(chunk) = session.read_request_body().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table() {
        let rows = [
            (Method::GET, "/healthz", Some(Admin::Healthz)),
            (Method::HEAD, "/metrics", Some(Admin::Metrics)),
            (Method::POST, "/metrics", None),
            (Method::POST, "/__shield/purge", Some(Admin::Purge)),
            (Method::GET, "/__shield/purge", Some(Admin::Purge)),
            (Method::GET, "/healthz/x", None),
        ];
        for (method, path, expected) in rows {
            assert_eq!(route(&method, path), expected, "{method} {path}");
        }
    }
}
