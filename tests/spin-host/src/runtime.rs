//! The Spin-like runtime: one compiled, pre-linked component; a fresh store and instance per
//! request, as Spin does for a WASI 0.2 component.
//!
//! The linker holds WASI 0.2 (`wasmtime_wasi::p2`), `wasi:http` 0.2 (the proxy world's
//! `incoming-handler` export and `outgoing-handler` import) and the key-value interfaces of
//! [`crate::kv_host`]. Outbound requests go through [`OutboundPolicy`], which enforces
//! `allowed_outbound_hosts` the way Spin does: a request to any other origin fails with
//! `HTTP-request-denied` before a connection is attempted.
//!
//! What the component sees of a request is decided in [`crate::inbound`]; what a failure looks
//! like to the client (an empty 500) is decided here, as in Spin's trigger.

use std::net::SocketAddr;
use std::sync::Arc;

use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::oneshot;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView, default_send_request,
};

use crate::inbound;
use crate::kv::KvStores;
use crate::kv_host::{self, KvCtx, KvLatency, KvView};
use crate::manifest::{AllowedHosts, App};
use crate::problem::{self, BoxError, HostBody};
use crate::variables::{self, VarsView};

/// The data of one request's store.
pub(crate) struct State {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundPolicy,
    kv: KvCtx,
    cas_handles: u32,
    variables: variables::Resolved,
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
        KvView { table: &mut self.table, ctx: &self.kv, cas_handles: &mut self.cas_handles }
    }

    fn variables(&mut self) -> VarsView<'_> {
        VarsView(&self.variables)
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
    pre: ProxyPre<State>,
    app: App,
    outbound: Arc<AllowedHosts>,
    kv: KvCtx,
    variables: variables::Resolved,
}

impl Runtime {
    /// Compiles and links the component at `path` for `app`.
    pub(crate) fn new(
        app: App,
        path: &std::path::Path,
        stores: KvStores,
        kv_latency: KvLatency,
    ) -> anyhow::Result<Runtime> {
        let engine = Engine::new(&Config::new())?;
        let component = Component::from_file(&engine, path)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        kv_host::add_to_linker(&mut linker, State::kv)?;
        variables::add_to_linker(&mut linker, State::variables)?;
        let pre = ProxyPre::new(linker.instantiate_pre(&component)?)?;
        let outbound = Arc::new(app.outbound.clone());
        let kv = KvCtx { stores, allowed: Arc::new(app.kv_stores.clone()), latency: kv_latency };
        let variables = Arc::new(app.variables.clone());
        Ok(Runtime { pre, app, outbound, kv, variables })
    }

    fn state(&self) -> State {
        State {
            table: ResourceTable::new(),
            wasi: WasiCtxBuilder::new().inherit_stdout().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundPolicy { allowed: self.outbound.clone() },
            kv: self.kv.clone(),
            cas_handles: 0,
            variables: self.variables.clone(),
        }
    }

    /// Serves one client request. `/.well-known/spin/*` is answered here; any other path the
    /// trigger route matches gets a fresh instance, whose response streams back as it comes.
    pub(crate) async fn serve(
        self: Arc<Self>,
        request: hyper::Request<Incoming>,
        client: SocketAddr,
    ) -> http::Response<HostBody> {
        if let Some(name) = request.uri().path().strip_prefix(inbound::WELL_KNOWN) {
            return inbound::well_known(&self.app, name);
        }
        let Some(request) = inbound::spin_request(&self.app, request, client) else {
            return problem::empty(StatusCode::NOT_FOUND);
        };
        match self.run(request).await {
            Ok(response) => response,
            Err(error) => {
                eprintln!("spin-test-host: component failed: {error:#}");
                problem::empty(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    /// Runs the component on `request` until it sets its response (the body then keeps
    /// streaming from the instance's task).
    async fn run(&self, request: http::Request<Incoming>) -> anyhow::Result<http::Response<HostBody>> {
        let mut store = Store::new(self.pre.engine(), self.state());
        let (sender, receiver) = oneshot::channel();
        let request = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = self.pre.clone();
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy.wasi_http_incoming_handler().call_handle(&mut store, request, out).await
        });
        match receiver.await {
            Ok(Ok(response)) => {
                Ok(response
                    .map(|body| body.map_err(|e| -> BoxError { format!("{e:?}").into() }).boxed_unsync()))
            }
            Ok(Err(code)) => anyhow::bail!("the component answered with error code {code:?}"),
            Err(_) => match task.await {
                Ok(Ok(())) => anyhow::bail!("the component never set a response"),
                Ok(Err(trap)) => anyhow::bail!("the component trapped: {trap:#}"),
                Err(join) => Err(join.into()),
            },
        }
    }
}
