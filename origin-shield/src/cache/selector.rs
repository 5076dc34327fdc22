//! What the purge API can name, and which stored entries a name selects.
//!
//! Each stored entry keeps its [`EntryFacts`] (URL, path, tags from `Cache-Tag` /
//! `Surrogate-Key`), recorded when it is stored; a [`Selector`] matches entries by exact URL,
//! by tag, or by path prefix. Pure: no storage, no I/O.

use edge_gateway_core::cache::purge::response_tags;
use http::HeaderMap;

/// What a stored entry is known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFacts {
    /// The cache key's URL, e.g. `http://127.0.0.1:9000/a/b?x=1`.
    pub url: String,
    /// Path and query of that URL, e.g. `/a/b?x=1`.
    pub path: String,
    /// Tags from `Cache-Tag` and `Surrogate-Key`.
    pub tags: Vec<String>,
}

impl EntryFacts {
    /// Facts for an entry stored under `url` with response `headers`.
    pub fn new(url: &str, headers: &HeaderMap) -> Self {
        EntryFacts { url: url.to_owned(), path: path_of(url).to_owned(), tags: response_tags(headers) }
    }
}

/// A purge request's target set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Entries whose URL (absolute form) or path and query (`/…` form) equals one of these.
    Urls(Vec<String>),
    /// Entries carrying any of these tags.
    Tags(Vec<String>),
    /// Entries whose path starts with any of these.
    Prefixes(Vec<String>),
}

impl Selector {
    /// True when the selector names the entry.
    pub fn matches(&self, facts: &EntryFacts) -> bool {
        match self {
            Selector::Urls(urls) => {
                urls.iter().any(|u| if u.starts_with('/') { *u == facts.path } else { *u == facts.url })
            }
            Selector::Tags(tags) => tags.iter().any(|t| facts.tags.iter().any(|have| have == t)),
            Selector::Prefixes(prefixes) => prefixes.iter().any(|p| facts.path.starts_with(p.as_str())),
        }
    }
}

/// Path and query of an absolute URL (`/` when it has no path).
pub fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(url: &str, tag_line: &str) -> EntryFacts {
        let mut headers = HeaderMap::new();
        headers.insert("cache-tag", tag_line.parse().expect("value"));
        EntryFacts::new(url, &headers)
    }

    #[test]
    fn tags_are_split_on_spaces_and_commas_from_both_fields() {
        let mut headers = HeaderMap::new();
        headers.append("cache-tag", "a, b".parse().unwrap());
        headers.append("cache-tag", "c".parse().unwrap());
        headers.append("surrogate-key", "b d  e".parse().unwrap());
        headers.append("surrogate-key", "f\tg".parse().unwrap());
        assert_eq!(response_tags(&headers), ["a", "b", "c", "d", "e", "f", "g"]);
    }

    #[test]
    fn selector_table() {
        let entry = facts("http://127.0.0.1:9000/img/logo.png?v=2", "static img");
        let rows = [
            (Selector::Urls(vec!["/img/logo.png?v=2".into()]), true),
            (Selector::Urls(vec!["/img/logo.png".into()]), false),
            (Selector::Urls(vec!["http://127.0.0.1:9000/img/logo.png?v=2".into()]), true),
            (Selector::Urls(vec!["http://other/img/logo.png?v=2".into()]), false),
            (Selector::Tags(vec!["img".into()]), true),
            (Selector::Tags(vec!["im".into(), "css".into()]), false),
            (Selector::Prefixes(vec!["/img/".into()]), true),
            (Selector::Prefixes(vec!["/css/".into(), "/".into()]), true),
            (Selector::Prefixes(vec!["/images".into()]), false),
        ];
        for (selector, expected) in rows {
            assert_eq!(selector.matches(&entry), expected, "{selector:?}");
        }
    }

    #[test]
    fn path_of_table() {
        assert_eq!(path_of("http://h:1/a?b"), "/a?b");
        assert_eq!(path_of("http://h:1"), "/");
        assert_eq!(path_of("/x"), "/x");
    }
}
