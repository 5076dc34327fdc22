//! `origin-shield` binary: parse arguments, validate the config, run.
//!
//! Exit codes: 0 after a graceful shutdown, 2 for any config problem (every
//! problem is printed, one per line, prefixed with the config source), 1 when
//! the environment refuses (listen address in use).
#![deny(missing_docs)]

use std::process::ExitCode;

use clap::Parser;
use origin_shield::cli::Args;
use origin_shield::config::ShieldConfig;
use origin_shield::server;

/// Exit code for a refused configuration.
const BAD_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let args = Args::parse();
    let source = args.source_label();
    let config = match args.raw_config() {
        Ok(raw) => ShieldConfig::try_from(raw).map_err(|errors| errors.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let config = match config {
        Ok(config) => config,
        Err(text) => return refuse(&source, &text),
    };
    match server::run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{source}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Prints every line of `text` as `source: line` and returns the config exit code.
fn refuse(source: &str, text: &str) -> ExitCode {
    for line in text.lines() {
        eprintln!("{source}: {line}");
    }
    ExitCode::from(BAD_CONFIG)
}
