//! Route matching: host, then path, then method.
//!
//! Precedence, most specific first:
//! 1. **Host**: an exact host beats a wildcard (`*.example.com`, longest suffix first), which
//!    beats routes for any host (`*` or no `hosts`). A less specific host is consulted only when
//!    the more specific ones have no route for the request's path *and* method.
//! 2. **Path**, within one host, by matchit's rules: a static segment beats a parameter
//!    (`/users/me` beats `/users/{id}`), which beats a catch-all (`/users/{*rest}`).
//! 3. **Priority**, among routes with the same host and the same path pattern: the highest
//!    priority whose methods include the request's method wins. Two such routes with overlapping
//!    methods and equal priority are a config error.
//!
//! When some route matches the path but none allows the method, the answer is 405 with the
//! union of the allowed methods (`HEAD` is allowed wherever `GET` is).
//!
//! **A prefix covers its base**: `/admin/{*rest}` also matches `/admin` and `/admin/` (with
//! an empty `rest`) unless another route on the same host names that path, so an auth policy
//! on a prefix protects the prefix itself. Validation refuses an open route that would carve a
//! path out of a protected prefix (see `config/validate/exposure.rs`).
//!
//! Matching is on the path as normalised by [`crate::normalize`] (the pipeline does that
//! first); parameters are returned as they appear in it. It never rewrites anything.

use std::collections::HashMap;

use http::Method;

use crate::config::{HostPattern, Route};

/// The compiled routing table of one config.
#[derive(Debug, Default)]
pub struct Router {
    exact: HashMap<String, HostTable>,
    /// Sorted by suffix length, longest first.
    suffixes: Vec<(String, HostTable)>,
    any: Option<HostTable>,
}

/// The routes of one host pattern.
#[derive(Debug, Default)]
struct HostTable {
    paths: matchit::Router<usize>,
    /// Route indices per distinct path pattern, highest priority first.
    groups: Vec<Vec<usize>>,
    group_of_pattern: HashMap<String, usize>,
}

/// A route that cannot be added to the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Index of the offending route in the slice given to [`Router::build`].
    pub route: usize,
    /// Why.
    pub reason: String,
}

/// The outcome of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    /// A route serves the request.
    Found {
        /// Index of the route in the config.
        route: usize,
        /// Path parameters, raw, in pattern order.
        params: Vec<(String, String)>,
    },
    /// Some route has the path, none the method.
    MethodNotAllowed {
        /// The methods that would be served, sorted.
        allow: Vec<Method>,
    },
    /// No route has the path for this host.
    NotFound,
}

impl Router {
    /// Compiles `routes`, reporting every conflict.
    pub fn build(routes: &[Route]) -> Result<Router, Vec<Conflict>> {
        let mut router = Router::default();
        let mut conflicts = Vec::new();
        for (index, route) in routes.iter().enumerate() {
            for host in &route.hosts {
                let table = router.table_mut(host);
                if let Err(reason) = table.insert(index, routes) {
                    conflicts.push(Conflict { route: index, reason });
                }
            }
        }
        for table in router
            .exact
            .values_mut()
            .chain(router.suffixes.iter_mut().map(|(_, t)| t))
            .chain(router.any.as_mut())
        {
            table.cover_bases();
        }
        router.suffixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        if conflicts.is_empty() { Ok(router) } else { Err(conflicts) }
    }

    fn table_mut(&mut self, host: &HostPattern) -> &mut HostTable {
        match host {
            HostPattern::Exact(name) => self.exact.entry(name.clone()).or_default(),
            HostPattern::Any => self.any.get_or_insert_with(HostTable::default),
            HostPattern::Suffix(suffix) => {
                let position = match self.suffixes.iter().position(|(s, _)| s == suffix) {
                    Some(position) => position,
                    None => {
                        self.suffixes.push((suffix.clone(), HostTable::default()));
                        self.suffixes.len() - 1
                    }
                };
                &mut self.suffixes[position].1
            }
        }
    }

    /// Finds the route for a request. `host` is the `Host` header or URI authority as received;
    /// `routes` is the slice the router was built from.
    pub fn lookup(&self, routes: &[Route], host: &str, method: &Method, path: &str) -> RouteMatch {
        let host = normalize_host(host);
        let exact = self.exact.get(host.as_str());
        let suffixes = self
            .suffixes
            .iter()
            .filter(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
            .map(|(_, table)| table);
        let mut allow: Vec<Method> = Vec::new();
        for table in exact.into_iter().chain(suffixes).chain(self.any.as_ref()) {
            let Ok(matched) = table.paths.at(path) else {
                continue;
            };
            let group = &table.groups[*matched.value];
            if let Some(&route) = group.iter().find(|&&r| routes[r].allows(method)) {
                let params = matched.params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
                return RouteMatch::Found { route, params };
            }
            for &route in group {
                for method in routes[route].methods.iter().flatten() {
                    allow.push(method.clone());
                    if method == Method::GET {
                        allow.push(Method::HEAD);
                    }
                }
            }
        }
        if allow.is_empty() {
            return RouteMatch::NotFound;
        }
        allow.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        allow.dedup();
        RouteMatch::MethodNotAllowed { allow }
    }
}

impl HostTable {
    fn insert(&mut self, index: usize, routes: &[Route]) -> Result<(), String> {
        let route = &routes[index];
        if let Some(&group) = self.group_of_pattern.get(&route.path) {
            let members = &mut self.groups[group];
            if let Some(&other) = members.iter().find(|&&o| clashes(&routes[o], route)) {
                return Err(format!(
                    "route `{}` has the same host, path pattern, priority and an overlapping method as route `{}`; give one a different priority",
                    route.id, routes[other].id
                ));
            }
            members.push(index);
            members.sort_by_key(|&r| std::cmp::Reverse(routes[r].priority));
            return Ok(());
        }
        let group = self.groups.len();
        self.paths
            .insert(route.path.clone(), group)
            .map_err(|e| format!("invalid or conflicting path pattern: {e}"))?;
        self.groups.push(vec![index]);
        self.group_of_pattern.insert(route.path.clone(), group);
        Ok(())
    }
}

impl HostTable {
    /// Lets each prefix pattern `/p/{*rest}` serve its base `/p` and `/p/` too (with an empty
    /// `rest`), unless a route names that path itself: an auth policy on a prefix protects the
    /// prefix. Runs after every route of the table is inserted.
    fn cover_bases(&mut self) {
        let mut bases: Vec<(String, usize)> = Vec::new();
        for (pattern, &group) in &self.group_of_pattern {
            let Some(base) = prefix_base(pattern) else { continue };
            for path in [base.to_owned(), format!("{base}/")] {
                if !path.is_empty() && !self.group_of_pattern.contains_key(&path) {
                    bases.push((path, group));
                }
            }
        }
        bases.sort();
        for (path, group) in bases {
            // A conflict means another pattern already matches this path: it keeps it.
            let _ = self.paths.insert(path, group);
        }
    }
}

/// The base of a prefix pattern: `/admin` for `/admin/{*rest}`; `None` for other patterns.
pub fn prefix_base(pattern: &str) -> Option<&str> {
    let (base, last) = pattern.rsplit_once('/')?;
    (last.starts_with("{*") && last.ends_with('}') && !base.contains('{')).then_some(base)
}

/// Two routes in one group clash when they share a priority and could serve the same method.
fn clashes(a: &Route, b: &Route) -> bool {
    a.priority == b.priority
        && match (&a.methods, &b.methods) {
            (None, _) | (_, None) => true,
            (Some(x), Some(y)) => x.iter().any(|m| y.contains(m)),
        }
}

/// Lower-cases a host and removes a port and a trailing dot.
pub fn normalize_host(host: &str) -> String {
    let host = if let Some(rest) = host.strip_prefix('[') {
        // IPv6 literal: keep the brackets, drop the port.
        rest.split(']').next().map(|h| format!("[{h}]")).unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h).to_owned()
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Parses a host pattern from the config: `*`, `*.example.com` or `api.example.com`.
pub fn parse_host_pattern(raw: &str) -> Result<HostPattern, String> {
    let host = raw.to_ascii_lowercase();
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        return if is_hostname(suffix) {
            Ok(HostPattern::Suffix(format!(".{suffix}")))
        } else {
            Err(format!("`{raw}` is not a valid wildcard host: expected `*.` and a host name"))
        };
    }
    if host.contains('*') {
        return Err(format!(
            "`{raw}`: a wildcard is allowed only as the whole first label (`*.example.com`)"
        ));
    }
    if is_hostname(&host) {
        Ok(HostPattern::Exact(host))
    } else {
        Err(format!("`{raw}` is not a valid host name (no scheme, port or path)"))
    }
}

fn is_hostname(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The parameter names of a matchit pattern, in order (`{*rest}` gives `rest`).
pub fn pattern_params(pattern: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        if rest[open + 1..].starts_with('{') {
            rest = &rest[open + 2..];
            continue;
        }
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        names.push(rest[open + 1..open + close].trim_start_matches('*').to_owned());
        rest = &rest[open + close + 1..];
    }
    names
}
