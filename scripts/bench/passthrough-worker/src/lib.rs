//! Benchmark baseline: forwards every request to `UPSTREAM` with the same path and query,
//! headers and body untouched. No routing, no header rewriting, no config: what is left of a
//! Rust Worker proxy when the gateway's work is taken away.
#![deny(missing_docs)]

use worker::{Context, Env, event, web_sys};

/// Forwards the request to the `UPSTREAM` variable's origin.
#[event(fetch)]
async fn fetch(request: web_sys::Request, env: Env, _ctx: Context) -> worker::Result<web_sys::Response> {
    let upstream = env.var("UPSTREAM")?.to_string();
    let url = worker::Url::parse(&request.url())?;
    let target = format!(
        "{}{}{}",
        upstream.trim_end_matches('/'),
        url.path(),
        url.query().map_or(String::new(), |q| format!("?{q}"))
    );
    let init = web_sys::RequestInit::new();
    init.set_method(&request.method());
    init.set_headers(&request.headers());
    if let Some(body) = request.body() {
        init.set_body(&body);
    }
    let outbound = web_sys::Request::new_with_str_and_init(&target, &init)?;
    let response = worker::Fetch::Request(worker::Request::from(outbound)).send().await?;
    Ok(response.into())
}
