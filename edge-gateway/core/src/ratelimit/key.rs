//! Which counter a request is charged to: [`counter_key`].
//!
//! A key is built from the policy's name and its key parts, each taken from what the gateway
//! itself established: the route it matched, the identity the authenticate stage returned and
//! the client address the platform reported. A request header is read only when the policy
//! names it, so a client cannot choose its own counter by sending `X-Forwarded-For` or an
//! identity header.
//!
//! **Missing parts.** A part the request does not have (no subject on an anonymous request, a
//! JWT without the named claim, an absent header, no client address) is written as *absent*
//! (`sub!`), distinct from every present value. The limit still applies: every request that
//! lacks the part shares one counter for that policy. Leaving out a header or a claim therefore
//! never escapes a limit; it lands in the most crowded counter.
//!
//! **Encoding.** `<policy>|<tag>=<value>|...`, values escaped so no two requests with different
//! parts get the same key (`%`, `|`, `=`, `!` and every byte outside visible ASCII as `%XX`). A
//! key longer than [`MAX_KEY_BYTES`] becomes `<policy>|h=<SHA-256 of the key>`, which keeps it
//! within the stores' key limits (KV: 512 bytes).

use std::fmt::Write as _;
use std::net::IpAddr;

use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::policy::{KeyPart, Policy};
use crate::auth::identity::Identity;

/// Longest key returned as written; longer ones are hashed.
pub const MAX_KEY_BYTES: usize = 256;

/// What a counter key is built from: facts the gateway established about one request.
#[derive(Debug, Clone, Copy)]
pub struct KeyFacts<'a> {
    /// The matched route's id.
    pub route_id: &'a str,
    /// Who the authenticate stage says the caller is.
    pub identity: &'a Identity,
    /// The client address the platform reports (never a header).
    pub client_ip: Option<IpAddr>,
    /// The request headers (read only for `{"header": ...}` parts).
    pub headers: &'a HeaderMap,
}

/// The counter key of `policy` for the request described by `facts`.
pub fn counter_key(policy: &Policy, facts: &KeyFacts<'_>) -> String {
    let mut key = escape(policy.name.as_bytes());
    for part in &policy.key {
        let (tag, value) = part_value(part, facts);
        key.push('|');
        key.push_str(tag);
        match value {
            Some(value) => {
                key.push('=');
                key.push_str(&escape(&value));
            }
            None if matches!(part, KeyPart::Global) => {}
            None => key.push('!'),
        }
    }
    if key.len() <= MAX_KEY_BYTES {
        return key;
    }
    let digest = Sha256::digest(key.as_bytes());
    let mut hashed = format!("{}|h=", escape(policy.name.as_bytes()));
    for byte in digest {
        let _ = write!(hashed, "{byte:02x}");
    }
    hashed
}

/// A part's tag and value (`None`: the request does not have it, or `Global`).
fn part_value(part: &KeyPart, facts: &KeyFacts<'_>) -> (&'static str, Option<Vec<u8>>) {
    let text = |value: Option<String>| value.map(String::into_bytes);
    match part {
        KeyPart::Global => ("global", None),
        KeyPart::Route => ("route", Some(facts.route_id.as_bytes().to_vec())),
        KeyPart::ClientIp => ("ip", text(facts.client_ip.map(ip_bucket))),
        KeyPart::ApiKey => (
            "key",
            match facts.identity {
                Identity::ApiKey { id, .. } => Some(id.as_bytes().to_vec()),
                _ => None,
            },
        ),
        KeyPart::Subject => ("sub", text(facts.identity.claim("sub").and_then(claim_text))),
        KeyPart::Claim(name) => {
            let value = match (name.as_str(), facts.identity) {
                ("tenant", Identity::Jwt { tenant, .. }) => tenant.clone(),
                _ => facts.identity.claim(name).and_then(claim_text),
            };
            ("claim", text(value.map(|v| format!("{name}:{v}"))))
        }
        KeyPart::Header(name) => ("hdr", header_value(facts.headers, name)),
    }
}

/// Every line of header `name`, trimmed and joined with `,` (Workers joins repeated lines the
/// same way, so both runtimes build one key); `None` when absent.
fn header_value(headers: &HeaderMap, name: &http::HeaderName) -> Option<Vec<u8>> {
    let mut lines = headers.get_all(name).iter().peekable();
    lines.peek()?;
    let mut joined = format!("{name}:").into_bytes();
    for (i, line) in lines.enumerate() {
        if i > 0 {
            joined.push(b',');
        }
        joined.extend_from_slice(line.as_bytes().trim_ascii());
    }
    Some(joined)
}

/// IPv4 as is; IPv6 by its /64 (one subscriber usually holds a whole /64).
fn ip_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// A claim as key text: strings as they are, numbers and booleans written out, `null` absent.
fn claim_text(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

/// `text` with `%`, `|`, `=`, `!` and bytes outside visible ASCII written as `%XX`.
fn escape(text: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text {
        if byte.is_ascii_graphic() && !matches!(byte, b'%' | b'|' | b'=' | b'!') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}
