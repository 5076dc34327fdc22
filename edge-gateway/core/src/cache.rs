//! HTTP caching decisions for a shared cache (RFC 9111, RFC 5861, RFC 9211), used by the edge
//! and the origin shield.
//!
//! Every function here is pure: request and response heads and a `now` in, a decision out. The
//! module decides *whether* a response may be stored ([`storable`](mod@storable)), *for how long* it is fresh
//! ([`freshness`]), *how old* it is ([`age`]), *whether* a stored response may answer a request
//! now ([`decision`]), *how* to revalidate it ([`revalidate`]), *under which key* it lives
//! ([`key`]), *what* an unsafe request evicts ([`invalidate`]) and *how the outcome is
//! reported* ([`status`]). It never reads a clock, never
//! touches a store, and never contacts an origin: the pipeline's cache stage does that, through
//! the ports.
//!
//! A lookup reads, in order:
//!
//! ```text
//! cache_key(method, url) → stored variants → vary_matches → evaluate(stored, request, now)
//!   Fresh / StaleAccepted   → serve, Age: age_header(age), Cache-Status: hit
//!   Stale (swr)             → serve, revalidate in the background
//!   Stale / MustRevalidate  → forward with revalidation_headers; 304 → merge_304
//!   GatewayTimeout          → 504 (only-if-cached)
//! miss → forward → storable(...)? → store with StoredMeta { request_time, response_time }
//! unsafe method, 2xx/3xx → invalidated_urls → evict
//! ```
//!
//! Malformed headers never fail a decision: parsers take the most restrictive reading the RFC
//! allows (an invalid `Expires` is already expired, an invalid `max-age` is `0`).

pub mod age;
pub mod conditional;
pub mod decision;
pub mod directives;
pub mod freshness;
pub mod invalidate;
pub mod key;
pub mod purge;
pub mod revalidate;
pub mod status;
pub mod storable;

pub use age::{StoredMeta, age_header, current_age};
pub use conditional::Answer;
pub use decision::{Decision, RevalidateReason, evaluate, is_stale_if_error_status};
pub use directives::{CacheControl, MaxStale};
pub use freshness::freshness_lifetime;
pub use invalidate::invalidated_urls;
pub use key::{VaryValues, cache_key, vary_matches};
pub use revalidate::{merge_304, revalidation_headers};
pub use status::{CACHE_STATUS, CacheStatus, Forward, cache_status};
pub use storable::{NotStorable, StoreOptions, storable};
