//! Any bytes as the credentials of a request: `Authorization`, `Cookie`, the API-key header and
//! query, and as a token whose issuer is peeked. Reading credentials never panics, a token read
//! from a header is a substring of that header, and query stripping never leaves the parameter.
#![no_main]

use edge_gateway_core::auth::identity::{self, Presented};
use edge_gateway_core::auth::{apikey, peek_issuer};
use edge_gateway_core::config::auth::{ApiKeySettings, TokenSource};
use http::{HeaderValue, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = peek_issuer(&text, 8192);
    let _ = apikey::hash_key(&text);
    let Ok(value) = HeaderValue::from_bytes(data) else { return };
    let mut request = Request::builder().uri("https://a.test/x?api_key=1").body(()).unwrap();
    for name in ["authorization", "cookie", "x-token", "x-api-key"] {
        request.headers_mut().insert(name, value.clone());
    }
    let (head, ()) = request.into_parts();
    for source in [TokenSource::Bearer, TokenSource::Cookie("session".into()), TokenSource::Header("x-token".parse().unwrap())] {
        if let Presented::Token(token) = identity::token(&head.headers, &source) {
            assert!(!token.is_empty());
            let haystack = value.to_str().unwrap_or_default();
            assert!(haystack.contains(token), "token is not part of the header");
        }
    }
    let settings = ApiKeySettings { query: Some("api_key".into()), ..ApiKeySettings::default() };
    let _ = identity::api_key(&head, &settings);
    if let Some(rest) = identity::without_param(&text, "api_key") {
        assert!(rest.split('&').all(|pair| pair.split('=').next() != Some("api_key")));
    }
});
