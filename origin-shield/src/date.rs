//! Passing the origin's `Date` through Pingora's HTTP/1 writer.
//!
//! A shared cache must keep the origin's `Date` (RFC 9110 §6.6.1, RFC 9111 §4.2.3: the edge
//! computes the response's age from it), but Pingora's HTTP/1 server overwrites `Date` with
//! its own clock on every final response and offers no switch for it. So each downstream
//! connection is a [`DateStream`]: `response_filter` arms it with the origin's date
//! ([`arm`]), and the stream writes that date over Pingora's in the header block that
//! follows. Both are IMF-fixdates, 29 bytes, so no length or framing changes.
//!
//! [`date_offset`] (where the `Date` value sits in a header block) and [`Patch`] (which bytes
//! of a write to replace) are pure; [`DateStream`] is the thin I/O shell; [`PassOriginDate`]
//! wraps the proxy's [`ServerApp`] so every accepted connection gets one. It never reads a
//! clock and never changes anything but the `Date` value.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use http::HeaderValue;
use pingora_core::apps::ServerApp;
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::raw_connect::ProxyDigest;
use pingora_core::protocols::tls::SslDigest;
use pingora_core::protocols::{
    ALPN, GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType,
};
use pingora_core::server::ShutdownWatch;
use pingora_core::tls::TlsRef;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub const IMF_FIXDATE_LEN: usize = 29;

/// An HTTP date in IMF-fixdate form, as written on the wire.
pub type Fixdate = [u8; IMF_FIXDATE_LEN];

/// `value` (any of the three HTTP-date forms) as an IMF-fixdate; `None` when it is no date.
pub fn fixdate(value: &HeaderValue) -> Option<Fixdate> {
    let text = value.to_str().ok()?.trim();
    let at = httpdate::parse_http_date(text).ok()?;
    // Already IMF-fixdate (what origins send, and what is stored): no need to format it again.
    if text.len() == IMF_FIXDATE_LEN && text.as_bytes()[3] == b',' && text.ends_with(" GMT") {
        return text.as_bytes().try_into().ok();
    }
    httpdate::fmt_http_date(at).as_bytes().try_into().ok()
}

/// Where the 29-byte `Date` value of the header block at the start of `buf` begins.
///
/// `None` unless `buf` starts a response (`HTTP/1.`) and has a `Date` line of that length
/// before the end of the header block (only the block is searched, never a body).
pub fn date_offset(buf: &[u8]) -> Option<usize> {
    const NAME: &[u8] = b"\r\nDate: ";
    if !buf.starts_with(b"HTTP/1.") {
        return None;
    }
    let block = buf.windows(4).position(|w| w == b"\r\n\r\n").map_or(buf.len(), |end| end + 2);
    let name = buf[..block].windows(NAME.len()).position(|w| w == NAME)?;
    let at = name + NAME.len();
    buf.get(at + IMF_FIXDATE_LEN..at + IMF_FIXDATE_LEN + 2).filter(|crlf| *crlf == b"\r\n").map(|_| at)
}

/// The date still to be written over the stream's output: `ahead` bytes from the next byte
/// written, from index `done` of `date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    date: Fixdate,
    ahead: usize,
    done: usize,
}

impl Patch {
    /// A patch of `date` starting `ahead` bytes into the next write.
    pub fn new(date: Fixdate, ahead: usize) -> Patch {
        Patch { date, ahead, done: 0 }
    }

    /// The bytes to write in place of `buf`: a prefix of it with the date's bytes in place, or
    /// `None` when the date does not start in `buf` (write it unchanged).
    pub fn apply(&self, buf: &[u8]) -> Option<Vec<u8>> {
        if self.ahead >= buf.len() {
            return None;
        }
        let end = buf.len().min(self.ahead + IMF_FIXDATE_LEN - self.done);
        let mut out = buf[..end].to_vec();
        out[self.ahead..end].copy_from_slice(&self.date[self.done..self.done + end - self.ahead]);
        Some(out)
    }

    /// The patch after `n` bytes were written; `None` once the whole date is out.
    pub fn advance(self, n: usize) -> Option<Patch> {
        if n <= self.ahead {
            return Some(Patch { ahead: self.ahead - n, ..self });
        }
        let done = self.done + n - self.ahead;
        (done < IMF_FIXDATE_LEN).then_some(Patch { ahead: 0, done, ..self })
    }
}

/// A downstream connection that writes the armed date over Pingora's `Date`.
#[derive(Debug)]
pub struct DateStream {
    inner: Stream,
    armed: Mutex<Option<Fixdate>>,
    patch: Option<Patch>,
}

impl DateStream {
    /// `stream` as a [`DateStream`] (itself if it already is one, as on a reused connection).
    pub fn wrap(stream: Stream) -> Stream {
        if stream.as_any().is::<DateStream>() {
            return stream;
        }
        Box::new(DateStream { inner: stream, armed: Mutex::new(None), patch: None })
    }

    fn set(&self, date: Option<Fixdate>) {
        *self.armed.lock().unwrap_or_else(PoisonError::into_inner) = date;
    }
}

/// Makes the next response header written to `session`'s client carry `date` (or Pingora's
/// own, with `None`). A no-op on sessions that are not HTTP/1 over a [`DateStream`].
pub fn arm(session: &ServerSession, date: Option<Fixdate>) {
    if let ServerSession::H1(h1) = session
        && let Some(stream) = h1.stream().as_any().downcast_ref::<DateStream>()
    {
        stream.set(date);
    }
}

impl AsyncWrite for DateStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(date) = this.armed.get_mut().unwrap_or_else(PoisonError::into_inner).take() {
            this.patch = date_offset(buf).map(|at| Patch::new(date, at));
        }
        let Some(patch) = this.patch else { return Pin::new(&mut this.inner).poll_write(cx, buf) };
        let written = match patch.apply(buf) {
            Some(patched) => Pin::new(&mut this.inner).poll_write(cx, &patched),
            None => Pin::new(&mut this.inner).poll_write(cx, buf),
        };
        if let Poll::Ready(Ok(n)) = written {
            this.patch = patch.advance(n);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl AsyncRead for DateStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

#[async_trait]
impl Shutdown for DateStream {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

#[async_trait]
impl Peek for DateStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

impl UniqueID for DateStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for DateStream {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for DateStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for DateStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for DateStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

/// A [`ServerApp`] whose connections are [`DateStream`]s.
#[derive(Debug)]
pub struct PassOriginDate<A> {
    app: Arc<A>,
}

impl<A> PassOriginDate<A> {
    /// Wraps `app`.
    pub fn new(app: A) -> Self {
        PassOriginDate { app: Arc::new(app) }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for PassOriginDate<A> {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        self.app.process_new(DateStream::wrap(stream), shutdown).await
    }

    async fn cleanup(&self) {
        self.app.cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &[u8; 29] = b"Tue, 01 Dec 2026 08:00:00 GMT";
    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: Wed, 02 Dec 2026 09:10:11 GMT\r\n\r\nDate: Wed, 02 Dec 2026 09:10:11 GMT\r\n";

    /// Writes `buf` through a patch in pieces of at most `step` bytes, as partial writes do.
    fn write_in_steps(buf: &[u8], step: usize) -> Vec<u8> {
        let mut patch = date_offset(buf).map(|at| Patch::new(*ORIGIN, at));
        let (mut out, mut pos) = (Vec::new(), 0);
        while pos < buf.len() {
            let rest = &buf[pos..];
            let chunk = patch.and_then(|p| p.apply(rest)).unwrap_or_else(|| rest.to_vec());
            let n = chunk.len().min(step);
            out.extend_from_slice(&chunk[..n]);
            patch = patch.and_then(|p| p.advance(n));
            pos += n;
        }
        out
    }

    #[test]
    fn date_offset_table() {
        let rows: &[(&[u8], Option<usize>)] = &[
            (HEAD, Some(42)),
            (b"HTTP/1.1 200 OK\r\nX: 1\r\n\r\nDate: Wed, 02 Dec 2026 09:10:11 GMT\r\n", None),
            (b"hello\r\nDate: Wed, 02 Dec 2026 09:10:11 GMT\r\n\r\n", None),
            (b"HTTP/1.1 200 OK\r\nDate: short\r\n\r\n", None),
            (b"HTTP/1.1 200 OK\r\nDate: Wed, 02 Dec 2026 09:10:11 GMT", None),
        ];
        for (buf, expected) in rows {
            assert_eq!(date_offset(buf), *expected, "{}", String::from_utf8_lossy(buf));
        }
    }

    #[test]
    fn regression_issue_11_the_origin_date_replaces_only_the_header_date_whatever_the_write_sizes() {
        let expected = String::from_utf8_lossy(HEAD).replacen(
            "Wed, 02 Dec 2026 09:10:11 GMT",
            "Tue, 01 Dec 2026 08:00:00 GMT",
            1,
        );
        for step in [1, 2, 7, 42, 43, 50, 71, HEAD.len()] {
            assert_eq!(String::from_utf8_lossy(&write_in_steps(HEAD, step)), expected, "step {step}");
        }
    }

    #[test]
    fn fixdate_normalises_the_three_forms_and_refuses_the_rest() {
        let rows = [
            ("Tue, 01 Dec 2026 08:00:00 GMT", Some(ORIGIN)),
            ("Tuesday, 01-Dec-26 08:00:00 GMT", Some(ORIGIN)),
            ("Tue Dec  1 08:00:00 2026", Some(ORIGIN)),
            ("yesterday", None),
        ];
        for (value, expected) in rows {
            assert_eq!(fixdate(&HeaderValue::from_static(value)).as_ref(), expected, "{value}");
        }
    }
}
