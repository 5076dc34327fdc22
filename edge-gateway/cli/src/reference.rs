//! `gatewayctl schema --reference`: the configuration reference (`docs/config-reference.md`),
//! rendered as markdown from the routes document's JSON Schema.
//!
//! One section per object of the document, titled with its path (`routes[]` for an array's
//! elements, `pools.<name>` for a map's values), with one row per field: its full path, type
//! (bounds, enum values, alternative forms), whether it is required, its default and its
//! description. Everything comes from the schema, which comes from the raw config types, so the
//! reference cannot drift from the parser; it never reads the Rust types itself.

use serde_json::{Map, Value};

/// The markdown reference of `schema` (a JSON Schema with `$defs`, as `gatewayctl schema` prints).
pub(crate) fn render(schema: &Value) -> String {
    let empty = Map::new();
    let defs = schema.get("$defs").and_then(Value::as_object).unwrap_or(&empty);
    let mut walker = Walker { defs, sections: Vec::new(), visiting: Vec::new() };
    walker.object("", schema);
    let mut out = String::from(INTRO);
    for section in &walker.sections {
        out.push_str(&format!("- [{}](#{})\n", heading(&section.path), slug(&heading(&section.path))));
    }
    for section in &walker.sections {
        out.push_str(&section.markdown());
    }
    out
}

const INTRO: &str = "# Configuration reference

<!-- Generated from the routes document's JSON Schema (config/routes.schema.json) by
`gatewayctl schema --reference`; do not edit by hand. A test fails when it is stale. -->

Every field of the routes document (`config/routes.example.json` is a complete example), as the
gateway's parser reads it. Paths: `routes[]` is any element of the `routes` array,
`pools.<name>` the value of any key of the `pools` map. `gatewayctl routes validate FILE`
checks a document against these rules and the cross-references between its parts (pools naming
regions, routes naming pools, issuers and policies) and prints every error with its JSON path.
The Default column shows defaults the schema states; an optional field the gateway fills in
when absent names its default in its description.

";

/// One object of the document and its fields.
struct Section {
    path: String,
    description: String,
    closed: bool,
    rows: Vec<Row>,
}

/// One field of an object.
struct Row {
    path: String,
    ty: String,
    required: bool,
    default: Option<String>,
    description: String,
}

impl Section {
    fn markdown(&self) -> String {
        let mut out = format!("\n## {}\n\n", heading(&self.path));
        if !self.description.is_empty() {
            out.push_str(&format!("{}\n\n", self.description));
        }
        if self.closed {
            out.push_str("Fields not listed here are refused.\n\n");
        }
        out.push_str("| Field | Type | Required | Default | Description |\n|---|---|---|---|---|\n");
        for row in &self.rows {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                row.path,
                cell(&row.ty),
                if row.required { "yes" } else { "no" },
                row.default.as_deref().map_or_else(String::new, |d| format!("`{}`", cell(d))),
                cell(&row.description),
            ));
        }
        out
    }
}

/// Walks the schema from the document's root, collecting one section per object reached.
struct Walker<'s> {
    defs: &'s Map<String, Value>,
    sections: Vec<Section>,
    /// The `$ref`s being expanded: a recursive type is named, not expanded again.
    visiting: Vec<&'s str>,
}

impl<'s> Walker<'s> {
    /// Adds the section of the object `node` at `path`, then the sections of its nested objects.
    fn object(&mut self, path: &str, node: &'s Value) {
        let properties = node.get("properties").and_then(Value::as_object).into_iter().flatten();
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut rows = Vec::new();
        let mut nested = Vec::new();
        for (name, field) in properties {
            let field_path = join(path, name);
            rows.push(self.row(&field_path, field, required.contains(&name.as_str())));
            self.nested_objects(&field_path, field, &mut nested);
        }
        self.sections.push(Section {
            path: path.to_owned(),
            description: words(node.get("description")),
            closed: node.get("additionalProperties") == Some(&Value::Bool(false)),
            rows,
        });
        for (nested_path, name, def) in nested {
            self.visiting.push(name);
            self.object(&nested_path, def);
            self.visiting.pop();
        }
    }

    fn row(&self, path: &str, field: &'s Value, required: bool) -> Row {
        let own = words(field.get("description"));
        let mut description = if own.is_empty() { words(self.target(field).get("description")) } else { own };
        let values = self.values(field);
        if !values.is_empty() {
            description.push_str(&format!("<br>Values:<br>{}", values.join("<br>")));
        }
        Row {
            path: path.to_owned(),
            ty: self.type_of(field, path),
            required,
            default: field.get("default").map(Value::to_string),
            description,
        }
    }

    /// The objects `field` holds at `path` (itself, its items, its map values), with their `$ref`.
    fn nested_objects(&self, path: &str, field: &'s Value, out: &mut Vec<(String, &'s str, &'s Value)>) {
        if let Some(name) = field.get("$ref").and_then(Value::as_str) {
            let def = self.resolve(name);
            if def.get("properties").is_some() && !self.visiting.contains(&name) {
                out.push((path.to_owned(), name, def));
            }
        } else if let Some(only) = single(self.alternatives(field)) {
            self.nested_objects(path, only, out);
        } else if let Some(items) = field.get("items").filter(|i| i.is_object()) {
            self.nested_objects(&format!("{path}[]"), items, out);
        } else if let Some(values) = field.get("additionalProperties").filter(|v| v.is_object()) {
            self.nested_objects(&format!("{path}.<name>"), values, out);
        }
    }

    /// What a field holds, in words: `integer ≥ 0`, `array of string`, a link to an object's section.
    fn type_of(&self, field: &Value, path: &str) -> String {
        if let Some(name) = field.get("$ref").and_then(Value::as_str) {
            let def = self.resolve(name);
            return if def.get("properties").is_some() {
                format!("object: [`{path}`](#{})", slug(&heading(path)))
            } else {
                self.type_of(def, path)
            };
        }
        let alternatives = self.alternatives(field);
        if let Some(only) = single(alternatives.clone()) {
            return self.type_of(only, path);
        }
        if !alternatives.is_empty() {
            let strings = alternatives.iter().all(|a| a.get("const").is_some_and(Value::is_string));
            return if strings { "string, one of the values".into() } else { "one of the forms".into() };
        }
        let types: Vec<String> = match field.get("type") {
            Some(Value::String(t)) => vec![self.plain_type(t, field, path)],
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .map(|t| self.plain_type(t, field, path))
                .collect(),
            _ => Vec::new(),
        };
        if types.is_empty() { "any JSON value".into() } else { types.join(" or ") }
    }

    fn plain_type(&self, ty: &str, field: &Value, path: &str) -> String {
        match ty {
            "array" => match field.get("items").filter(|i| i.is_object()) {
                Some(items) => format!("array of {}", self.type_of(items, &format!("{path}[]"))),
                None => "array of any JSON values".into(),
            },
            "object" => match field.get("additionalProperties") {
                Some(values) if values.is_object() => {
                    format!("map of name to {}", self.type_of(values, &format!("{path}.<name>")))
                }
                _ => "object (any JSON)".into(),
            },
            "integer" | "number" => match field.get("minimum") {
                Some(min) => format!("{ty} ≥ {min}"),
                None => ty.into(),
            },
            other => other.into(),
        }
    }

    /// The enum values or alternative forms a field accepts, each with its description.
    fn values(&self, field: &'s Value) -> Vec<String> {
        let target = self.target(field);
        let alternatives = self.alternatives(target);
        if single(alternatives.clone()).is_some() || alternatives.is_empty() {
            return match target.get("items").or_else(|| target.get("additionalProperties")) {
                Some(inner) if inner.is_object() => self.values(inner),
                _ => single(alternatives).map(|only| self.values(only)).unwrap_or_default(),
            };
        }
        let mut lines = Vec::new();
        for alternative in alternatives {
            let described = words(alternative.get("description"));
            if let Some(value) = alternative.get("const") {
                lines.push(format!("`{value}`: {described}"));
                continue;
            }
            let nested = self.values(alternative);
            if described.starts_with("`{") {
                // The description shows the form itself, e.g. `{"claim": "tenant"}`: ….
                lines.push(described);
            } else if nested.is_empty() {
                lines.push(format!("{}: {described}", self.form(alternative)));
            } else {
                lines.extend(nested);
            }
        }
        lines
    }

    /// An object alternative written out: `{"claim": string}`.
    fn form(&self, alternative: &Value) -> String {
        let target = self.target(alternative);
        let fields: Vec<String> = target
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, field)| format!("\"{name}\": {}", self.type_of(field, name)))
            .collect();
        if fields.is_empty() {
            format!("`{}`", self.type_of(target, ""))
        } else {
            format!("`{{{}}}`", fields.join(", "))
        }
    }

    /// The non-null alternatives of a `oneOf`/`anyOf` (none for other nodes).
    fn alternatives(&self, field: &'s Value) -> Vec<&'s Value> {
        let list = field.get("oneOf").or_else(|| field.get("anyOf")).and_then(Value::as_array);
        list.into_iter().flatten().filter(|a| a.get("type") != Some(&Value::String("null".into()))).collect()
    }

    /// `field` with its `$ref` followed, through a nullable wrapper (`anyOf: [X, null]`) too.
    fn target(&self, field: &'s Value) -> &'s Value {
        if let Some(name) = field.get("$ref").and_then(Value::as_str) {
            return self.resolve(name);
        }
        single(self.alternatives(field)).map_or(field, |only| self.target(only))
    }

    fn resolve(&self, reference: &str) -> &'s Value {
        static NOTHING: Value = Value::Null;
        let name = reference.rsplit('/').next().unwrap_or(reference);
        self.defs.get(name).unwrap_or(&NOTHING)
    }
}

/// The only element of `list`, if it has exactly one.
fn single<T>(list: Vec<T>) -> Option<T> {
    let mut list = list.into_iter();
    match (list.next(), list.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }
}

fn heading(path: &str) -> String {
    if path.is_empty() { "The document".into() } else { format!("`{path}`") }
}

/// The anchor GitHub gives a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// A description on one line, its whitespace runs made single spaces.
fn words(description: Option<&Value>) -> String {
    description.and_then(Value::as_str).unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text safe inside a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "description": "The whole document.",
            "type": "object",
            "properties": {
                "routes": {"description": "The routes.", "type": "array", "items": {"$ref": "#/$defs/Route"}},
                "pools": {"type": "object", "additionalProperties": {"$ref": "#/$defs/Pool"}}
            },
            "required": ["routes"],
            "additionalProperties": false,
            "$defs": {
                "Route": {"type": "object", "description": "One route.", "properties": {
                    "auth": {"anyOf": [{"$ref": "#/$defs/Auth"}, {"type": "null"}]},
                    "mode": {"description": "How it counts.", "$ref": "#/$defs/Mode"}
                }},
                "Auth": {"type": "object", "description": "Who may call.", "properties": {
                    "scopes": {"description": "Scopes | all\n  needed.", "type": "array", "default": [],
                               "items": {"type": "string"}}
                }},
                "Pool": {"type": "object", "properties": {
                    "attempts": {"type": ["integer", "null"], "minimum": 1}
                }},
                "Mode": {"oneOf": [
                    {"description": "One counter.", "type": "string", "const": "exact"},
                    {"description": "Merged later.", "type": "string", "const": "approximate"}
                ]}
            }
        })
    }

    #[test]
    fn every_nested_field_has_its_full_path_type_default_and_description() {
        let out = render(&schema());
        for line in [
            "| `routes` | array of object: [`routes[]`](#routes) | yes |  | The routes. |",
            "| `pools` | map of name to object: [`pools.<name>`](#poolsname) | no |  |  |",
            "| `routes[].auth` | object: [`routes[].auth`](#routesauth) | no |  | Who may call. |",
            "| `routes[].auth.scopes` | array of string | no | `[]` | Scopes \\| all needed. |",
            "| `pools.<name>.attempts` | integer ≥ 1 | no |  |  |",
            "| `routes[].mode` | string, one of the values | no |  | How it counts.<br>Values:<br>\
             `\"exact\"`: One counter.<br>`\"approximate\"`: Merged later. |",
        ] {
            assert!(out.contains(line), "missing {line}\nin:\n{out}");
        }
    }

    #[test]
    fn sections_come_parent_first_with_descriptions_and_closed_objects_say_so() {
        let out = render(&schema());
        let order: Vec<usize> =
            ["## The document", "## `pools.<name>`", "## `routes[]`", "## `routes[].auth`"]
                .iter()
                .map(|h| out.find(&format!("\n{h}\n")).unwrap_or_else(|| panic!("no {h} in\n{out}")))
                .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert!(
            out.contains("## The document\n\nThe whole document.\n\nFields not listed here are refused.\n")
        );
        assert!(out.contains("## `routes[].auth`\n\nWho may call.\n\n| Field"), "{out}");
    }

    #[test]
    fn a_recursive_type_is_linked_not_expanded_forever() {
        let schema = json!({"type": "object", "properties": {"node": {"$ref": "#/$defs/Node"}},
            "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}}});
        let out = render(&schema);
        assert!(out.contains("## `node`\n"));
        assert!(!out.contains("## `node.child`"), "{out}");
    }
}
