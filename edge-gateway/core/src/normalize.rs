//! The one normalisation of a request's path and method, applied before routing.
//!
//! The gateway, the origin shield and the origin must agree on which resource a request
//! names. So the pipeline normalises the path once, matches the route on the result, and
//! forwards (after the route's own edit) what it matched; the shield keys its cache with the
//! same function. Rules, in order, each chosen to remove a way for two parsers to disagree:
//!
//! | input | outcome | why |
//! |---|---|---|
//! | not starting with `/` (`*`, empty) | 400 | only origin-form targets are routed |
//! | a control character or NUL, literal or encoded | 400 | log forging, C-string truncation |
//! | `\`, literal or `%5C` | 400 | WHATWG URL parsers read it as `/` (`/public/..\admin`) |
//! | `%2F` | 400 | an encoded `/` is a separator to some origins and not to others |
//! | `%25` followed by two hex digits | 400 | double encoding (`%252e`) decoded once more upstream |
//! | a malformed escape (`%zz`, `%4`) | 400 | parsers recover from it differently |
//! | `;` | 400 | path parameters: Tomcat/Spring drop `;…` (`/admin;x/` is `/admin/`) |
//! | an escape of an unreserved character (`%61`, `%7E`, `%2e`) | decoded | RFC 3986 §6.2.2.2: same resource |
//! | other escapes | kept, hex upper-cased | RFC 3986 §6.2.2.1 |
//! | bytes the WHATWG path set encodes (`"` `<` `>` `` ` `` `{` `}`), non-ASCII | percent-encoded | what workerd does before the gateway sees it, so both runtimes agree |
//! | escapes that decode to invalid UTF-8 | 400 | origins decode to text and disagree on the replacement |
//! | `//` | merged into `/` | most origins merge; forwarding the merged path keeps all hops agreeing |
//! | a `.` or `..` segment (after decoding, so `%2e%2e` and `.%2e` too) | 400 | resolving them would move the request to another route after matching |
//!
//! Methods are case-sensitive tokens (RFC 9110 §9.1): only upper-case ones are accepted, so
//! `post` cannot slip past a `POST` rule; `TRACE` and `CONNECT` are refused (501).
//!
//! Pure: a string in, a string or the rule it broke out. It never allocates when the path is
//! already normal.

use std::borrow::Cow;

use http::Method;

/// Why a path or method was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// The target is not an absolute path.
    #[error("the request target must be an absolute path")]
    NotAbsolute,
    /// A control character (literal or encoded).
    #[error("the path contains a control character")]
    Control,
    /// A backslash (literal or `%5C`).
    #[error("the path contains a backslash")]
    Backslash,
    /// `%2F`.
    #[error("the path contains an encoded '/'")]
    EncodedSlash,
    /// `%25` followed by two hex digits.
    #[error("the path is percent-encoded twice")]
    DoubleEncoded,
    /// `%` not followed by two hex digits.
    #[error("the path contains a malformed percent-encoding")]
    MalformedEscape,
    /// `;`.
    #[error("the path contains a ';' parameter")]
    Parameter,
    /// Escapes that do not decode to UTF-8.
    #[error("the path does not decode to UTF-8")]
    InvalidUtf8,
    /// A `.` or `..` segment.
    #[error("the path contains a '.' or '..' segment")]
    DotSegment,
    /// A method that is not an upper-case token.
    #[error("the method must be an upper-case token")]
    MethodCase,
}

/// The normal form of `raw`, an origin-form path as received (no query).
pub fn path(raw: &str) -> Result<Cow<'_, str>, Rejected> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(Rejected::NotAbsolute);
    }
    if is_normal(bytes) {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len() + 8);
    let mut decoded_run: Vec<u8> = Vec::new(); // bytes of consecutive non-ASCII escapes, for the UTF-8 check
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let value = escape_at(bytes, i)?;
            i += 3;
            if value >= 0x80 {
                decoded_run.push(value);
                push_escape(&mut out, value);
                continue;
            }
            check_utf8(&mut decoded_run)?;
            match value {
                b'/' => return Err(Rejected::EncodedSlash),
                b'\\' => return Err(Rejected::Backslash),
                v if v < 0x20 || v == 0x7f => return Err(Rejected::Control),
                v if is_unreserved(v) => out.push(char::from(v)),
                v => push_escape(&mut out, v),
            }
            continue;
        }
        check_utf8(&mut decoded_run)?;
        match byte {
            b'\\' => return Err(Rejected::Backslash),
            b';' => return Err(Rejected::Parameter),
            b if b < 0x21 || b == 0x7f => return Err(Rejected::Control),
            b'/' if out.ends_with('/') => {}
            b if b >= 0x80 || b"\"<>`{}".contains(&b) => push_escape(&mut out, b),
            b => out.push(char::from(b)),
        }
        i += 1;
    }
    check_utf8(&mut decoded_run)?;
    if is_double_encoded(out.as_bytes()) {
        return Err(Rejected::DoubleEncoded);
    }
    if has_dot_segment(&out) {
        return Err(Rejected::DotSegment);
    }
    Ok(Cow::Owned(out))
}

/// Refuses methods that are not upper-case tokens. `TRACE` and `CONNECT` pass here; the
/// pipeline refuses them with 501 ([`is_refused_method`]).
pub fn method(method: &Method) -> Result<(), Rejected> {
    let upper = method.as_str().bytes().all(|b| !b.is_ascii_lowercase());
    if upper { Ok(()) } else { Err(Rejected::MethodCase) }
}

/// Methods the gateway never forwards: `TRACE` echoes the request (credentials, identity
/// headers) back to the caller, `CONNECT` would open a tunnel through the edge.
pub fn is_refused_method(method: &Method) -> bool {
    *method == Method::TRACE || *method == Method::CONNECT
}

/// True when `bytes` needs no change: only unreserved characters, sub-delims other than `;`,
/// `:`, `@` and single `/` separators, with no `.`/`..` segment and no escapes.
fn is_normal(bytes: &[u8]) -> bool {
    let plain = bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@/^|[]".contains(&b));
    plain && !bytes.windows(2).any(|w| w == b"//") && !has_dot_segment_bytes(bytes)
}

/// `%25` followed by two hex digits: one more decode upstream would produce an escape.
fn is_double_encoded(out: &[u8]) -> bool {
    out.windows(5).any(|w| w.starts_with(b"%25") && hex(w[3]).is_some() && hex(w[4]).is_some())
}

fn has_dot_segment(path: &str) -> bool {
    has_dot_segment_bytes(path.as_bytes())
}

fn has_dot_segment_bytes(path: &[u8]) -> bool {
    path.split(|&b| b == b'/').any(|segment| segment == b"." || segment == b"..")
}

/// The byte encoded at `bytes[i..i + 3]`, which must be `%XX`.
fn escape_at(bytes: &[u8], i: usize) -> Result<u8, Rejected> {
    match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
        (Some(b'%'), Some(&hi), Some(&lo)) => match (hex(hi), hex(lo)) {
            (Some(hi), Some(lo)) => Ok(hi * 16 + lo),
            _ => Err(Rejected::MalformedEscape),
        },
        _ => Err(Rejected::MalformedEscape),
    }
}

fn check_utf8(run: &mut Vec<u8>) -> Result<(), Rejected> {
    if !run.is_empty() && std::str::from_utf8(run).is_err() {
        return Err(Rejected::InvalidUtf8);
    }
    run.clear();
    Ok(())
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~".contains(&byte)
}

fn push_escape(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0xf)]));
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_forms() {
        let cases = [
            ("/", "/"),
            ("/api/users/7", "/api/users/7"),
            ("/%61dmin/x", "/admin/x"),
            ("/a%7e%2D", "/a~-"),
            ("/a%3a%40", "/a%3A%40"),
            ("/a//b///c", "/a/b/c"),
            ("//admin", "/admin"),
            ("/caf\u{e9}", "/caf%C3%A9"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/q\"<>`{}", "/q%22%3C%3E%60%7B%7D"),
            ("/a%3Bb", "/a%3Bb"),
            ("/...", "/..."),
            ("/.well-known/x", "/.well-known/x"),
            ("/a%20b", "/a%20b"),
        ];
        for (raw, expected) in cases {
            assert_eq!(path(raw).as_deref(), Ok(expected), "{raw}");
        }
    }

    #[test]
    fn refusals() {
        let cases = [
            ("*", Rejected::NotAbsolute),
            ("", Rejected::NotAbsolute),
            ("/public/..\\admin/x", Rejected::Backslash),
            ("/public/%5cadmin", Rejected::Backslash),
            ("/public%2F..%2Fadmin", Rejected::EncodedSlash),
            ("/public/%2e%2e/admin", Rejected::DotSegment),
            ("/public/.%2E/admin", Rejected::DotSegment),
            ("/public/../admin", Rejected::DotSegment),
            ("/public/./admin", Rejected::DotSegment),
            ("/public/%2e", Rejected::DotSegment),
            ("/public/%252e%252e/admin", Rejected::DoubleEncoded),
            ("/public/%25%32%65", Rejected::DoubleEncoded),
            ("/public/%2525", Rejected::DoubleEncoded),
            ("/a%zz", Rejected::MalformedEscape),
            ("/a%4", Rejected::MalformedEscape),
            ("/admin;x/y", Rejected::Parameter),
            ("/a%00b", Rejected::Control),
            ("/a%0ab", Rejected::Control),
            ("/a\tb", Rejected::Control),
            ("/a%ffb", Rejected::InvalidUtf8),
            ("/a%c3", Rejected::InvalidUtf8),
        ];
        for (raw, expected) in cases {
            assert_eq!(path(raw), Err(expected), "{raw}");
        }
    }

    #[test]
    fn an_encoded_percent_before_text_is_a_literal_percent() {
        assert_eq!(path("/50%25off").as_deref(), Ok("/50%25off"));
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for raw in ["/%61dmin//x", "/caf\u{e9}/%7b", "/a/b/", "/x%3a"] {
            let once = path(raw).unwrap().into_owned();
            assert_eq!(path(&once).as_deref(), Ok(once.as_str()), "{raw}");
        }
    }

    #[test]
    fn methods() {
        for good in ["GET", "POST", "PURGE", "M-SEARCH"] {
            assert_eq!(method(&Method::from_bytes(good.as_bytes()).unwrap()), Ok(()), "{good}");
        }
        for bad in ["post", "Post", "gEt"] {
            assert_eq!(method(&Method::from_bytes(bad.as_bytes()).unwrap()), Err(Rejected::MethodCase));
        }
        assert!(is_refused_method(&Method::TRACE) && is_refused_method(&Method::CONNECT));
        assert!(!is_refused_method(&Method::OPTIONS));
    }
}
