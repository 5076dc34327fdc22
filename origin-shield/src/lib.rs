//! # origin-shield
//!
//! The regional origin shield: a [Pingora](https://github.com/cloudflare/pingora)
//! reverse proxy that sits between the edge gateway and one origin, one
//! instance per region.
//!
//! ```text
//! origin-shield --listen 127.0.0.1:9101 --region eu-west --origin http://127.0.0.1:9000
//! origin-shield --config shield.toml --region eu-west   # flags override the file
//! ```
//!
//! What a request meets, in order (see [`proxy`]): the shield's own endpoints
//! (`/healthz`, `/metrics`, `POST /__shield/purge`), the shared cache ([`cache`]:
//! RFC 9111 via the core's policy, request coalescing, stale-while-revalidate,
//! stale-if-error, 304 revalidation, `Cache-Status`), the origin with `Host` set and
//! `Via` appended, hop-by-hop fields stripped, `x-shield-region` added; failures
//! answer `application/problem+json` (502 unreachable, 504 timeout).
//!
//! Modules: [`config`] validates once and reports every error; [`health`] is a
//! pure rise/fall decision fed by a background probe; [`cache`] holds the store,
//! eviction, cache lock and the pure key/policy/status decisions; [`purge`] and
//! [`metrics`] are the admin API's pure parts; [`problem`] classifies failures;
//! [`server`] wires the Pingora services; [`date`] keeps the origin's `Date` on the wire
//! (Pingora would write its own); [`cli`] reads arguments.
#![deny(missing_docs)]

pub mod cache;
pub mod cli;
pub mod config;
pub mod date;
pub mod health;
pub mod metrics;
pub mod problem;
pub mod proxy;
pub mod purge;
pub mod server;
