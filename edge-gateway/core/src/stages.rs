//! The policy stages between routing and forwarding: authentication, rate limiting and the edge
//! cache lookup.
//!
//! In this release each is a seam that admits every request: the pipeline already calls them in
//! order with the matched route, so filling one in changes no caller. A stage that refuses a
//! request returns a [`GatewayError`], which the pipeline turns into a problem response.

use http::request::Parts;

use crate::config::Route;
use crate::error::GatewayError;

/// Who the request is, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Identity {
    /// The route requires no authentication.
    Anonymous,
}

/// Authenticates the request for `route`. Routes carry no auth policy yet: everyone is
/// [`Identity::Anonymous`].
pub fn authenticate(_route: &Route, _head: &Parts) -> Result<Identity, GatewayError> {
    Ok(Identity::Anonymous)
}

/// Applies the route's rate limits to `identity`. No limits are configured yet.
pub fn rate_limit(_route: &Route, _identity: &Identity) -> Result<(), GatewayError> {
    Ok(())
}
