//! `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch) over
//! [`KvStores`], both synchronous, as spin-sdk 5.2 imports them.
//!
//! Both interfaces see the same data: a counter incremented through `wasi:keyvalue` is visible as
//! 8 little-endian bytes through `fermyon:spin/key-value` and the admin API. Opening a label the
//! component did not declare in `key_value_stores` fails with `access-denied`, as in Spin.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::kv::{KvError, KvStores, Snapshot};

mod generated {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin-test-host:host/host",
        // Asynchronous on the host (blocking to the component, as in the WIT), so a call can
        // wait out `--kv-latency-ms` without holding a thread.
        imports: { "wasi:keyvalue": async },
        with: {
            "fermyon:spin/key-value.store": super::OpenStore,
            "wasi:keyvalue/store.bucket": super::OpenStore,
            "wasi:keyvalue/atomics.cas": crate::kv::Snapshot,
        },
    });
}

use generated::fermyon::spin::key_value as spin_kv;
use generated::wasi::keyvalue::{atomics, batch, store as wasi_kv};

/// An open store (Spin) or bucket (`wasi:keyvalue`): just its label.
#[derive(Debug)]
#[allow(unreachable_pub)] // `pub` because `bindgen!` re-exports it
pub struct OpenStore {
    label: String,
}

/// The key-value state of one request: the shared data and the labels it may open.
#[derive(Debug, Clone)]
pub(crate) struct KvCtx {
    /// The data, shared by all requests.
    pub(crate) stores: KvStores,
    /// `key_value_stores` from the manifest.
    pub(crate) allowed: Arc<Vec<String>>,
    /// How long every `wasi:keyvalue` call waits before it runs.
    pub(crate) latency: KvLatency,
}

impl KvCtx {
    async fn wait(&self) {
        let latency = self.latency.get();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
}

/// The wait before every `wasi:keyvalue` call (`--kv-latency-ms`, changed at run time through
/// the admin API): a store across a network (Redis), under which instances overlap between a
/// read and a swap, or a store too slow for a deadline.
#[derive(Debug, Clone, Default)]
pub(crate) struct KvLatency(Arc<AtomicU64>);

impl KvLatency {
    /// A wait of `ms` milliseconds.
    pub(crate) fn new(ms: u64) -> KvLatency {
        KvLatency(Arc::new(AtomicU64::new(ms)))
    }

    /// The wait now.
    pub(crate) fn get(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed))
    }

    /// Changes the wait for the calls that start from now on.
    pub(crate) fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::Relaxed);
    }
}

/// What the KV host functions borrow from the store's data.
pub(crate) struct KvView<'a> {
    /// The resource table of the instance.
    pub(crate) table: &'a mut ResourceTable,
    /// The request's KV state.
    pub(crate) ctx: &'a KvCtx,
    /// Compare-and-swap handles the instance holds in Spin's count (see [`CAS_CAPACITY`]).
    pub(crate) cas_handles: &'a mut u32,
}

/// Spin's table of compare-and-swap handles per instance holds 256 (`DEFAULT_STORE_TABLE_CAPACITY`
/// in `crates/factor-key-value/src/host.rs`); a handle leaves it when dropped, but not when
/// consumed by `swap` (Spin's `swap` never removes it), so every swap uses one up for good.
pub(crate) const CAS_CAPACITY: u32 = 256;

/// Marker for the [`HasData`] projection of the KV host functions.
pub(crate) struct KvHost;

impl HasData for KvHost {
    type Data<'a> = KvView<'a>;
}

/// Adds both KV interfaces to `linker`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KvView<'_>,
) -> anyhow::Result<()> {
    spin_kv::add_to_linker::<T, KvHost>(linker, view)?;
    wasi_kv::add_to_linker::<T, KvHost>(linker, view)?;
    atomics::add_to_linker::<T, KvHost>(linker, view)?;
    batch::add_to_linker::<T, KvHost>(linker, view)?;
    Ok(())
}

impl KvView<'_> {
    fn open(&mut self, label: String) -> Result<Resource<OpenStore>, &'static str> {
        if !self.ctx.allowed.contains(&label) {
            return Err("access-denied");
        }
        self.table.push(OpenStore { label }).map_err(|_| "table-full")
    }

    fn label(&self, store: &Resource<OpenStore>) -> Result<String, String> {
        self.table.get(store).map(|s| s.label.clone()).map_err(|e| e.to_string())
    }
}

// ---- fermyon:spin/key-value@2.0.0 ----

fn spin_error(reason: &str) -> spin_kv::Error {
    match reason {
        "access-denied" => spin_kv::Error::AccessDenied,
        "table-full" => spin_kv::Error::StoreTableFull,
        other => spin_kv::Error::Other(other.to_owned()),
    }
}

fn spin_kv_error(error: KvError) -> spin_kv::Error {
    spin_kv::Error::Other(error.to_string())
}

impl KvView<'_> {
    fn spin_label(&self, store: &Resource<OpenStore>) -> Result<String, spin_kv::Error> {
        self.label(store).map_err(|e| spin_error(&e))
    }
}

impl spin_kv::Host for KvView<'_> {}

impl spin_kv::HostStore for KvView<'_> {
    fn open(&mut self, label: String) -> Result<Resource<OpenStore>, spin_kv::Error> {
        KvView::open(self, label).map_err(spin_error)
    }

    fn get(&mut self, store: Resource<OpenStore>, key: String) -> Result<Option<Vec<u8>>, spin_kv::Error> {
        self.ctx.stores.get(&self.spin_label(&store)?, &key).map_err(spin_kv_error)
    }

    fn set(&mut self, store: Resource<OpenStore>, key: String, value: Vec<u8>) -> Result<(), spin_kv::Error> {
        self.ctx.stores.set(&self.spin_label(&store)?, &key, value).map_err(spin_kv_error)
    }

    fn delete(&mut self, store: Resource<OpenStore>, key: String) -> Result<(), spin_kv::Error> {
        self.ctx.stores.delete(&self.spin_label(&store)?, &key).map(drop).map_err(spin_kv_error)
    }

    fn exists(&mut self, store: Resource<OpenStore>, key: String) -> Result<bool, spin_kv::Error> {
        Ok(self.ctx.stores.get(&self.spin_label(&store)?, &key).map_err(spin_kv_error)?.is_some())
    }

    fn get_keys(&mut self, store: Resource<OpenStore>) -> Result<Vec<String>, spin_kv::Error> {
        self.ctx.stores.keys(&self.spin_label(&store)?).map_err(spin_kv_error)
    }

    fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

// ---- wasi:keyvalue@0.2.0-draft2 (synchronous in the WIT) ----

fn wasi_error(reason: &str) -> wasi_kv::Error {
    match reason {
        "access-denied" => wasi_kv::Error::AccessDenied,
        other => wasi_kv::Error::Other(other.to_owned()),
    }
}

fn counter_error(error: KvError) -> wasi_kv::Error {
    wasi_kv::Error::Other(error.to_string())
}

use counter_error as kv_error;

impl KvView<'_> {
    fn bucket(&self, bucket: &Resource<OpenStore>) -> Result<String, wasi_kv::Error> {
        self.label(bucket).map_err(|e| wasi_error(&e))
    }
}

impl wasi_kv::Host for KvView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<OpenStore>, wasi_kv::Error> {
        self.ctx.wait().await;
        KvView::open(self, identifier).map_err(wasi_error)
    }
}

impl wasi_kv::HostBucket for KvView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, wasi_kv::Error> {
        self.ctx.wait().await;
        self.ctx.stores.get(&self.bucket(&bucket)?, &key).map_err(kv_error)
    }

    async fn set(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), wasi_kv::Error> {
        self.ctx.wait().await;
        self.ctx.stores.set(&self.bucket(&bucket)?, &key, value).map_err(kv_error)
    }

    async fn delete(&mut self, bucket: Resource<OpenStore>, key: String) -> Result<(), wasi_kv::Error> {
        self.ctx.wait().await;
        self.ctx.stores.delete(&self.bucket(&bucket)?, &key).map(drop).map_err(kv_error)
    }

    async fn exists(&mut self, bucket: Resource<OpenStore>, key: String) -> Result<bool, wasi_kv::Error> {
        self.ctx.wait().await;
        Ok(self.ctx.stores.get(&self.bucket(&bucket)?, &key).map_err(kv_error)?.is_some())
    }

    /// All keys in one page: the stores are small.
    async fn list_keys(
        &mut self,
        bucket: Resource<OpenStore>,
        _cursor: Option<String>,
    ) -> Result<wasi_kv::KeyResponse, wasi_kv::Error> {
        self.ctx.wait().await;
        let keys = self.ctx.stores.keys(&self.bucket(&bucket)?).map_err(kv_error)?;
        Ok(wasi_kv::KeyResponse { keys, cursor: None })
    }

    async fn drop(&mut self, bucket: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KvView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        delta: i64,
    ) -> Result<i64, wasi_kv::Error> {
        self.ctx.wait().await;
        self.ctx.stores.increment(&self.bucket(&bucket)?, &key, delta).map_err(counter_error)
    }

    /// As Spin's `swap` (`crates/factor-key-value/src/host.rs`): on a conflict, a fresh handle
    /// whose `current()` has already been read.
    async fn swap(&mut self, cas: Resource<Snapshot>, value: Vec<u8>) -> Result<(), atomics::CasError> {
        self.ctx.wait().await;
        let store_error = |e: wasi_kv::Error| atomics::CasError::StoreError(e);
        let snapshot =
            self.table.delete(cas).map_err(|e| store_error(wasi_kv::Error::Other(e.to_string())))?;
        if self.ctx.stores.swap(&snapshot, value).map_err(|e| store_error(kv_error(e)))? {
            return Ok(());
        }
        let mut fresh = self.ctx.stores.cas(&snapshot.store, &snapshot.key);
        self.ctx.stores.current(&mut fresh).map_err(|e| store_error(kv_error(e)))?;
        Err(atomics::CasError::CasFailed(self.push_cas(fresh).map_err(store_error)?))
    }
}

impl KvView<'_> {
    fn push_cas(&mut self, snapshot: Snapshot) -> Result<Resource<Snapshot>, wasi_kv::Error> {
        if *self.cas_handles >= CAS_CAPACITY {
            return Err(wasi_kv::Error::Other("too many compare_and_swaps opened".into()));
        }
        let handle = self.table.push(snapshot).map_err(|e| wasi_kv::Error::Other(e.to_string()))?;
        *self.cas_handles += 1;
        Ok(handle)
    }
}

impl atomics::HostCas for KvView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> Result<Resource<Snapshot>, wasi_kv::Error> {
        self.ctx.wait().await;
        let snapshot = self.ctx.stores.cas(&self.bucket(&bucket)?, &key);
        self.push_cas(snapshot)
    }

    async fn current(&mut self, cas: Resource<Snapshot>) -> Result<Option<Vec<u8>>, wasi_kv::Error> {
        self.ctx.wait().await;
        let snapshot = self.table.get_mut(&cas).map_err(|e| wasi_kv::Error::Other(e.to_string()))?;
        self.ctx.stores.current(snapshot).map_err(kv_error)
    }

    async fn drop(&mut self, cas: Resource<Snapshot>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        *self.cas_handles = self.cas_handles.saturating_sub(1);
        Ok(())
    }
}

impl batch::Host for KvView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error> {
        self.ctx.wait().await;
        let label = self.bucket(&bucket)?;
        keys.into_iter()
            .map(|k| Ok((k.clone(), self.ctx.stores.get(&label, &k).map_err(kv_error)?)))
            .collect()
    }

    async fn set_many(
        &mut self,
        bucket: Resource<OpenStore>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), wasi_kv::Error> {
        self.ctx.wait().await;
        let label = self.bucket(&bucket)?;
        for (key, value) in key_values {
            self.ctx.stores.set(&label, &key, value).map_err(kv_error)?;
        }
        Ok(())
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> Result<(), wasi_kv::Error> {
        self.ctx.wait().await;
        let label = self.bucket(&bucket)?;
        for key in keys {
            self.ctx.stores.delete(&label, &key).map_err(kv_error)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atomics::{Host as _, HostCas as _};

    struct Instance {
        table: ResourceTable,
        ctx: KvCtx,
        cas_handles: u32,
    }

    impl Instance {
        fn new(stores: &KvStores) -> Instance {
            let allowed = Arc::new(vec!["default".to_owned()]);
            Instance {
                table: ResourceTable::new(),
                ctx: KvCtx { stores: stores.clone(), allowed, latency: KvLatency::default() },
                cas_handles: 0,
            }
        }

        fn view(&mut self) -> KvView<'_> {
            KvView { table: &mut self.table, ctx: &self.ctx, cas_handles: &mut self.cas_handles }
        }
    }

    async fn bucket(view: &mut KvView<'_>) -> Resource<OpenStore> {
        wasi_kv::Host::open(view, "default".into()).await.unwrap()
    }

    /// Through the WIT functions, as the component calls them: a swap after a concurrent write
    /// fails with `cas-failed`, whose fresh handle has read the new value; a retry on it wins.
    #[tokio::test]
    async fn a_conflict_returns_a_fresh_handle_that_has_read_the_winner() {
        let stores = KvStores::default();
        let mut instance = Instance::new(&stores);
        let mut view = instance.view();
        let b = bucket(&mut view).await;
        let cas = view.new(Resource::new_borrow(b.rep()), "k".into()).await.unwrap();
        assert_eq!(view.current(Resource::new_borrow(cas.rep())).await.unwrap(), None);
        view.swap(cas, b"one".to_vec()).await.unwrap();

        let cas = view.new(Resource::new_borrow(b.rep()), "k".into()).await.unwrap();
        assert_eq!(view.current(Resource::new_borrow(cas.rep())).await.unwrap(), Some(b"one".to_vec()));
        stores.set("default", "k", b"other".to_vec()).unwrap(); // another instance
        let Err(atomics::CasError::CasFailed(fresh)) = view.swap(cas, b"two".to_vec()).await else {
            panic!("a swap after a concurrent write must fail with cas-failed");
        };
        assert_eq!(view.table.get(&fresh).unwrap().value, Some(b"other".to_vec()), "already read");
        view.swap(fresh, b"two".to_vec()).await.unwrap();
        assert_eq!(stores.get("default", "k"), Ok(Some(b"two".to_vec())));
    }

    /// Spin's table of CAS handles: 256 per instance, a swapped handle stays counted.
    #[tokio::test]
    async fn cas_handles_are_capped_as_in_spin() {
        let stores = KvStores::default();
        let mut instance = Instance::new(&stores);
        let mut view = instance.view();
        let b = bucket(&mut view).await;
        let first = view.new(Resource::new_borrow(b.rep()), "k".into()).await.unwrap();
        view.swap(first, b"x".to_vec()).await.unwrap();
        let mut open = Vec::new();
        for _ in 1..CAS_CAPACITY {
            open.push(view.new(Resource::new_borrow(b.rep()), "k".into()).await.unwrap());
        }
        let full = view.new(Resource::new_borrow(b.rep()), "k".into()).await;
        assert!(
            matches!(&full, Err(wasi_kv::Error::Other(m)) if m == "too many compare_and_swaps opened"),
            "{full:?}"
        );
        atomics::HostCas::drop(&mut view, open.pop().unwrap()).await.unwrap();
        let freed = view.new(Resource::new_borrow(b.rep()), "k".into()).await;
        assert!(freed.is_ok(), "a dropped handle frees its place");
    }

    /// `--kv-latency-ms`: each `wasi:keyvalue` call waits that long first.
    #[tokio::test]
    async fn latency_delays_every_call() {
        let stores = KvStores::default();
        let mut instance = Instance::new(&stores);
        instance.ctx.latency.set(20);
        let mut view = instance.view();
        let started = tokio::time::Instant::now();
        let b = bucket(&mut view).await;
        wasi_kv::HostBucket::get(&mut view, Resource::new_borrow(b.rep()), "k".into()).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(40), "{:?}", started.elapsed());
    }
}
