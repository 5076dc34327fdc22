//! The purge API's pure parts: who may purge ([`authorized`]) and what a request body asks
//! for ([`parse`]).
//!
//! `POST /__shield/purge` with `Authorization: Bearer <secret>` and a JSON body naming exactly
//! one of `urls`, `tags` or `prefixes` (non-empty lists of non-empty strings). The secret is
//! compared in constant time. Executing the purge and answering is the proxy's job
//! ([`crate::proxy`]); this module never touches the cache or a session.

use edge_gateway_core::auth::apikey::constant_time_eq;
use serde::Deserialize;

use crate::cache::selector::Selector;

/// The purge endpoint.
pub const PATH: &str = "/__shield/purge";

/// Largest accepted request body.
pub const MAX_BODY: usize = 64 * 1024;

/// Most names accepted in one request.
pub const MAX_NAMES: usize = 1000;

/// The request body as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    urls: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    prefixes: Option<Vec<String>>,
}

/// True when `authorization` is `Bearer <secret>` (constant time in the secret's content).
pub fn authorized(authorization: Option<&[u8]>, secret: &str) -> bool {
    let Some(given) = authorization.and_then(|v| v.strip_prefix(b"Bearer ")) else { return false };
    constant_time_eq(given, secret.as_bytes())
}

/// Builds a selector from the names given.
type MakeSelector = fn(Vec<String>) -> Selector;

/// Reads a purge body, or says what is wrong with it.
pub fn parse(body: &[u8]) -> Result<Selector, String> {
    let body: Body =
        serde_json::from_slice(body).map_err(|e| format!("body is not a valid purge request: {e}"))?;
    let (field, names, make): (&str, Vec<String>, MakeSelector) = match (body.urls, body.tags, body.prefixes)
    {
        (Some(urls), None, None) => ("urls", urls, Selector::Urls),
        (None, Some(tags), None) => ("tags", tags, Selector::Tags),
        (None, None, Some(prefixes)) => ("prefixes", prefixes, Selector::Prefixes),
        _ => return Err("name exactly one of urls, tags or prefixes".to_owned()),
    };
    if names.is_empty() || names.len() > MAX_NAMES {
        return Err(format!("{field}: must hold 1 to {MAX_NAMES} entries"));
    }
    if names.iter().any(String::is_empty) {
        return Err(format!("{field}: entries must not be empty"));
    }
    if field == "prefixes" && names.iter().any(|p| !p.starts_with('/')) {
        return Err("prefixes: entries must be paths starting with /".to_owned());
    }
    Ok(make(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_table() {
        let secret = "0123456789abcdef";
        let rows: [(Option<&[u8]>, bool); 6] = [
            (Some(b"Bearer 0123456789abcdef"), true),
            (Some(b"Bearer 0123456789abcdeF"), false),
            (Some(b"Bearer 0123456789abcde"), false),
            (Some(b"bearer 0123456789abcdef"), false),
            (Some(b"0123456789abcdef"), false),
            (None, false),
        ];
        for (header, expected) in rows {
            assert_eq!(authorized(header, secret), expected, "{header:?}");
        }
    }

    #[test]
    fn body_table() {
        let ok = |s: Selector| Ok::<Selector, String>(s);
        let rows: [(&str, Result<Selector, String>); 9] = [
            (r#"{"urls":["/a","http://h/b"]}"#, ok(Selector::Urls(vec!["/a".into(), "http://h/b".into()]))),
            (r#"{"tags":["t1"]}"#, ok(Selector::Tags(vec!["t1".into()]))),
            (r#"{"prefixes":["/img/"]}"#, ok(Selector::Prefixes(vec!["/img/".into()]))),
            (r#"{"prefixes":["img"]}"#, Err("prefixes: entries must be paths starting with /".into())),
            (r#"{"urls":[]}"#, Err("urls: must hold 1 to 1000 entries".into())),
            (r#"{"tags":[""]}"#, Err("tags: entries must not be empty".into())),
            (r#"{"urls":["/a"],"tags":["t"]}"#, Err("name exactly one of urls, tags or prefixes".into())),
            (r#"{}"#, Err("name exactly one of urls, tags or prefixes".into())),
            (r#"{"url":["/a"]}"#, Err("x".into())),
        ];
        for (body, expected) in rows {
            let got = parse(body.as_bytes());
            match (&got, &expected) {
                (Err(e), Err(x)) if x == "x" => {
                    assert!(e.starts_with("body is not a valid purge request"), "{e}")
                }
                _ => assert_eq!(got, expected, "{body}"),
            }
        }
    }
}
