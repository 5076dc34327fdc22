//! The body type the pipeline passes around.
//!
//! The core never reads a streamed body: it carries the platform's stream (`S`) from the client
//! to the upstream and back untouched, so bodies are never buffered whole. Responses the gateway
//! makes itself (problems, health) are small byte buffers.

use bytes::Bytes;

/// A request or response body: nothing, bytes the gateway made, or a platform stream.
#[derive(Debug)]
pub enum Body<S> {
    /// No body at all (`GET` requests, `204` responses).
    Empty,
    /// A body the gateway built itself.
    Bytes(Bytes),
    /// The platform's body stream, passed through without being read.
    Stream(S),
}

impl<S> Body<S> {
    /// True when there is no body, so the request can be replayed to another region.
    pub fn is_empty(&self) -> bool {
        matches!(self, Body::Empty)
    }

    /// The bytes of a body the gateway made, or `None` for a stream.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Empty => Some(&[]),
            Body::Bytes(bytes) => Some(bytes),
            Body::Stream(_) => None,
        }
    }
}

impl<S> From<Bytes> for Body<S> {
    fn from(bytes: Bytes) -> Self {
        Body::Bytes(bytes)
    }
}
