//! Request ids and W3C Trace Context (`traceparent`, `tracestate`).
//!
//! A valid incoming `traceparent` keeps its trace id and flags and gets this gateway's span as
//! the new parent; an invalid or missing one starts a new trace and drops `tracestate`. A
//! client's `X-Request-Id` is kept when it is short and plain, otherwise the trace id is used.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::ports::Entropy;

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const MAX_REQUEST_ID: usize = 128;

/// The trace context of one request through the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// 16-byte trace id, lower-case hex.
    pub trace_id: String,
    /// This gateway's span id (the upstream's parent), lower-case hex.
    pub span_id: String,
    /// Trace flags, two hex digits.
    pub flags: String,
    /// The incoming `tracestate`, kept only with a valid `traceparent`.
    pub state: Option<HeaderValue>,
}

impl Trace {
    /// Continues the client's trace or starts a new one.
    ///
    /// A new trace takes its span id and trace id from one [`Entropy::fill`] (on Workers each
    /// fill is a `crypto.getRandomValues` call across the wasm boundary): the first 8 bytes are
    /// the span id, the next 16 the trace id, and neither may be all zero.
    pub fn start(headers: &HeaderMap, entropy: &impl Entropy) -> Trace {
        if let Some((trace_id, flags)) = headers.get(TRACEPARENT).and_then(parse_traceparent) {
            let mut span = [0u8; 8];
            fill_nonzero(entropy, &mut span, is_nonzero);
            let state = headers.get(TRACESTATE).cloned();
            return Trace { trace_id, span_id: hex(&span), flags, state };
        }
        let mut ids = [0u8; 24];
        fill_nonzero(entropy, &mut ids, |bytes| is_nonzero(&bytes[..8]) && is_nonzero(&bytes[8..]));
        Trace { trace_id: hex(&ids[8..]), span_id: hex(&ids[..8]), flags: "01".into(), state: None }
    }

    /// The `traceparent` value for the upstream request.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }

    /// Writes `traceparent` (and `tracestate`, if any) into `headers`.
    pub fn write_to(&self, headers: &mut HeaderMap) {
        headers.remove(&TRACESTATE);
        if let Ok(value) = HeaderValue::from_str(&self.traceparent()) {
            headers.insert(TRACEPARENT, value);
        }
        if let Some(state) = &self.state {
            headers.insert(TRACESTATE, state.clone());
        }
    }
}

/// `(trace_id, flags)` of a valid version-00 (or later) `traceparent`.
fn parse_traceparent(value: &HeaderValue) -> Option<(String, String)> {
    let text = value.to_str().ok()?;
    let mut fields = text.split('-');
    let (version, trace_id, parent_id, flags) =
        (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    let valid = is_hex(version, 2)
        && version != "ff"
        && (version != "00" || fields.next().is_none())
        && is_hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && is_hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && is_hex(flags, 2);
    valid.then(|| (trace_id.to_owned(), flags.to_owned()))
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Fills `buf` from `entropy` until `valid` accepts it (W3C Trace Context forbids all-zero ids).
fn fill_nonzero(entropy: &impl Entropy, buf: &mut [u8], valid: impl Fn(&[u8]) -> bool) {
    loop {
        entropy.fill(buf);
        if valid(buf) {
            break;
        }
    }
}

fn is_nonzero(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b != 0)
}

/// `bytes` as lower-case hex, into one allocation (no `format!` per byte).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The request id: the client's when it is 1 to 128 plain characters, else the trace id.
pub fn request_id(headers: &HeaderMap, trace: &Trace) -> String {
    headers
        .get(super::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(|| trace.trace_id.clone(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Entropy that gives zeros for the first `zeros` fills, then counts up like the fakes.
    struct ZerosFirst {
        zeros: Cell<u32>,
        next: Cell<u8>,
        fills: Cell<u32>,
    }

    impl Entropy for ZerosFirst {
        fn fill(&self, buf: &mut [u8]) {
            self.fills.set(self.fills.get() + 1);
            if self.zeros.get() > 0 {
                self.zeros.set(self.zeros.get() - 1);
                buf.fill(0);
                return;
            }
            for byte in buf {
                self.next.set(self.next.get().wrapping_add(1));
                *byte = self.next.get();
            }
        }
    }

    fn zeros_first(zeros: u32) -> ZerosFirst {
        ZerosFirst { zeros: Cell::new(zeros), next: Cell::new(0), fills: Cell::new(0) }
    }

    #[test]
    fn hex_is_two_lower_case_digits_per_byte() {
        let bytes = [0x00, 0x0f, 0xa0, 0xff, 0x42];
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&bytes), expected);
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn a_new_trace_takes_span_then_trace_id_from_one_fill() {
        let entropy = zeros_first(0);
        let trace = Trace::start(&HeaderMap::new(), &entropy);
        assert_eq!(entropy.fills.get(), 1, "one call to the platform's random source");
        assert_eq!(trace.span_id, "0102030405060708");
        assert_eq!(trace.trace_id, "090a0b0c0d0e0f101112131415161718");
        assert_eq!(trace.flags, "01");
    }

    #[test]
    fn all_zero_ids_are_drawn_again() {
        let entropy = zeros_first(2);
        let trace = Trace::start(&HeaderMap::new(), &entropy);
        assert_eq!(entropy.fills.get(), 3);
        assert_eq!(trace.span_id, "0102030405060708");
        let mut headers = HeaderMap::new();
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        headers.insert(TRACEPARENT, HeaderValue::from_static(parent));
        let entropy = zeros_first(1);
        let trace = Trace::start(&headers, &entropy);
        assert_eq!((entropy.fills.get(), trace.span_id.as_str()), (2, "0102030405060708"));
        assert_eq!(trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}
