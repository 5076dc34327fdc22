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
    pub fn start(headers: &HeaderMap, entropy: &impl Entropy) -> Trace {
        let span_id = random_hex(entropy, 8);
        if let Some((trace_id, flags)) = headers.get(TRACEPARENT).and_then(parse_traceparent) {
            let state = headers.get(TRACESTATE).cloned();
            return Trace { trace_id, span_id, flags, state };
        }
        Trace { trace_id: random_hex(entropy, 16), span_id, flags: "01".into(), state: None }
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

fn random_hex(entropy: &impl Entropy, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    loop {
        entropy.fill(&mut buf);
        if buf.iter().any(|&b| b != 0) {
            break;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
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
