//! The parts of a Spin manifest (`spin.toml`, version 2) the test host honours.
//!
//! Read once at start-up: the application's name and version, the HTTP trigger's route and
//! component, the component's `source`,
//! `allowed_outbound_hosts`, `key_value_stores` and `variables` (with the application's
//! `[variables]`). Everything else in the manifest is ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct RawManifest {
    spin_manifest_version: u32,
    #[serde(default)]
    application: RawApplication,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
}

/// An application variable (`[variables]`).
#[derive(Debug, Deserialize)]
struct RawVariable {
    #[serde(default)]
    required: bool,
    default: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawApplication {
    #[serde(default)]
    name: String,
    version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Debug, Deserialize)]
struct RawHttpTrigger {
    route: String,
    component: String,
}

#[derive(Debug, Deserialize)]
struct RawComponent {
    source: Option<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

/// What the host needs to know about the one HTTP component it serves.
#[derive(Debug, Clone)]
pub(crate) struct App {
    /// `[application] name`, reported by `/.well-known/spin/info`.
    pub(crate) name: String,
    /// `[application] version`, reported by `/.well-known/spin/info`.
    pub(crate) version: Option<String>,
    /// The component id in the manifest.
    pub(crate) id: String,
    /// The trigger route, e.g. `/...`.
    pub(crate) route: String,
    /// The component's `source`, resolved against the manifest's directory.
    pub(crate) source: Option<PathBuf>,
    /// Where the component may send requests.
    pub(crate) outbound: AllowedHosts,
    /// The key-value store labels it may open.
    pub(crate) kv_stores: Vec<String>,
    /// Its variables (`[component.<id>.variables]`), resolved.
    pub(crate) variables: BTreeMap<String, String>,
}

impl App {
    /// Reads the first HTTP trigger of the manifest at `path`.
    pub(crate) fn load(path: &Path) -> anyhow::Result<App> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let raw: RawManifest =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if raw.spin_manifest_version != 2 {
            bail!("only spin_manifest_version = 2 is supported");
        }
        let trigger = raw.trigger.http.into_iter().next().context("the manifest has no [[trigger.http]]")?;
        let component = raw.component.get(&trigger.component).with_context(|| {
            format!("the trigger names component `{}`, which is not defined", trigger.component)
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Ok(App {
            name: raw.application.name,
            version: raw.application.version,
            id: trigger.component.clone(),
            route: trigger.route,
            source: component.source.as_ref().map(|s| base.join(s)),
            outbound: AllowedHosts::parse(&component.allowed_outbound_hosts)?,
            kv_stores: component.key_value_stores.clone(),
            variables: resolve(&component.variables, &raw.variables, &|name| {
                std::env::var(format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())).ok()
            })?,
        })
    }

    /// The part of `path` the trigger route matches before its `/...`, or `None` if it does not
    /// match at all.
    pub(crate) fn base_path(&self, path: &str) -> Option<&str> {
        match self.route.strip_suffix("/...") {
            Some(prefix) if path == prefix || path.starts_with(&format!("{prefix}/")) => Some(prefix),
            Some(_) => None,
            None => (path == self.route).then_some(self.route.as_str()),
        }
    }
}

/// The component's variables: each template with its `{{ name }}` parts replaced by the
/// application variable's value (`lookup`, e.g. the environment, then its `default`).
fn resolve(
    templates: &BTreeMap<String, String>,
    app: &BTreeMap<String, RawVariable>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut resolved = BTreeMap::new();
    for (name, template) in templates {
        let mut value = String::new();
        let mut rest = template.as_str();
        while let Some(start) = rest.find("{{") {
            value.push_str(&rest[..start]);
            let end =
                rest[start..].find("}}").with_context(|| format!("variable `{name}`: unclosed `{{{{`"))?;
            let reference = rest[start + 2..start + end].trim();
            let variable = app
                .get(reference)
                .with_context(|| format!("variable `{name}` names `{reference}`, not in [variables]"))?;
            let found = lookup(reference).or_else(|| variable.default.clone());
            match found {
                Some(found) => value.push_str(&found),
                None if variable.required => bail!("required variable `{reference}` has no value"),
                None => bail!("variable `{reference}` has neither a value nor a default"),
            }
            rest = &rest[start + end + 2..];
        }
        value.push_str(rest);
        resolved.insert(name.clone(), value);
    }
    Ok(resolved)
}

/// One `allowed_outbound_hosts` entry: `scheme://host[:port]`, each part possibly `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPattern {
    scheme: Option<String>,
    host: HostMatch,
    port: PortMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    Exact(String),
    /// `*.example.com`: any subdomain (not the domain itself).
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortMatch {
    Any,
    Exact(u16),
    /// No port written: the scheme's default port.
    Default,
}

/// The outbound policy of a component: a request is allowed when any pattern matches it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AllowedHosts(Vec<HostPattern>);

impl AllowedHosts {
    /// Parses the manifest list. `*` alone allows everything (same as `*://*:*`).
    pub(crate) fn parse(entries: &[String]) -> anyhow::Result<AllowedHosts> {
        entries
            .iter()
            .map(|e| parse_pattern(e).with_context(|| format!("allowed_outbound_hosts: `{e}`")))
            .collect::<anyhow::Result<_>>()
            .map(AllowedHosts)
    }

    /// Whether a request to `uri` may be sent.
    pub(crate) fn allows(&self, uri: &http::Uri) -> bool {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else { return false };
        let scheme = scheme.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let default_port = if scheme == "https" { 443 } else { 80 };
        let port = uri.port_u16().unwrap_or(default_port);
        self.0.iter().any(|p| {
            p.scheme.as_ref().is_none_or(|s| *s == scheme)
                && match &p.host {
                    HostMatch::Any => true,
                    HostMatch::Exact(h) => *h == host,
                    HostMatch::Suffix(s) => host.ends_with(&format!(".{s}")),
                }
                && match p.port {
                    PortMatch::Any => true,
                    PortMatch::Exact(n) => n == port,
                    PortMatch::Default => port == default_port,
                }
        })
    }
}

fn parse_pattern(entry: &str) -> anyhow::Result<HostPattern> {
    if entry == "*" {
        return Ok(HostPattern { scheme: None, host: HostMatch::Any, port: PortMatch::Any });
    }
    let (scheme, rest) = entry.split_once("://").context("expected scheme://host[:port]")?;
    let scheme = match scheme {
        "*" => None,
        "http" | "https" => Some(scheme.to_owned()),
        other => bail!("unsupported scheme `{other}`"),
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').context("unclosed `[`")?;
        (host, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let host = match host.to_ascii_lowercase() {
        h if h == "*" => HostMatch::Any,
        h if h.starts_with("*.") => HostMatch::Suffix(h[2..].to_owned()),
        h if h.is_empty() || h.contains('*') => bail!("invalid host"),
        h => HostMatch::Exact(h),
    };
    let port = match port {
        None => PortMatch::Default,
        Some("*") => PortMatch::Any,
        Some(n) => PortMatch::Exact(n.parse().context("invalid port")?),
    };
    Ok(HostPattern { scheme, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(patterns: &[&str], uri: &str) -> bool {
        let patterns: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        AllowedHosts::parse(&patterns).unwrap().allows(&uri.parse().unwrap())
    }

    #[test]
    fn outbound_table() {
        let rows: &[(&[&str], &str, bool)] = &[
            (&["http://127.0.0.1:*"], "http://127.0.0.1:8080/x", true),
            (&["http://127.0.0.1:*"], "https://127.0.0.1:8080/x", false),
            (&["http://127.0.0.1:*"], "http://127.0.0.2:8080/x", false),
            (&["http://localhost:*"], "http://LOCALHOST:1/", true),
            (&["http://localhost:3000"], "http://localhost:3001/", false),
            (&["http://localhost:3000"], "http://localhost:3000/", true),
            (&["https://api.example.com"], "https://api.example.com/v1", true),
            (&["https://api.example.com"], "https://api.example.com:8443/v1", false),
            (&["https://*.example.com"], "https://a.example.com/", true),
            (&["https://*.example.com"], "https://example.com/", false),
            (&["*://*:*"], "http://10.1.2.3:9/", true),
            (&["*"], "https://anything.test/", true),
            (&["http://[::1]:*"], "http://[::1]:8080/", true),
            (&[], "http://127.0.0.1:80/", false),
        ];
        for (patterns, uri, expected) in rows {
            assert_eq!(allowed(patterns, uri), *expected, "{patterns:?} {uri}");
        }
    }

    #[test]
    fn variables_resolve_from_the_environment_then_the_default() {
        let app: BTreeMap<String, RawVariable> = toml::from_str(
            "secret = { required = true }\nplain = { default = \"d\" }\nopt = { default = \"\" }",
        )
        .unwrap();
        let templates: BTreeMap<String, String> = [
            ("a".to_owned(), "{{ secret }}".to_owned()),
            ("b".to_owned(), "x-{{plain}}-y".to_owned()),
            ("c".to_owned(), "literal".to_owned()),
            ("d".to_owned(), "{{ opt }}".to_owned()),
        ]
        .into();
        let env = |name: &str| (name == "secret").then(|| "s3".to_owned());
        let got = resolve(&templates, &app, &env).unwrap();
        assert_eq!(got["a"], "s3");
        assert_eq!(got["b"], "x-d-y");
        assert_eq!(got["c"], "literal");
        assert_eq!(got["d"], "");
        assert!(resolve(&templates, &app, &|_| None).is_err(), "required and unset");
        let unknown: BTreeMap<String, String> = [("e".to_owned(), "{{ nope }}".to_owned())].into();
        assert!(resolve(&unknown, &app, &env).is_err());
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["127.0.0.1", "ftp://x", "http://x:notaport", "http://a*b"] {
            assert!(AllowedHosts::parse(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }
}
