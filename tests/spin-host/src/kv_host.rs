//! `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch) over
//! [`KvStores`], both synchronous, as spin-sdk 5.2 imports them.
//!
//! Both interfaces see the same data: a counter incremented through `wasi:keyvalue` is visible as
//! 8 little-endian bytes through `fermyon:spin/key-value` and the admin API. Opening a label the
//! component did not declare in `key_value_stores` fails with `access-denied`, as in Spin.

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use crate::kv::{KvError, KvStores, Snapshot};

mod generated {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin-test-host:host/host",
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
}

/// What the KV host functions borrow from the store's data.
pub(crate) struct KvView<'a> {
    /// The resource table of the instance.
    pub(crate) table: &'a mut ResourceTable,
    /// The request's KV state.
    pub(crate) ctx: &'a KvCtx,
}

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
    fn open(&mut self, identifier: String) -> Result<Resource<OpenStore>, wasi_kv::Error> {
        KvView::open(self, identifier).map_err(wasi_error)
    }
}

impl wasi_kv::HostBucket for KvView<'_> {
    fn get(&mut self, bucket: Resource<OpenStore>, key: String) -> Result<Option<Vec<u8>>, wasi_kv::Error> {
        self.ctx.stores.get(&self.bucket(&bucket)?, &key).map_err(kv_error)
    }

    fn set(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), wasi_kv::Error> {
        self.ctx.stores.set(&self.bucket(&bucket)?, &key, value).map_err(kv_error)
    }

    fn delete(&mut self, bucket: Resource<OpenStore>, key: String) -> Result<(), wasi_kv::Error> {
        self.ctx.stores.delete(&self.bucket(&bucket)?, &key).map(drop).map_err(kv_error)
    }

    fn exists(&mut self, bucket: Resource<OpenStore>, key: String) -> Result<bool, wasi_kv::Error> {
        Ok(self.ctx.stores.get(&self.bucket(&bucket)?, &key).map_err(kv_error)?.is_some())
    }

    /// All keys in one page: the stores are small.
    fn list_keys(
        &mut self,
        bucket: Resource<OpenStore>,
        _cursor: Option<String>,
    ) -> Result<wasi_kv::KeyResponse, wasi_kv::Error> {
        let keys = self.ctx.stores.keys(&self.bucket(&bucket)?).map_err(kv_error)?;
        Ok(wasi_kv::KeyResponse { keys, cursor: None })
    }

    fn drop(&mut self, bucket: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KvView<'_> {
    fn increment(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
        delta: i64,
    ) -> Result<i64, wasi_kv::Error> {
        self.ctx.stores.increment(&self.bucket(&bucket)?, &key, delta).map_err(counter_error)
    }

    fn swap(&mut self, cas: Resource<Snapshot>, value: Vec<u8>) -> Result<(), atomics::CasError> {
        let store_error = |e: wasmtime::component::ResourceTableError| {
            atomics::CasError::StoreError(wasi_kv::Error::Other(e.to_string()))
        };
        let snapshot = self.table.delete(cas).map_err(store_error)?;
        match self
            .ctx
            .stores
            .swap(&snapshot, value)
            .map_err(|e| atomics::CasError::StoreError(kv_error(e)))?
        {
            Ok(()) => Ok(()),
            Err(fresh) => Err(atomics::CasError::CasFailed(self.table.push(fresh).map_err(store_error)?)),
        }
    }
}

impl atomics::HostCas for KvView<'_> {
    fn new(
        &mut self,
        bucket: Resource<OpenStore>,
        key: String,
    ) -> Result<Resource<Snapshot>, wasi_kv::Error> {
        let snapshot = self.ctx.stores.snapshot(&self.bucket(&bucket)?, &key).map_err(kv_error)?;
        self.table.push(snapshot).map_err(|e| wasi_kv::Error::Other(e.to_string()))
    }

    fn current(&mut self, cas: Resource<Snapshot>) -> Result<Option<Vec<u8>>, wasi_kv::Error> {
        self.table.get(&cas).map(|s| s.value.clone()).map_err(|e| wasi_kv::Error::Other(e.to_string()))
    }

    fn drop(&mut self, cas: Resource<Snapshot>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for KvView<'_> {
    fn get_many(
        &mut self,
        bucket: Resource<OpenStore>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, wasi_kv::Error> {
        let label = self.bucket(&bucket)?;
        keys.into_iter()
            .map(|k| Ok((k.clone(), self.ctx.stores.get(&label, &k).map_err(kv_error)?)))
            .collect()
    }

    fn set_many(
        &mut self,
        bucket: Resource<OpenStore>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), wasi_kv::Error> {
        let label = self.bucket(&bucket)?;
        for (key, value) in key_values {
            self.ctx.stores.set(&label, &key, value).map_err(kv_error)?;
        }
        Ok(())
    }

    fn delete_many(&mut self, bucket: Resource<OpenStore>, keys: Vec<String>) -> Result<(), wasi_kv::Error> {
        let label = self.bucket(&bucket)?;
        for key in keys {
            self.ctx.stores.delete(&label, &key).map_err(kv_error)?;
        }
        Ok(())
    }
}
