//! Command line: `--config shield.toml` and/or flags that override the file.
//!
//! Turns arguments into a [`RawConfig`] (file first, flags on top) and names
//! the source for error messages; validation is [`crate::config`]'s job.

use std::path::PathBuf;

use clap::Parser;

use crate::config::RawConfig;
use crate::config::raw::{RawPurge, RawTimeouts};

/// Environment variable holding the purge secret; it wins over `[purge] secret`.
pub const PURGE_SECRET_ENV: &str = "SHIELD_PURGE_SECRET";

/// `origin-shield`: a regional origin shield in front of one HTTP origin.
#[derive(Debug, Parser)]
#[command(name = "origin-shield", version, about)]
pub struct Args {
    /// TOML config file; flags below override its fields.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Socket address to listen on, e.g. 127.0.0.1:9101.
    #[arg(long)]
    pub listen: Option<String>,
    /// Region name, e.g. eu-west.
    #[arg(long)]
    pub region: Option<String>,
    /// Origin base URL, e.g. http://127.0.0.1:9000.
    #[arg(long)]
    pub origin: Option<String>,
    /// Path probed on the origin by the health check, e.g. /healthz.
    #[arg(long)]
    pub health_check_path: Option<String>,
    /// Forward the client's Host header instead of the origin's host:port.
    #[arg(long)]
    pub preserve_host: bool,
    /// Upstream connect timeout in milliseconds.
    #[arg(long)]
    pub connect_timeout_ms: Option<u64>,
    /// Upstream read timeout in milliseconds.
    #[arg(long)]
    pub read_timeout_ms: Option<u64>,
}

/// Why the arguments could not become a [`RawConfig`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The config file could not be read.
    #[error("cannot read: {0}")]
    Read(#[from] std::io::Error),
    /// The config file is not valid TOML for this schema.
    #[error("{0}")]
    Parse(String),
}

impl Args {
    /// Label used before every error message: the file name, or `command line`.
    pub fn source_label(&self) -> String {
        self.config.as_ref().map_or_else(|| "command line".to_owned(), |p| p.display().to_string())
    }

    /// The file's settings (if any) with the flags (and `SHIELD_PURGE_SECRET`) laid over them.
    pub fn raw_config(&self) -> Result<RawConfig, LoadError> {
        let file = match &self.config {
            Some(path) => RawConfig::from_toml(&std::fs::read_to_string(path)?).map_err(LoadError::Parse)?,
            None => RawConfig::default(),
        };
        Ok(file.overlay(self.flags()))
    }

    fn flags(&self) -> RawConfig {
        RawConfig {
            listen: self.listen.clone(),
            region: self.region.clone(),
            origin: self.origin.clone(),
            health_check_path: self.health_check_path.clone(),
            preserve_host: self.preserve_host.then_some(true),
            timeouts: RawTimeouts {
                connect_ms: self.connect_timeout_ms,
                read_ms: self.read_timeout_ms,
                ..RawTimeouts::default()
            },
            purge: RawPurge { secret: std::env::var(PURGE_SECRET_ENV).ok().filter(|s| !s.is_empty()) },
            ..RawConfig::default()
        }
    }
}
