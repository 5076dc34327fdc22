//! The policy stages between routing and forwarding: authentication, rate limiting and the edge
//! cache lookup.
//!
//! [`ratelimit`] holds an instance's rate-limit leases and deny caches;
//! [`authenticate`] holds the per-instance state of authentication (key sets, verified tokens,
//! API-key lookups) and acts on the pure decisions of [`crate::auth`]; [`edge_cache`] adapts the
//! pure cache policy of [`crate::cache`] to one location's cache. A stage that refuses a request returns a [`crate::error::GatewayError`],
//! which the pipeline turns into a problem response.

pub mod authenticate;
pub mod edge_cache;
pub mod health;
mod keyring;
pub mod ratelimit;

pub use crate::auth::identity::Identity;
pub use authenticate::Authenticator;

pub use health::Health;
pub use ratelimit::Limiter;
