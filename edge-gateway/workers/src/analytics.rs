//! The core's [`Metrics`] port over Workers Analytics Engine.
//!
//! When the Worker has an Analytics Engine dataset bound as [`ANALYTICS_BINDING`], every request
//! writes the data point the core built ([`edge_gateway_core::access_log::data_point`]): its
//! index, labels and numbers in the core's order, nothing added or dropped here. Without the
//! binding the port is absent and the core builds no point. `writeDataPoint` does not wait for
//! the store; a failed write is logged and the request goes on.

use edge_gateway_core::ports::{DataPoint, Metrics};
use worker::{AnalyticsEngineDataPointBuilder, AnalyticsEngineDataset, Env};

/// The optional Analytics Engine binding (`[[analytics_engine_datasets]]` in `wrangler.toml`).
pub(crate) const ANALYTICS_BINDING: &str = "ANALYTICS";

/// A bound Analytics Engine dataset.
pub(crate) struct Analytics(AnalyticsEngineDataset);

impl Analytics {
    /// The dataset bound as [`ANALYTICS_BINDING`], if the Worker has one.
    pub(crate) fn from_env(env: &Env) -> Option<Analytics> {
        env.analytics_engine(ANALYTICS_BINDING).ok().map(Analytics)
    }
}

impl Metrics for Analytics {
    fn write(&self, point: &DataPoint) {
        let written = AnalyticsEngineDataPointBuilder::new()
            .indexes([point.index.as_str()])
            .blobs(point.blobs.iter().map(String::as_str))
            .doubles(point.doubles)
            .build();
        if let Err(error) = self.0.write_data_point(&written) {
            worker::console_warn!("analytics: data point not written: {error}");
        }
    }
}
