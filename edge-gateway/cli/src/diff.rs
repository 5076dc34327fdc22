//! `routes diff`: what a document would change against the live one, section by section.
//!
//! Entries are matched by identity (routes by `id`, regions by `name`, pools, auth issuers and
//! rate limits by their key), so a reordered array is no change. A changed entry lists its
//! changed top-level fields with the old and the new value. It compares JSON, not meaning:
//! a default written out differs from the same default left out.

use serde_json::Value;

/// The sections compared, in print order: title and how to find its entries.
const SECTIONS: [(&str, Section); 5] = [
    ("routes", Section::Array { pointer: "/routes", id: "id" }),
    ("pools", Section::Map { pointer: "/pools" }),
    ("regions", Section::Array { pointer: "/regions", id: "name" }),
    ("auth issuers", Section::Map { pointer: "/auth/issuers" }),
    ("rate_limits", Section::Map { pointer: "/rate_limits" }),
];

/// Fields compared as a whole, outside the sections above.
const WHOLE: [(&str, &str); 5] = [
    ("settings", "/settings"),
    ("auth.api_keys", "/auth/api_keys"),
    ("auth.identity_headers", "/auth/identity_headers"),
    ("default_rate_limit", "/default_rate_limit"),
    ("$schema", "/$schema"),
];

#[derive(Clone, Copy)]
enum Section {
    Array { pointer: &'static str, id: &'static str },
    Map { pointer: &'static str },
}

/// The differences from `live` to `next` as printable lines; empty when identical.
pub(crate) fn diff(live: &Value, next: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    for (title, section) in SECTIONS {
        let changes = section_changes(&entries(live, section), &entries(next, section));
        if !changes.is_empty() {
            lines.push(format!("{title}:"));
            lines.extend(changes.into_iter().map(|c| format!("  {c}")));
        }
    }
    let mut whole = Vec::new();
    for (name, pointer) in WHOLE {
        let (before, after) = (live.pointer(pointer), next.pointer(pointer));
        if before != after {
            whole.push(format!("  ~ {name}: {} -> {}", show(before), show(after)));
        }
    }
    if !whole.is_empty() {
        lines.push("other:".into());
        lines.extend(whole);
    }
    lines
}

/// `(name, entry)` pairs of a section, in document order.
fn entries(document: &Value, section: Section) -> Vec<(String, Value)> {
    match section {
        Section::Array { pointer, id } => document
            .pointer(pointer)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let name =
                            item.get(id).and_then(Value::as_str).map_or(format!("#{i}"), str::to_owned);
                        (name, item.clone())
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Section::Map { pointer } => document
            .pointer(pointer)
            .and_then(Value::as_object)
            .map(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    }
}

fn section_changes(live: &[(String, Value)], next: &[(String, Value)]) -> Vec<String> {
    let find =
        |list: &[(String, Value)], name: &str| list.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut changes = Vec::new();
    for (name, before) in live {
        match find(next, name) {
            None => changes.push(format!("- {name}")),
            Some(after) if &after != before => {
                changes.push(format!("~ {name}: {}", field_changes(before, &after).join("; ")))
            }
            Some(_) => {}
        }
    }
    for (name, _) in next {
        if find(live, name).is_none() {
            changes.push(format!("+ {name}"));
        }
    }
    changes
}

/// `field: old -> new` for every top-level field that differs.
fn field_changes(before: &Value, after: &Value) -> Vec<String> {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return vec![format!("{} -> {}", show(Some(before)), show(Some(after)))];
    };
    let mut names: Vec<&String> = b.keys().chain(a.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| b.get(*name) != a.get(*name))
        .map(|name| format!("{name} {} -> {}", show(b.get(name)), show(a.get(name))))
        .collect()
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "(absent)".to_owned(), Value::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sections_list_added_removed_and_changed_fields() {
        let live =
            json!({"routes": [{"id": "a", "pool": "p"}, {"id": "b"}], "pools": {"p": {"attempts": 2}}});
        let next = json!({"routes": [{"id": "c"}, {"id": "a", "pool": "q", "priority": 1}],
                          "pools": {"p": {"attempts": 2}}, "settings": {"config_ttl_ms": 1000}});
        assert_eq!(
            diff(&live, &next),
            [
                "routes:",
                "  ~ a: pool \"p\" -> \"q\"; priority (absent) -> 1",
                "  - b",
                "  + c",
                "other:",
                "  ~ settings: (absent) -> {\"config_ttl_ms\":1000}",
            ]
        );
        assert!(diff(&next, &next).is_empty());
    }

    #[test]
    fn regions_issuers_and_limits_are_matched_by_name() {
        let live = json!({"regions": [{"name": "eu", "lat": 1}, {"name": "us"}],
                          "auth": {"issuers": {"corp": {"issuer": "a"}}, "api_keys": {"cache_ttl_ms": 1}},
                          "rate_limits": {"per-tenant": {"limit": 5}}});
        let next = json!({"regions": [{"name": "us"}, {"name": "eu", "lat": 2}],
                          "auth": {"issuers": {"partner": {"issuer": "b"}}, "api_keys": {"cache_ttl_ms": 1}},
                          "rate_limits": {"per-tenant": {"limit": 5, "shadow": true}}});
        assert_eq!(
            diff(&live, &next),
            [
                "regions:",
                "  ~ eu: lat 1 -> 2",
                "auth issuers:",
                "  - corp",
                "  + partner",
                "rate_limits:",
                "  ~ per-tenant: shadow (absent) -> true",
            ]
        );
    }
}
