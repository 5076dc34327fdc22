//! Any bytes as response headers: Cache-Control parsing, freshness and storability never panic.
#![no_main]

use edge_gateway_core::cache::directives::CacheControl;
use edge_gateway_core::cache::freshness::freshness_lifetime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = CacheControl::parse(&text);
    let mut headers = http::HeaderMap::new();
    for line in text.split('\n') {
        if let Some((name, value)) = line.split_once(':')
            && let (Ok(name), Ok(value)) =
                (http::HeaderName::from_bytes(name.trim().as_bytes()), http::HeaderValue::from_str(value.trim()))
        {
            headers.append(name, value);
        }
    }
    let _ = CacheControl::from_headers(&headers);
    let _ = freshness_lifetime(&headers, http::StatusCode::OK, 1_700_000_000_000);
});
