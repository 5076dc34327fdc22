//! Header edits made on the way through: `Host`, `Via`, hop-by-hop stripping.
//!
//! Pure functions over Pingora's header types. Pingora's standard upstream
//! request policy already strips hop-by-hop request fields (including those the
//! `Connection` header nominates); [`strip_hop_by_hop`] does the same for
//! responses. `X-Forwarded-*` from the gateway pass untouched: it is trusted.

use http::header::{self, HeaderName};
use pingora_error::Result;
use pingora_http::{RequestHeader, ResponseHeader};

/// The response header naming the shield's region.
pub const REGION_HEADER: &str = "x-shield-region";

/// Response fields that only describe the shield↔origin connection.
///
/// `Transfer-Encoding` is absent on purpose: Pingora re-frames the body towards the
/// client from it and owns the downstream `Connection` header.
const HOP_BY_HOP: [&str; 5] = ["connection", "keep-alive", "proxy-connection", "te", "upgrade"];

/// The first transfer-coding of `response` other than `chunked`, if any. The shield decodes
/// only `chunked` (RFC 9112 §7), so a response framed with another coding cannot be forwarded
/// or stored faithfully: the caller refuses it with 502.
pub fn unknown_transfer_coding(response: &ResponseHeader) -> Option<String> {
    response
        .headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| {
            String::from_utf8_lossy(value.as_bytes())
                .split(',')
                .map(|c| c.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .find(|coding| coding != "chunked")
}

/// The `Via` entry this hop adds, e.g. `1.1 origin-shield-eu-west`.
pub fn via_entry(region: &str) -> String {
    format!("1.1 origin-shield-{region}")
}

/// Appends `entry` to the request's `Via`, keeping earlier hops in order, as one field.
pub fn append_via(req: &mut RequestHeader, entry: &str) -> Result<()> {
    let mut hops: Vec<String> =
        req.headers.get_all(header::VIA).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect();
    hops.push(entry.to_owned());
    req.insert_header(header::VIA, hops.join(", "))
}

/// Sends `authority` as `Host` unless the client's is preserved.
pub fn set_host(req: &mut RequestHeader, authority: &str, preserve: bool) -> Result<()> {
    if preserve && req.headers.contains_key(header::HOST) {
        return Ok(());
    }
    req.insert_header(header::HOST, authority)
}

/// Removes hop-by-hop fields and those the `Connection` header nominates.
pub fn strip_hop_by_hop(resp: &mut ResponseHeader) {
    let nominated: Vec<HeaderName> = resp
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in nominated {
        resp.remove_header(&name);
    }
    let switching = resp.status == http::StatusCode::SWITCHING_PROTOCOLS;
    for name in HOP_BY_HOP {
        if !(switching && (name == "connection" || name == "upgrade")) {
            resp.remove_header(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&'static str, &'static str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).expect("request");
        for (k, v) in headers {
            req.append_header(*k, *v).expect("header");
        }
        req
    }

    #[test]
    fn via_table() {
        let rows: &[(&[(&str, &str)], &str)] = &[
            (&[], "1.1 origin-shield-eu-west"),
            (&[("via", "1.1 edge")], "1.1 edge, 1.1 origin-shield-eu-west"),
            (&[("via", "1.0 a"), ("via", "1.1 b")], "1.0 a, 1.1 b, 1.1 origin-shield-eu-west"),
        ];
        for (headers, expected) in rows {
            let mut req = request(headers);
            append_via(&mut req, &via_entry("eu-west")).expect("via");
            assert_eq!(req.headers.get_all("via").iter().count(), 1);
            assert_eq!(req.headers["via"], *expected, "{headers:?}");
        }
    }

    #[test]
    fn host_table() {
        let rows = [
            (Some("client.example"), false, "origin:9000"),
            (Some("client.example"), true, "client.example"),
            (None, true, "origin:9000"),
        ];
        for (client_host, preserve, expected) in rows {
            let mut req = request(&[]);
            if let Some(h) = client_host {
                req.insert_header("host", h).expect("host");
            }
            set_host(&mut req, "origin:9000", preserve).expect("set");
            assert_eq!(req.headers["host"], expected);
        }
    }

    #[test]
    fn response_hop_by_hop_fields_are_stripped() {
        let mut resp = ResponseHeader::build(200, None).expect("response");
        for (k, v) in [
            ("connection", "keep-alive, x-origin-hop"),
            ("keep-alive", "timeout=5"),
            ("x-origin-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("x-forwarded-for", "203.0.113.9"),
            ("cache-control", "max-age=60"),
        ] {
            resp.append_header(k, v).expect("header");
        }
        strip_hop_by_hop(&mut resp);
        let mut left: Vec<&str> = resp.headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["cache-control", "transfer-encoding", "x-forwarded-for"]);
    }
}

#[cfg(test)]
mod transfer_coding_tests {
    use super::*;

    #[test]
    fn only_chunked_is_understood() {
        let rows: &[(&[&str], Option<&str>)] = &[
            (&[], None),
            (&["chunked"], None),
            (&["Chunked"], None),
            (&["x-custom, chunked"], Some("x-custom")),
            (&["gzip", "chunked"], Some("gzip")),
            (&["chunked, identity"], Some("identity")),
        ];
        for (values, expected) in rows {
            let mut response = ResponseHeader::build(200, None).expect("head");
            for value in *values {
                response.append_header(header::TRANSFER_ENCODING, *value).expect("header");
            }
            assert_eq!(unknown_transfer_coding(&response).as_deref(), *expected, "{values:?}");
        }
    }
}
