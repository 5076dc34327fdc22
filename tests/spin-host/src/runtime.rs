//! The Spin-like runtime: one compiled, pre-linked component; a fresh store and instance per
//! request, as Spin does.
//!
//! The linker holds WASI 0.2 (what `std` imports), WASI 0.3 (clocks, random, cli), `wasi:http`
//! 0.3, and the two key-value interfaces of [`crate::kv_host`]. Outbound requests go through
//! [`OutboundPolicy`], which enforces `allowed_outbound_hosts` the way Spin does: a request to
//! any other origin fails with `HTTP-request-denied` before a connection is attempted.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, Uri};
use http_body_util::BodyExt;
use http_body_util::channel::{Channel, Sender};
use hyper::body::Incoming;
use tokio::sync::oneshot;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p3::Request;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView, default_send_request,
};

use crate::kv::KvStores;
use crate::kv_host::{self, KvCtx, KvView};
use crate::manifest::{AllowedHosts, App};
use crate::problem::{self, HostBody};

/// How many body frames may wait between the component and a slow client.
const BODY_FRAMES_IN_FLIGHT: usize = 4;

/// The data of one request's store.
pub(crate) struct State {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundPolicy,
    kv: KvCtx,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

impl State {
    fn kv(&mut self) -> KvView<'_> {
        KvView { table: &mut self.table, ctx: &self.kv }
    }
}

/// Sends the component's outbound requests, refusing origins not in `allowed_outbound_hosts`.
pub(crate) struct OutboundPolicy {
    allowed: Arc<AllowedHosts>,
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_result: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        if !self.allowed.allows(request.uri()) {
            eprintln!(
                "spin-test-host: outbound request to {} denied (not in allowed_outbound_hosts)",
                request.uri()
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

/// The component, compiled and linked once, and what every request shares.
pub(crate) struct Runtime {
    engine: Engine,
    pre: ServicePre<State>,
    app: App,
    outbound: Arc<AllowedHosts>,
    kv: KvCtx,
}

impl Runtime {
    /// Compiles and links the component at `path` for `app`.
    pub(crate) fn new(app: App, path: &std::path::Path, stores: KvStores) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model_async(true);
        let engine = Engine::new(&config)?;
        let component = Component::from_file(&engine, path)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)?;
        wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
        kv_host::add_to_linker(&mut linker, State::kv)?;
        let pre = ServicePre::new(linker.instantiate_pre(&component)?)?;
        let outbound = Arc::new(app.outbound.clone());
        let kv = KvCtx { stores, allowed: Arc::new(app.kv_stores.clone()) };
        Ok(Runtime { engine, pre, app, outbound, kv })
    }

    fn state(&self) -> State {
        State {
            table: ResourceTable::new(),
            wasi: WasiCtxBuilder::new().inherit_stdout().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundPolicy { allowed: self.outbound.clone() },
            kv: self.kv.clone(),
        }
    }

    /// Serves one client request: a fresh instance, the response streamed back as it comes.
    pub(crate) async fn serve(
        self: Arc<Self>,
        request: hyper::Request<Incoming>,
        client: SocketAddr,
    ) -> http::Response<HostBody> {
        let Some(request) = self.spin_request(request, client) else {
            return problem::response(StatusCode::NOT_FOUND, "no route matches this path");
        };
        let (head_tx, head_rx) = oneshot::channel();
        let (body_tx, body) = Channel::<Bytes, Infallible>::new(BODY_FRAMES_IN_FLIGHT);
        tokio::spawn(async move {
            if let Err(error) = self.run(request, head_tx, body_tx).await {
                eprintln!("spin-test-host: component failed: {error:?}");
            }
        });
        match head_rx.await {
            Ok(head) => http::Response::from_parts(head, body.map_err(|never| match never {}).boxed_unsync()),
            Err(_) => problem::response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the component failed to handle the request",
            ),
        }
    }

    /// Runs the component on `request`; sends the response head, then pumps the body.
    async fn run(
        &self,
        request: http::Request<Incoming>,
        head_tx: oneshot::Sender<http::response::Parts>,
        mut body_tx: Sender<Bytes, Infallible>,
    ) -> wasmtime::Result<()> {
        let mut store = Store::new(&self.engine, self.state());
        let service = self.pre.instantiate_async(&mut store).await?;
        let (request, request_io) = Request::from_http(&mut store.data_mut().hooks, request);
        store
            .run_concurrent(async move |store| {
                let respond = async {
                    let response = match service.handle(store, request).await? {
                        Ok(response) => response,
                        Err(code) => wasmtime::bail!("the component answered with error code {code:?}"),
                    };
                    let response = store.with(|store| response.into_http(store, async { Ok(()) }))?;
                    let (head, mut body) = response.into_parts();
                    if head_tx.send(head).is_err() {
                        return Ok(()); // the client is gone
                    }
                    while let Some(frame) = body.frame().await {
                        let frame = frame.map_err(|e| wasmtime::format_err!("response body: {e:?}"))?;
                        if body_tx.send(frame).await.is_err() {
                            break;
                        }
                    }
                    Ok(())
                };
                let (responded, consumed) = tokio::join!(respond, request_io);
                if let Err(error) = consumed {
                    eprintln!("spin-test-host: request body: {error:?}");
                }
                responded
            })
            .await?
    }

    /// The request as Spin hands it to a component: an absolute URI, the client's `spin-*`
    /// headers replaced by Spin's own. `None` when the trigger route does not match.
    fn spin_request(
        &self,
        request: hyper::Request<Incoming>,
        client: SocketAddr,
    ) -> Option<http::Request<Incoming>> {
        let (mut head, body) = request.into_parts();
        let path = head.uri.path().to_owned();
        let base = self.app.base_path(&path)?.to_owned();
        let host = head
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        let path_and_query = head.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
        let full: Uri = format!("http://{host}{path_and_query}").parse().ok()?;
        // wasi:http hides `Connection` from components, so the headers it names as hop-by-hop
        // (RFC 9110 §7.6.1) are removed here, where `Connection` is still visible.
        let connection_named: Vec<http::HeaderName> = head
            .headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| http::HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        let spin_headers: Vec<_> =
            head.headers.keys().filter(|k| k.as_str().starts_with("spin-")).cloned().collect();
        for name in spin_headers.into_iter().chain(connection_named) {
            head.headers.remove(name);
        }
        let path_info = path.strip_prefix(&base).unwrap_or(&path).to_owned();
        let set = [
            ("spin-full-url", full.to_string()),
            ("spin-path-info", path_info),
            ("spin-matched-route", self.app.route.clone()),
            ("spin-raw-component-route", self.app.route.clone()),
            ("spin-component-route", base),
            ("spin-base-path", "/".to_owned()),
            ("spin-client-addr", client.to_string()),
        ];
        for (name, value) in set {
            if let Ok(value) = HeaderValue::from_str(&value) {
                head.headers.insert(name, value);
            }
        }
        head.uri = full;
        Some(http::Request::from_parts(head, body))
    }
}
