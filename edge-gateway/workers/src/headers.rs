//! Header sets across the JS/wasm boundary in one call each way.
//!
//! Converting a `Headers` object entry by entry costs several JS↔wasm calls per header; the
//! gateway converts four header sets per request (client request, upstream request, upstream
//! response, client response). Here each set crosses as one string: names and values joined by
//! NUL, which no header name or value may contain. Values are byte strings (Latin-1 in JS), kept
//! byte for byte.

use http::{HeaderMap, HeaderName, HeaderValue};
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::web_sys;

#[wasm_bindgen(inline_js = r#"
export function flatten_headers(headers) {
  let out = "";
  for (const [name, value] of headers) out += name + "\u0000" + value + "\u0000";
  return out;
}
export function build_headers(flat) {
  const headers = new Headers();
  const parts = flat.split("\u0000");
  for (let i = 0; i + 1 < parts.length; i += 2) headers.append(parts[i], parts[i + 1]);
  return headers;
}
"#)]
extern "C" {
    fn flatten_headers(headers: &web_sys::Headers) -> String;
    fn build_headers(flat: &str) -> web_sys::Headers;
}

/// A runtime `Headers` object as a header map; entries `http` cannot represent are dropped.
pub(crate) fn to_header_map(headers: &web_sys::Headers) -> HeaderMap {
    let flat = flatten_headers(headers);
    let mut map = HeaderMap::new();
    let mut parts = flat.split('\0');
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        let bytes: Vec<u8> =
            value.chars().map(|c| c as u32).filter(|&c| c <= 0xff).map(|c| c as u8).collect();
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(&bytes))
        {
            map.append(name, value);
        }
    }
    map
}

/// A header map as a runtime `Headers` object.
pub(crate) fn from_header_map(map: &HeaderMap) -> web_sys::Headers {
    let mut flat = String::with_capacity(map.len() * 32);
    for (name, value) in map {
        flat.push_str(name.as_str());
        flat.push('\0');
        flat.extend(value.as_bytes().iter().map(|&b| char::from(b)));
        flat.push('\0');
    }
    build_headers(&flat)
}
