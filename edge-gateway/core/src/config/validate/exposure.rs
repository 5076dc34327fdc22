//! Refuses documents in which an open route reaches what a protected route protects.
//!
//! Two ways to walk around a route's `auth` without breaking it:
//! - **Shadowing**: an open route on an overlapping host names a path inside a protected
//!   prefix (`/admin` or `/admin/health` beside a protected `/admin/{*rest}`). The more
//!   specific route wins the match, so the protected prefix has an open hole.
//! - **Aliasing upstream**: an open route whose path edit (`strip_prefix`, `rewrite`) or other
//!   host sends paths to a shield that a protected route also forwards to (pools sharing a
//!   shield reach the same origin) (open
//!   `/api/{*rest}` with `strip_prefix: /api` beside protected `/orders/{*rest}`: anonymous
//!   `/api/orders/1` reaches the origin as `/orders/1`). Two routes that forward paths as they
//!   are on the same hosts cannot alias: the router itself sends each path to one of them.
//!
//! Reaches are compared by literal prefix (everything before the first parameter), which is
//! conservative: a pair is refused when some path could be reached by both.

use super::Errors;
use crate::config::{HostPattern, PathEdit, Route, TemplatePart};
use crate::routing::prefix_base;

/// Reports every shadowing and upstream alias between open and protected routes.
/// `pool_shields[p]` are the shield URLs of pool `p`.
pub(super) fn check(routes: &[(usize, Route)], pool_shields: &[Vec<&str>], errors: &mut Errors) {
    // A route reaches its pool's shields and its canary pool's.
    let shields = |r: &Route| -> Vec<&str> {
        let pools = std::iter::once(r.pool).chain(r.canary.map(|c| c.pool));
        pools.filter_map(|p| pool_shields.get(p)).flatten().copied().collect()
    };
    let pools = |r: &Route| [Some(r.pool), r.canary.map(|c| c.pool)];
    let share_a_shield = |a: &Route, b: &Route| {
        let (x, y) = (shields(a), shields(b));
        x.iter().any(|shield| y.contains(shield))
            || pools(a).iter().flatten().any(|p| pools(b).contains(&Some(*p)))
    };
    for (_, protected) in routes.iter().filter(|(_, r)| r.auth.is_some()) {
        for (i, open) in routes.iter().filter(|(_, r)| r.auth.is_none()) {
            let alias = || if share_a_shield(open, protected) { aliases(open, protected) } else { None };
            if let Some(reason) = shadows(open, protected).or_else(alias) {
                errors.push(format!("$.routes[{i}]"), reason);
            }
        }
    }
}

fn shadows(open: &Route, protected: &Route) -> Option<String> {
    let base = prefix_base(&protected.path)?;
    let inside = open.path == base || open.path.starts_with(&format!("{base}/"));
    (inside && open.path != protected.path && hosts_overlap(&open.hosts, &protected.hosts)).then(|| {
        format!(
            "open route `{}` serves `{}`, inside the prefix `{base}` that route `{}` protects: give it an `auth` policy or move it out of the prefix",
            open.id, open.path, protected.id
        )
    })
}

fn aliases(open: &Route, protected: &Route) -> Option<String> {
    let routed_apart = open.path_edit == PathEdit::Keep
        && protected.path_edit == PathEdit::Keep
        && open.hosts.iter().all(|h| protected.hosts.contains(h));
    if routed_apart {
        return None;
    }
    let (open_reach, protected_reach) = (reach(open), reach(protected));
    overlaps(&open_reach, &protected_reach).then(|| {
        format!(
            "open route `{}` forwards paths under `{}` to a shield that route `{}` also uses, reaching what it protects (`{}`): anonymous requests would get there; give it an `auth` policy, a pool with other shields, or a path edit that stays apart",
            open.id, open_reach.0, protected.id, protected_reach.0
        )
    })
}

/// The upstream paths a route can produce: a literal prefix, and whether anything may follow.
fn reach(route: &Route) -> (String, bool) {
    let literal = route.path.split('{').next().unwrap_or_default();
    let open_ended = route.path.contains('{');
    match &route.path_edit {
        PathEdit::Keep => (literal.to_owned(), open_ended),
        PathEdit::StripPrefix(prefix) => {
            let rest = literal.strip_prefix(prefix.as_str()).unwrap_or(literal);
            let rest = if rest.starts_with('/') { rest.to_owned() } else { format!("/{rest}") };
            (rest, open_ended)
        }
        PathEdit::Rewrite(parts) => {
            let mut literal = String::new();
            for part in parts {
                match part {
                    TemplatePart::Literal(text) => literal.push_str(text),
                    TemplatePart::Param(_) => return (literal, true),
                }
            }
            (literal, false)
        }
    }
}

fn overlaps(a: &(String, bool), b: &(String, bool)) -> bool {
    a.0 == b.0 || (a.1 && b.0.starts_with(&a.0)) || (b.1 && a.0.starts_with(&b.0))
}

fn hosts_overlap(a: &[HostPattern], b: &[HostPattern]) -> bool {
    a.iter().any(|x| b.iter().any(|y| host_overlap(x, y)))
}

fn host_overlap(a: &HostPattern, b: &HostPattern) -> bool {
    match (a, b) {
        (HostPattern::Any, _) | (_, HostPattern::Any) => true,
        (HostPattern::Exact(x), HostPattern::Exact(y)) => x == y,
        (HostPattern::Exact(host), HostPattern::Suffix(suffix))
        | (HostPattern::Suffix(suffix), HostPattern::Exact(host)) => host.ends_with(suffix.as_str()),
        (HostPattern::Suffix(x), HostPattern::Suffix(y)) => {
            x.ends_with(y.as_str()) || y.ends_with(x.as_str())
        }
    }
}
