//! The policy stages between routing and forwarding: authentication, rate limiting and the edge
//! cache lookup.
//!
//! [`authenticate`] holds the per-instance state of authentication (key sets, verified tokens,
//! API-key lookups) and acts on the pure decisions of [`crate::auth`]; [`edge_cache`] adapts the
//! pure cache policy of [`crate::cache`] to one location's cache. Rate limiting is still a seam
//! that admits every request. A stage that refuses a request returns a [`GatewayError`],
//! which the pipeline turns into a problem response.

pub mod authenticate;
pub mod edge_cache;
mod keyring;

pub use crate::auth::identity::Identity;
pub use authenticate::Authenticator;

use crate::config::Route;
use crate::error::GatewayError;

/// Applies the route's rate limits to `identity`. No limits are configured yet.
pub fn rate_limit(_route: &Route, _identity: &Identity) -> Result<(), GatewayError> {
    Ok(())
}
