//! Which regions, in which order, may serve a request.
//!
//! With the client's position known, the pool's regions are ordered by great-circle distance
//! (ties keep the configured order); without it, the configured order stands. The first
//! `attempts` regions are returned. Health is not yet an input. Pure: no I/O, no clock.

use crate::config::{Pool, Region};

/// A point on Earth, degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

const EARTH_RADIUS_KM: f64 = 6371.0;

/// Great-circle distance in kilometres (haversine).
pub fn distance_km(a: GeoPoint, b: GeoPoint) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// Region indices to try for `pool`, nearest first when `client` is known.
pub fn candidate_regions(pool: &Pool, regions: &[Region], client: Option<GeoPoint>) -> Vec<usize> {
    let mut order = pool.regions.clone();
    if let Some(client) = client {
        let distance = |&index: &usize| {
            let region = &regions[index];
            distance_km(client, GeoPoint { lat: region.lat, lon: region.lon })
        };
        order.sort_by(|a, b| distance(a).total_cmp(&distance(b)));
    }
    order.truncate(pool.attempts);
    order
}
