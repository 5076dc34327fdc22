//! Conversions between the runtime's `Request`/`Response` and the core's `http` types.
//!
//! Only heads are converted; bodies move as `ReadableStream` handles.

use edge_gateway_core::geo::GeoPoint;
use edge_gateway_core::problem::respond;
use edge_gateway_core::{Body, ClientInfo, GatewayError};
use worker::js_sys::{Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::web_sys;

use crate::headers::{from_header_map, to_header_map};

type Stream = web_sys::ReadableStream;

/// The core's view of an incoming request, and what Cloudflare says about its client.
pub(crate) fn incoming(
    request: &web_sys::Request,
) -> Result<(http::Request<Body<Stream>>, ClientInfo), String> {
    let headers = to_header_map(&request.headers());
    // `CF-Connecting-IP` is the platform's: Cloudflare's edge sets it on every request from the
    // internet, replacing any value the client sent, and workerd offers no socket address. Local
    // Miniflare keeps a client-sent value (it only fills the header when absent), so local runs
    // can be spoofed where production cannot; see docs/security.md. The core never forwards the
    // header itself: the origin sees only X-Forwarded-For / Forwarded built from this value.
    let cf = Reflect::get(request, &JsValue::from_str("cf")).ok().filter(|cf| cf.is_object());
    let text = |field: &str| {
        let value = Reflect::get(cf.as_ref()?, &JsValue::from_str(field)).ok()?.as_string()?;
        (!value.is_empty() && value.len() <= 8).then_some(value)
    };
    let client = ClientInfo {
        ip: headers.get("cf-connecting-ip").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()),
        location: cf.as_ref().and_then(location),
        country: text("country"),
        continent: text("continent"),
    };
    let body = request.body().map_or(Body::Empty, Body::Stream);
    let mut converted = http::Request::builder()
        .method(request.method().as_str())
        .uri(request.url())
        .body(body)
        .map_err(|e| e.to_string())?;
    *converted.headers_mut() = headers;
    Ok((converted, client))
}

/// `request.cf.latitude` / `longitude`, when present and numeric.
fn location(cf: &JsValue) -> Option<GeoPoint> {
    let number = |field: &str| {
        let value = Reflect::get(cf, &JsValue::from_str(field)).ok()?;
        value.as_string().and_then(|s| s.parse::<f64>().ok()).or_else(|| value.as_f64())
    };
    let (lat, lon) = (number("latitude")?, number("longitude")?);
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some(GeoPoint { lat, lon })
}

/// A 400 problem for a request the runtime handed over but `http` cannot represent.
pub(crate) fn bad_request(reason: &str) -> http::Response<Body<Stream>> {
    respond(&GatewayError::BadRequest(reason.to_owned()), "-")
}

/// The runtime request for an upstream attempt.
pub(crate) fn to_fetch_request(
    request: http::Request<Body<Stream>>,
    signal: &web_sys::AbortSignal,
) -> Result<web_sys::Request, JsValue> {
    let (head, body) = request.into_parts();
    let init = web_sys::RequestInit::new();
    init.set_method(head.method.as_str());
    init.set_headers(&from_header_map(&head.headers));
    init.set_redirect(web_sys::RequestRedirect::Manual);
    init.set_signal(Some(signal));
    if let Some(body) = body_value(body) {
        init.set_body(&body);
    }
    web_sys::Request::new_with_str_and_init(&head.uri.to_string(), &init)
}

/// The core's view of an upstream response: its head, and its body still streaming.
///
/// An interim (1xx) status is refused ([`refuse_interim`]).
pub(crate) fn from_fetch_response(
    response: &web_sys::Response,
) -> Result<http::Response<Body<Stream>>, String> {
    let status = response.status();
    refuse_interim(status)?;
    let body = response.body().map_or(Body::Empty, Body::Stream);
    let mut converted = http::Response::builder().status(status).body(body).map_err(|e| e.to_string())?;
    *converted.headers_mut() = to_header_map(&response.headers());
    Ok(converted)
}

/// Refuses an interim (1xx) upstream status as a protocol error (the core answers 502).
///
/// workerd's `fetch` resolves with a `103 Early Hints` as if it were the final response (the
/// rest of the wire becomes its body); it is never a final answer, and `new Response(...)`
/// with it throws a RangeError (only 200–599), which the `worker` crate's conversions unwrap
/// into a panic that hangs the request and resets the isolate.
pub(crate) fn refuse_interim(status: u16) -> Result<(), String> {
    if (100..200).contains(&status) {
        return Err(format!("interim response {status} where a final response was expected"));
    }
    Ok(())
}

/// The runtime response for the client.
pub(crate) fn outgoing(response: http::Response<Body<Stream>>) -> worker::Result<web_sys::Response> {
    let (head, body) = response.into_parts();
    let init = web_sys::ResponseInit::new();
    init.set_status(head.status.as_u16());
    init.set_headers(&from_header_map(&head.headers));
    let body = body_value(body);
    // `new Response(body, init)` takes any BodyInit (a ReadableStream or a Uint8Array); the
    // binding's parameter type is nominal only.
    Ok(web_sys::Response::new_with_opt_buffer_source_and_init(
        body.as_ref().map(|b| b.unchecked_ref()),
        &init,
    )?)
}

fn body_value(body: Body<Stream>) -> Option<JsValue> {
    match body {
        Body::Empty => None,
        Body::Bytes(bytes) => Some(Uint8Array::from(bytes.as_ref()).into()),
        Body::Stream(stream) => Some(stream.into()),
    }
}
