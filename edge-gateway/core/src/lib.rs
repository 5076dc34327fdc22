//! The platform-free core of the edge gateway.
//!
//! Everything the gateway *decides* lives here: which route a request matches, how its headers
//! are rewritten for the origin shield, which region it goes to, and how a refusal reads. It never
//! performs I/O itself: every side effect goes through a narrow port in [`ports`] (key-value reads,
//! upstream fetches, the clock, entropy, logging), implemented by the Workers and Spin adapters and
//! by in-memory fakes in `testing` (feature `testing`).
//!
//! A request flows through [`pipeline::Gateway::handle`], which reads top to bottom:
//!
//! ```text
//! limits → route → authenticate → rate-limit → cache lookup → choose region → forward (failover)
//! ```
//!
//! Authentication, rate limiting and caching are seams in this release: the stages exist and are
//! called in order, and pass every request.
//!
//! The crate builds for `x86_64`, `wasm32-unknown-unknown` and `wasm32-wasip2` and names no
//! platform crate (no `worker`, `spin-sdk`, `wasm-bindgen` or tokio).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod access_log;
pub mod auth;
pub mod body;
pub mod cache;
pub mod config;
pub mod error;
pub mod forward;
pub mod geo;
pub mod health;
pub mod join;
pub mod limits;
pub mod live;
pub mod normalize;
pub mod pipeline;
pub mod ports;
pub mod problem;
pub mod ratelimit;
pub mod routing;
pub mod stages;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use body::Body;
pub use error::GatewayError;
pub use pipeline::{ClientInfo, Gateway};
