//! `fermyon:spin/variables@2.0.0` over the variables the manifest declares.
//!
//! As in Spin, a component sees only the names in its `[component.<id>.variables]` table; each
//! value is a template whose `{{ name }}` parts name application variables (`[variables]`),
//! resolved at start-up from the environment (`SPIN_VARIABLE_<NAME>`, Spin's environment
//! provider) or the variable's `default`. A required variable without a value stops the host.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker};

mod generated {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin-test-host:host/variables",
    });
}

use generated::fermyon::spin::variables;

/// The component's variables, resolved.
pub(crate) type Resolved = Arc<BTreeMap<String, String>>;

/// The view the host functions get: the resolved variables.
pub(crate) struct VarsView<'a>(pub(crate) &'a BTreeMap<String, String>);

/// Marker for the [`HasData`] projection.
pub(crate) struct VarsHost;

impl HasData for VarsHost {
    type Data<'a> = VarsView<'a>;
}

impl variables::Host for VarsView<'_> {
    fn get(&mut self, name: String) -> Result<String, variables::Error> {
        let valid = !name.is_empty()
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(variables::Error::InvalidName(name));
        }
        self.0.get(&name).cloned().ok_or(variables::Error::Undefined(name))
    }
}

/// Adds the interface to `linker`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> VarsView<'_>,
) -> anyhow::Result<()> {
    variables::add_to_linker::<T, VarsHost>(linker, view)?;
    Ok(())
}
