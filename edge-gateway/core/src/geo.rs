//! Which regions, in which order, may serve a request.
//!
//! With the client's position known, the pool's regions are ordered by great-circle distance
//! (ties keep the configured order); without it, the configured order stands. The first
//! `attempts` regions are returned; [`select`] also takes health, tiers, weights and
//! residency. Pure: no I/O, no clock.

use http::{HeaderMap, HeaderName};

use crate::config::{ClientLocation, Pool, Region, Tier};
use crate::pipeline::ClientInfo;

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

/// Where the client is, as far as anything trusted says.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Whereabouts<'a> {
    /// Its position.
    pub point: Option<GeoPoint>,
    /// Its country code.
    pub country: Option<&'a str>,
    /// Its continent code.
    pub continent: Option<&'a str>,
}

/// Distances within this many kilometres count as equal, so weights decide between them.
pub const TIE_KM: f64 = 50.0;

/// The regions to try for a request, in order (see [`select`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Region indices, best first, at most `attempts` long.
    pub order: Vec<usize>,
    /// How many of them (from the front) were healthy; the rest are tried only because nothing
    /// better is left (panic mode: a stale or wrong health view must not turn into an outage).
    pub usable: usize,
}

/// Orders `candidates` (region indices, configured order) for one request:
///
/// 1. only regions in `allowed`, when the route is pinned (residency: never another region);
/// 2. usable primaries, then usable backups, then the unusable ones (primaries first);
/// 3. within each group, nearest first: by great-circle distance when the client's position is
///    known (within [`TIE_KM`] counts as a tie), else same country, then same continent, then
///    the rest; ties go to the heavier `weight`, then to the configured order.
///
/// At most `attempts` regions are returned.
pub fn select(
    candidates: &[usize],
    regions: &[Region],
    allowed: Option<&[usize]>,
    client: &Whereabouts<'_>,
    usable: &dyn Fn(usize) -> bool,
    attempts: usize,
) -> Selection {
    let mut order: Vec<usize> =
        candidates.iter().copied().filter(|i| allowed.is_none_or(|set| set.contains(i))).collect();
    let group = |i: usize| {
        let backup = regions[i].tier == Tier::Backup;
        match (usable(i), backup) {
            (true, false) => 0,
            (true, true) => 1,
            (false, false) => 2,
            (false, true) => 3,
        }
    };
    let nearness = |i: usize| -> u64 {
        let region = &regions[i];
        match client.point {
            Some(point) => {
                (distance_km(point, GeoPoint { lat: region.lat, lon: region.lon }) / TIE_KM) as u64
            }
            None => {
                let same = |a: Option<&str>, b: Option<&String>| {
                    a.zip(b).is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
                };
                if same(client.country, region.country.as_ref()) {
                    0
                } else if same(client.continent, region.continent.as_ref()) {
                    1
                } else {
                    2
                }
            }
        }
    };
    let position = |i: usize| candidates.iter().position(|&c| c == i).unwrap_or(usize::MAX);
    order.sort_by_cached_key(|&i| (group(i), nearness(i), std::cmp::Reverse(regions[i].weight), position(i)));
    order.truncate(attempts);
    let usable = order.iter().take_while(|&&i| group(i) < 2).count();
    Selection { order, usable }
}

/// Region indices to try for `pool`, nearest first when `client` is known, with no health or
/// residency input (every region counts as usable).
pub fn candidate_regions(pool: &Pool, regions: &[Region], client: Option<GeoPoint>) -> Vec<usize> {
    let client = Whereabouts { point: client, ..Whereabouts::default() };
    select(&pool.regions, regions, None, &client, &|_| true, pool.attempts).order
}

/// Where the client is: what the platform reported (`client`), else the headers a trusted CDN
/// sets when `settings` names them, else the configured default position.
pub fn whereabouts<'a>(
    client: &'a ClientInfo,
    headers: &'a HeaderMap,
    settings: &ClientLocation,
) -> Whereabouts<'a> {
    let header = |name: &Option<HeaderName>| -> Option<&'a str> {
        let value = headers.get(name.as_ref()?)?.to_str().ok()?.trim();
        (!value.is_empty()).then_some(value)
    };
    let from_headers = settings.point_headers.as_ref().and_then(|(lat, lon)| {
        let number = |name: &HeaderName| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
        let (lat, lon) = (number(lat)?, number(lon)?);
        ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some(GeoPoint { lat, lon })
    });
    Whereabouts {
        point: client.location.or(from_headers).or(settings.default),
        country: client.country.as_deref().or_else(|| header(&settings.country_header)),
        continent: client.continent.as_deref().or_else(|| header(&settings.continent_header)),
    }
}

/// Whether the client with sticky `key` is on the canary side of `route` at `percent`: the
/// same key always lands on the same side (FNV-1a of route and key, modulo 100).
pub fn canary_side(route: &str, key: &str, percent: u8) -> bool {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in route.bytes().chain([0]).chain(key.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash % 100 < u64::from(percent)
}
