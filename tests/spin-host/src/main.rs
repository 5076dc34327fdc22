//! `spin-test-host`: a small Spin-compatible host for testing the edge gateway's Spin component.
//!
//! ```text
//! spin-test-host --manifest spin.toml [--component path.wasm] --listen 127.0.0.1:3000
//!                [--sqlite .spin/sqlite_key_value.db] [--admin 127.0.0.1:3001]
//!                [--kv-latency-ms 1]
//! ```
//!
//! It serves the manifest's HTTP trigger the way Spin serves a WASI 0.2 component (see
//! [`inbound`] and [`runtime`]): a fresh instance per request, over wasmtime with WASI 0.2,
//! `wasi:http` 0.2 (the proxy world), `fermyon:spin/key-value` 2.0 and `wasi:keyvalue`
//! 0.2.0-draft2, enforcing `allowed_outbound_hosts` and `key_value_stores`. The stores live in
//! memory, or with `--sqlite` in a SQLite file with the schema of Spin's default store, so a
//! file that `spin up` would read can be seeded and inspected. With `--admin`, a second,
//! loopback-only listener serves the admin API of [`admin`] (the test host's own; Spin has none).
//! With `--kv-latency-ms N`, every `wasi:keyvalue` call waits N ms before it runs, as a store
//! across a network does (Spin with Redis), so concurrent instances overlap between a read and a
//! swap as they do there; the wait holds no thread (the admin API can change it while the host
//! runs).
//! Once everything listens, one line is printed on stdout:
//!
//! ```text
//! spin-test-host listening on http://127.0.0.1:3000 (admin http://127.0.0.1:3001)
//! ```
//!
//! See `README.md` for what it does not do compared to Spin.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod admin;
mod inbound;
mod kv;
mod kv_host;
mod manifest;
mod problem;
mod runtime;
mod variables;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::kv::KvStores;
use crate::kv_host::KvLatency;
use crate::manifest::App;
use crate::runtime::Runtime;

/// The command line.
struct Args {
    manifest: PathBuf,
    component: Option<PathBuf>,
    listen: SocketAddr,
    admin: Option<SocketAddr>,
    sqlite: Option<PathBuf>,
    kv_latency: u64,
}

const USAGE: &str = "usage: spin-test-host --manifest spin.toml [--component path.wasm] --listen ADDR \
                     [--sqlite FILE] [--admin ADDR] [--kv-latency-ms N]";

fn parse_args() -> anyhow::Result<Args> {
    let mut args = std::env::args().skip(1);
    let (mut manifest, mut component, mut listen, mut admin, mut sqlite) = (None, None, None, None, None);
    let mut kv_latency = 0;
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--manifest" => manifest = Some(PathBuf::from(value()?)),
            "--component" => component = Some(PathBuf::from(value()?)),
            "--listen" => listen = Some(value()?.parse().context("--listen")?),
            "--admin" => admin = Some(value()?.parse::<SocketAddr>().context("--admin")?),
            "--sqlite" => sqlite = Some(PathBuf::from(value()?)),
            "--kv-latency-ms" => kv_latency = value()?.parse().context("--kv-latency-ms")?,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    if admin.is_some_and(|a| !a.ip().is_loopback()) {
        bail!("--admin must be a loopback address: the admin API has no authentication");
    }
    let listen = listen.context(USAGE)?;
    Ok(Args { manifest: manifest.context(USAGE)?, component, listen, admin, sqlite, kv_latency })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let app = App::load(&args.manifest)?;
    let component = args
        .component
        .clone()
        .or_else(|| app.source.clone())
        .context("no --component and no `source` in the manifest")?;
    eprintln!("spin-test-host: component `{}` ({}) on route {}", app.id, component.display(), app.route);
    let stores = match &args.sqlite {
        Some(path) => {
            eprintln!("spin-test-host: key-value stores in {}", path.display());
            KvStores::sqlite(path)?
        }
        None => KvStores::default(),
    };
    let latency = KvLatency::new(args.kv_latency);
    let runtime = Arc::new(
        Runtime::new(app, &component, stores.clone(), latency.clone())
            .with_context(|| format!("loading {}", component.display()))?,
    );
    let app_listener =
        TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let app_addr = app_listener.local_addr()?;
    let mut line = format!("spin-test-host listening on http://{app_addr}");
    if let Some(admin) = args.admin {
        let listener = TcpListener::bind(admin).await.with_context(|| format!("binding {admin}"))?;
        line.push_str(&format!(" (admin http://{})", listener.local_addr()?));
        tokio::spawn(serve_admin(listener, stores, latency));
    }
    println!("{line}");
    std::io::stdout().flush()?;
    serve_app(app_listener, runtime).await
}

async fn serve_app(listener: TcpListener, runtime: Arc<Runtime>) -> anyhow::Result<()> {
    loop {
        let (stream, client) = listener.accept().await?;
        let runtime = runtime.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let runtime = runtime.clone();
                async move { Ok::<_, std::convert::Infallible>(runtime.serve(request, client).await) }
            });
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("spin-test-host: connection from {client}: {error}");
            }
        });
    }
}

async fn serve_admin(listener: TcpListener, stores: KvStores, latency: KvLatency) -> anyhow::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let (stores, latency) = (stores.clone(), latency.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let (stores, latency) = (stores.clone(), latency.clone());
                async move { Ok::<_, std::convert::Infallible>(admin::handle(stores, &latency, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
