//! Moving bytes between `wasi:http` 0.2 bodies without holding them whole.
//!
//! WASI 0.2 has no way to hand a body stream from one message to another, so [`copy`] reads
//! the source in chunks of at most [`CHUNK`] bytes and writes each before reading the next: at
//! most one chunk is in the component at a time. Waiting is done by registering the stream's
//! pollable with the SDK's executor (`spin_executor`), which runs the handler's future.
//!
//! A failed copy drops the destination body without finishing it, so the host reports the
//! message as broken instead of passing a truncated body off as complete.

use std::future::Future;
use std::task::Poll;

use bytes::Bytes;
use edge_gateway_core::Body;
use spin_executor::{CancelOnDropToken, push_waker_and_get_token};
use spin_sdk::http::OutgoingBody;
use spin_sdk::wit::wasi::http0_2_0::types::{
    FutureIncomingResponse, FutureTrailers, IncomingResponse, Trailers,
};
use wasi::io::poll::Pollable;
use wasi::io::streams::{OutputStream, StreamError};

use crate::message::SpinStream;

/// The most bytes read from a body at once.
pub(crate) const CHUNK: u64 = 16 * 1024;

/// Resolves once the pollable `subscribe` returns is ready (a fresh one is made on every poll,
/// as the executor takes ownership of the one it waits on).
pub(crate) fn ready(subscribe: impl Fn() -> Pollable) -> impl Future<Output = ()> {
    let mut token: Option<CancelOnDropToken> = None;
    std::future::poll_fn(move |cx| {
        let pollable = subscribe();
        if pollable.ready() {
            drop(token.take());
            Poll::Ready(())
        } else {
            // The previous registration, if any, is cancelled as this one replaces it.
            drop(token.replace(push_waker_and_get_token(pollable, cx.waker().clone()).into()));
            Poll::Pending
        }
    })
}

/// Writes `body` into `destination` and finishes it (with the source's trailers, if any).
pub(crate) async fn send_body(body: Body<SpinStream>, destination: OutgoingBody) -> Result<(), String> {
    match body {
        Body::Empty => finish(destination, None),
        Body::Bytes(bytes) => {
            write_all_then_close(&destination, &bytes).await?;
            finish(destination, None)
        }
        Body::Stream(source) => copy(source, destination).await,
    }
}

/// Copies `source` into `destination` chunk by chunk, then passes on the trailers.
async fn copy(source: SpinStream, destination: OutgoingBody) -> Result<(), String> {
    let output = destination.write().map_err(|()| "the outgoing body was already written".to_owned())?;
    loop {
        match source.stream.read(CHUNK) {
            Ok(chunk) if chunk.is_empty() => ready(|| source.stream.subscribe()).await,
            Ok(chunk) => write_all(&output, &chunk).await?,
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(error)) => {
                return Err(format!("reading the body: {}", error.to_debug_string()));
            }
        }
    }
    flushed(&output).await?;
    drop(output);
    let SpinStream { stream, body, .. } = source;
    drop(stream);
    let trailers = trailers(spin_sdk::wit::wasi::http0_2_0::types::IncomingBody::finish(body)).await?;
    finish(destination, trailers)
}

async fn write_all_then_close(destination: &OutgoingBody, bytes: &Bytes) -> Result<(), String> {
    let output = destination.write().map_err(|()| "the outgoing body was already written".to_owned())?;
    write_all(&output, bytes).await?;
    flushed(&output).await
}

/// Writes every byte of `bytes`, waiting whenever the host's buffer is full.
async fn write_all(output: &OutputStream, mut bytes: &[u8]) -> Result<(), String> {
    while !bytes.is_empty() {
        let room = output.check_write().map_err(stream_error)?;
        if room == 0 {
            ready(|| output.subscribe()).await;
            continue;
        }
        let n = usize::try_from(room).unwrap_or(usize::MAX).min(bytes.len());
        output.write(&bytes[..n]).map_err(stream_error)?;
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Flushes `output` and waits until the host has taken everything written.
///
/// `Closed` here is success: every byte was written, and the host closes the stream once it has
/// all the bytes `Content-Length` announced.
async fn flushed(output: &OutputStream) -> Result<(), String> {
    match output.flush() {
        Ok(()) => {}
        Err(StreamError::Closed) => return Ok(()),
        Err(error) => return Err(stream_error(error)),
    }
    loop {
        match output.check_write() {
            Ok(0) => ready(|| output.subscribe()).await,
            Ok(_) | Err(StreamError::Closed) => return Ok(()),
            Err(error) => return Err(stream_error(error)),
        }
    }
}

fn finish(destination: OutgoingBody, trailers: Option<Trailers>) -> Result<(), String> {
    OutgoingBody::finish(destination, trailers).map_err(|code| format!("finishing the body: {code:?}"))
}

fn stream_error(error: StreamError) -> String {
    match error {
        StreamError::Closed => "the receiving side closed the body".to_owned(),
        StreamError::LastOperationFailed(error) => format!("writing the body: {}", error.to_debug_string()),
    }
}

/// The trailers of a finished incoming body.
async fn trailers(future: FutureTrailers) -> Result<Option<Trailers>, String> {
    loop {
        match future.get() {
            Some(Ok(Ok(trailers))) => return Ok(trailers),
            Some(Ok(Err(code))) => return Err(format!("body trailers: {code:?}")),
            Some(Err(())) => return Err("body trailers were already taken".to_owned()),
            None => ready(|| future.subscribe()).await,
        }
    }
}

/// The response of an outgoing request, once its head has arrived.
pub(crate) async fn response(
    future: FutureIncomingResponse,
) -> Result<IncomingResponse, spin_sdk::http::ErrorCode> {
    loop {
        match future.get() {
            Some(Ok(result)) => return result,
            Some(Err(())) => {
                return Err(spin_sdk::http::ErrorCode::InternalError(Some("response already taken".into())));
            }
            None => ready(|| future.subscribe()).await,
        }
    }
}

/// Why [`read_to_end`] gave up.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// More than the limit arrived (how many bytes had been read).
    TooLarge(u64),
    /// The stream failed.
    Failed(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::TooLarge(read) => write!(f, "body exceeds the limit ({read} bytes read)"),
            ReadError::Failed(reason) => f.write_str(reason),
        }
    }
}

/// Reads the whole body, giving up as soon as more than `limit` bytes have arrived.
pub(crate) async fn read_to_end(source: SpinStream, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        match source.stream.read(CHUNK) {
            Ok(chunk) if chunk.is_empty() => ready(|| source.stream.subscribe()).await,
            Ok(chunk) => {
                body.extend_from_slice(&chunk);
                if body.len() as u64 > limit {
                    return Err(ReadError::TooLarge(body.len() as u64));
                }
            }
            Err(StreamError::Closed) => return Ok(body),
            Err(StreamError::LastOperationFailed(error)) => {
                return Err(ReadError::Failed(format!("reading the body: {}", error.to_debug_string())));
            }
        }
    }
}
