//! Any bytes as a routes document: the validator never panics, and what it accepts is
//! internally consistent (every index it hands out points inside the config).
#![no_main]

use edge_gateway_core::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = Config::from_json(data) {
        for route in &config.routes {
            assert!(route.pool < config.pools.len());
            assert!(!route.hosts.is_empty());
        }
        for pool in &config.pools {
            assert!(pool.regions.iter().all(|&r| r < config.regions.len()));
            assert!(pool.attempts >= 1 && pool.attempts <= pool.regions.len().max(1));
        }
    }
});
