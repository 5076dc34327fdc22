//! Updating a stored response from a `304 Not Modified` (RFC 9111 §3.2, §4.3.4).
//!
//! [`refresh`] is pure: the stored head and the 304's head in, the head to store out. Every
//! field the 304 carries replaces the stored one of that name (`Date` and `Cache-Control`
//! included, so the entry's age and lifetime count from the revalidation), except those that
//! describe the stored body or its framing, which the 304 cannot change. Pingora's own merge
//! copies only five fields and keeps the old `Date`, which left the entry stale.
//! It never reads a clock and never touches storage.

use std::collections::HashSet;

use http::header::{self, HeaderName};
use pingora_error::Result;
use pingora_http::ResponseHeader;

/// Fields a 304 never updates: the body's framing and coding (the stored body is what it is),
/// `Vary` (the entry's variance is kept, as Pingora does), and hop-by-hop fields.
const KEPT: [HeaderName; 10] = [
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_RANGE,
    header::TRANSFER_ENCODING,
    header::TRAILER,
    header::VARY,
    header::CONNECTION,
    header::TE,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
];

/// The stored head `stored` updated with the fields of `not_modified`.
///
/// A stored `Age` without a new one is dropped: it described the earlier exchange.
pub fn refresh(stored: &ResponseHeader, not_modified: &ResponseHeader) -> Result<ResponseHeader> {
    let mut merged = stored.clone();
    let names: HashSet<&HeaderName> = not_modified.headers.keys().filter(|n| !KEPT.contains(n)).collect();
    if !not_modified.headers.contains_key(header::AGE) {
        merged.remove_header(&header::AGE);
    }
    for name in names {
        merged.remove_header(name);
        for value in not_modified.headers.get_all(name) {
            merged.append_header(name.clone(), value)?;
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: u16, fields: &[(&'static str, &'static str)]) -> ResponseHeader {
        let mut resp = ResponseHeader::build(status, None).expect("response");
        for (k, v) in fields {
            resp.append_header(*k, *v).expect("header");
        }
        resp
    }

    fn values(resp: &ResponseHeader, name: &str) -> Vec<String> {
        resp.headers.get_all(name).iter().map(|v| v.to_str().expect("ascii").to_owned()).collect()
    }

    #[test]
    fn regression_issue_11_a_304_replaces_every_field_but_framing_and_vary() {
        let stored = head(
            200,
            &[
                ("date", "Tue, 01 Dec 2026 10:00:00 GMT"),
                ("cache-control", "max-age=1"),
                ("x-revision", "1"),
                ("content-length", "12"),
                ("content-encoding", "gzip"),
                ("vary", "accept-encoding"),
                ("link", "</a.css>"),
                ("age", "5"),
                ("content-type", "text/plain"),
            ],
        );
        let not_modified = head(
            304,
            &[
                ("date", "Tue, 01 Dec 2026 10:05:00 GMT"),
                ("cache-control", "max-age=60"),
                ("x-revision", "2"),
                ("x-new", "yes"),
                ("content-length", "0"),
                ("content-encoding", "br"),
                ("vary", "cookie"),
                ("link", "</b.css>"),
                ("link", "</c.css>"),
            ],
        );
        let merged = refresh(&stored, &not_modified).expect("merge");
        let rows: &[(&str, &[&str])] = &[
            ("date", &["Tue, 01 Dec 2026 10:05:00 GMT"]),
            ("cache-control", &["max-age=60"]),
            ("x-revision", &["2"]),
            ("x-new", &["yes"]),
            ("content-length", &["12"]),
            ("content-encoding", &["gzip"]),
            ("vary", &["accept-encoding"]),
            ("link", &["</b.css>", "</c.css>"]),
            ("age", &[]),
            ("content-type", &["text/plain"]),
        ];
        for (name, expected) in rows {
            assert_eq!(values(&merged, name), *expected, "{name}");
        }
        assert_eq!(merged.status, 200);
    }

    #[test]
    fn a_new_age_replaces_the_stored_one() {
        let stored = head(200, &[("age", "5")]);
        let merged = refresh(&stored, &head(304, &[("age", "2")])).expect("merge");
        assert_eq!(values(&merged, "age"), ["2"]);
    }
}
