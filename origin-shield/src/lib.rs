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
//! What a request meets, in order (see [`proxy`]): the shield's own `/healthz`,
//! the (future) cache stage, the origin with `Host` set and `Via` appended,
//! hop-by-hop fields stripped, `x-shield-region` added; failures answer
//! `application/problem+json` (502 unreachable, 504 timeout).
//!
//! Modules: [`config`] validates once and reports every error; [`health`] is a
//! pure rise/fall decision fed by a background probe; [`problem`] classifies
//! failures; [`server`] wires the Pingora services; [`cli`] reads arguments.
#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod health;
pub mod problem;
pub mod proxy;
pub mod server;
