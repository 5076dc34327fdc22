//! The test host's own admin API, for its tests to seed and read the key-value stores
//! (loopback only, and only with `--admin`). Real Spin has nothing like it: to publish into a
//! `spin up` store, write its SQLite file (`scripts/routes --spin-sqlite`).
//!
//! | request | effect |
//! |---|---|
//! | `PUT /kv/<store>/<key>` | body becomes the value (204) |
//! | `GET /kv/<store>/<key>` | the value (200) or 404 |
//! | `DELETE /kv/<store>/<key>` | removes the key (204) |
//! | `GET /healthz` | 200 `ok` |
//! | `PUT /kv-latency-ms` | body (decimal) becomes the wait before every `wasi:keyvalue` call (204) |
//! | `GET /kv-latency-ms` | that wait (200) |
//!
//! `<key>` is everything after the store label and may contain `/` (`routes/versions/v1`);
//! percent-escapes are decoded. Stores need not be declared in the manifest to be written here.

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::kv::KvStores;
use crate::kv_host::KvLatency;
use crate::problem::{self, HostBody};

/// Answers one admin request.
pub(crate) async fn handle(
    stores: KvStores,
    latency: &KvLatency,
    request: hyper::Request<Incoming>,
) -> http::Response<HostBody> {
    let path = request.uri().path().to_owned();
    if path == "/healthz" {
        return problem::text(StatusCode::OK, "ok\n");
    }
    if path == "/kv-latency-ms" {
        return kv_latency(latency, request).await;
    }
    let Some((store, key)) = path.strip_prefix("/kv/").and_then(|rest| rest.split_once('/')) else {
        return problem::response(StatusCode::NOT_FOUND, "admin paths are /healthz and /kv/<store>/<key>");
    };
    let (Some(store), Some(key)) = (percent_decode(store), percent_decode(key)) else {
        return problem::response(StatusCode::BAD_REQUEST, "invalid percent-encoding");
    };
    if store.is_empty() || key.is_empty() {
        return problem::response(StatusCode::BAD_REQUEST, "store and key must not be empty");
    }
    match *request.method() {
        Method::GET => match stores.get(&store, &key) {
            Ok(Some(value)) => http::Response::new(problem::full(value)),
            Ok(None) => problem::response(StatusCode::NOT_FOUND, "no such key"),
            Err(error) => failed(&error),
        },
        Method::PUT => match request.into_body().collect().await {
            Ok(body) => match stores.set(&store, &key, body.to_bytes().to_vec()) {
                Ok(()) => problem::text(StatusCode::NO_CONTENT, ""),
                Err(error) => failed(&error),
            },
            Err(_) => problem::response(StatusCode::BAD_REQUEST, "could not read the body"),
        },
        Method::DELETE => match stores.delete(&store, &key) {
            Ok(_) => problem::text(StatusCode::NO_CONTENT, ""),
            Err(error) => failed(&error),
        },
        _ => problem::response(StatusCode::METHOD_NOT_ALLOWED, "use GET, PUT or DELETE"),
    }
}

async fn kv_latency(latency: &KvLatency, request: hyper::Request<Incoming>) -> http::Response<HostBody> {
    match *request.method() {
        Method::GET => problem::text(StatusCode::OK, format!("{}\n", latency.get().as_millis())),
        Method::PUT => {
            let body = request.into_body().collect().await.map(|b| b.to_bytes());
            match body.ok().and_then(|b| std::str::from_utf8(&b).ok()?.trim().parse::<u64>().ok()) {
                Some(ms) => {
                    latency.set(ms);
                    problem::text(StatusCode::NO_CONTENT, "")
                }
                None => problem::response(StatusCode::BAD_REQUEST, "the body is a number of milliseconds"),
            }
        }
        _ => problem::response(StatusCode::METHOD_NOT_ALLOWED, "use GET or PUT"),
    }
}

fn failed(error: &crate::kv::KvError) -> http::Response<HostBody> {
    problem::response(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string())
}

/// Decodes `%XX` escapes; `None` for a malformed escape or non-UTF-8 result.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("routes/current").as_deref(), Some("routes/current"));
        assert_eq!(percent_decode("a%2Fb%20c").as_deref(), Some("a/b c"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
    }
}
