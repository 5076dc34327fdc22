//! `gatewayctl`: the operator's CLI for the edge gateway — routes documents, API keys, purges.
//!
//! `routes validate` works offline with the gateway's own parser; `routes diff|push|history|
//! rollback|current` and `purge` call the gateway's admin API (`--gateway URL` or `GATEWAY_URL`,
//! secret in `GATEWAY_ADMIN_SECRET`), so they reach a Workers or a Spin deployment, local or
//! remote, the same way. `keys` makes keys here and prints the store's write command
//! (see [`keys`]). `schema --reference` renders the configuration reference from the JSON Schema
//! (see [`reference`](mod@reference)). The older `validate`, `version-id`, `schema` and `apikey` commands stay for
//! `scripts/routes` and `scripts/apikeys`. Exit codes: see [`exit`].

mod admin;
mod apikey;
mod check;
mod diff;
mod keys;
mod locate;
mod purge;
mod reference;
mod rfc3339;
mod routes;

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use edge_gateway_core::config::Config;
use edge_gateway_core::config::raw::RawConfig;

/// The exit codes, as `--help` documents them.
pub(crate) mod exit {
    /// Success; `routes diff`: no differences.
    pub(crate) const OK: u8 = 0;
    /// A document failed validation (here or at the gateway); `routes diff`: differences.
    pub(crate) const INVALID: u8 = 1;
    /// A usage error, or a file that cannot be read.
    pub(crate) const USAGE: u8 = 2;
    /// The gateway refused (401/403, unknown version, 5xx) or could not be reached.
    pub(crate) const REFUSED: u8 = 3;
}

const EXIT_CODES: &str = "Exit codes:
  0  ok (routes diff: no differences)
  1  validation failed, here or at the gateway (routes diff: differences)
  2  usage error, or a file that cannot be read
  3  the gateway refused (401/403, unknown version, 5xx) or could not be reached

Environment:
  GATEWAY_URL            the gateway's base URL (or --gateway URL)
  GATEWAY_ADMIN_SECRET   the admin API's secret, sent as Authorization: Bearer <secret>
  GATEWAY_PURGE_SECRET   the purge endpoint's secret (default: GATEWAY_ADMIN_SECRET)";

const EXAMPLES: &str = "Examples:
  gatewayctl routes validate config/routes.json
  gatewayctl routes validate config/routes.json --json
  GATEWAY_URL=http://127.0.0.1:8787 GATEWAY_ADMIN_SECRET=... gatewayctl routes diff config/routes.json
  gatewayctl routes push config/routes.json --dry-run
  gatewayctl routes push config/routes.json
  gatewayctl routes history
  gatewayctl routes rollback
  gatewayctl routes current --document
  gatewayctl keys add --tenant acme --scope orders:read --expires 2027-01-01T00:00:00Z
  gatewayctl purge prefix /static/";

/// The edge gateway's operator CLI.
#[derive(Parser)]
#[command(name = "gatewayctl", version, about, after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"))]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The routes document: validate offline; diff, push, history, rollback, current at the gateway.
    Routes {
        /// The gateway's base URL.
        #[arg(long, env = "GATEWAY_URL", global = true, value_name = "URL")]
        gateway: Option<String>,
        #[command(subcommand)]
        command: RoutesCommand,
    },
    /// API keys: make one (the plain key is printed once), list, revoke.
    #[command(after_help = KEYS_HELP)]
    Keys {
        /// Print commands for the deployed Workers KV namespace instead of the local dev state.
        #[arg(long, global = true, conflicts_with = "spin_sqlite")]
        remote: bool,
        /// Print commands for a Spin app's `default` store in this SQLite file.
        #[arg(long, global = true, value_name = "FILE")]
        spin_sqlite: Option<String>,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Purge the edge cache everywhere and every region's origin shield.
    #[command(after_help = PURGE_HELP)]
    Purge {
        /// The gateway's base URL.
        #[arg(long, env = "GATEWAY_URL", global = true, value_name = "URL")]
        gateway: Option<String>,
        #[command(subcommand)]
        target: PurgeTarget,
    },
    /// Every error of every file, as `FILE: $.path: reason` (used by scripts/routes).
    Validate {
        /// Routes documents.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// A version id for publishing FILE: v<unix seconds>-<content hash> (used by scripts/routes).
    VersionId {
        /// A routes document.
        file: String,
    },
    /// The JSON Schema of the routes document; `--reference`: the markdown configuration reference.
    #[command(after_help = "Examples:\n  gatewayctl schema > config/routes.schema.json\n  \
                            gatewayctl schema --reference > docs/config-reference.md")]
    Schema {
        /// Print the configuration reference (docs/config-reference.md) rendered from the schema.
        #[arg(long)]
        reference: bool,
        /// With --reference: render this schema file (e.g. config/routes.schema.json) instead.
        #[arg(long, value_name = "FILE", requires = "reference")]
        from: Option<String>,
    },
    /// `apikey new --tenant T [--scope S]... [--description D] [--expires-in-days N]` prints a key
    /// and its KV record as JSON; `apikey revoke < RECORD` prints it revoked (used by scripts/apikeys).
    Apikey {
        /// `new ...` or `revoke`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

const ROUTES_HELP: &str = "Examples:
  gatewayctl routes validate routes.json            # every error as FILE:LINE:COLUMN: $.path: reason
  gatewayctl routes validate routes.json --json     # {\"file\",\"valid\",\"errors\":[{\"path\",\"line\",\"column\",\"reason\"}]}
  gatewayctl routes diff routes.json                # exit 0 identical, 1 different
  gatewayctl routes push routes.json --dry-run      # the gateway validates, nothing is published
  gatewayctl routes push routes.json                # prints the new version
  gatewayctl routes history
  gatewayctl routes rollback                        # to the version before the current one
  gatewayctl routes rollback 1764650000000-1a2b3c4d
  gatewayctl routes current --document > live.json";

#[derive(Subcommand)]
#[command(after_help = ROUTES_HELP)]
enum RoutesCommand {
    /// Check FILE with the gateway's own parser, offline: every error with its path and line:column.
    #[command(after_help = "Example:\n  gatewayctl routes validate config/routes.json --json")]
    Validate {
        /// A routes document.
        file: String,
        /// Print {"file","valid","errors":[{"path","line","column","reason"}]} on stdout.
        #[arg(long)]
        json: bool,
    },
    /// What FILE would change against the live document: routes, pools, regions, auth issuers,
    /// rate_limits added (+), removed (-), changed (~, with the changed fields).
    #[command(after_help = "Example:\n  gatewayctl routes diff config/routes.json && echo identical")]
    Diff {
        /// A routes document.
        file: String,
    },
    /// Validate FILE here (an invalid file is never sent), then publish it; prints the new version.
    #[command(after_help = "Example:\n  gatewayctl routes push config/routes.json --dry-run")]
    Push {
        /// A routes document.
        file: String,
        /// Let the gateway validate it without publishing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The published versions, newest first, the current one marked.
    #[command(after_help = "Example:\n  gatewayctl routes history")]
    History,
    /// Point `current` at VERSION, or at the version before the current one.
    #[command(after_help = "Example:\n  gatewayctl routes rollback 1764650000000-1a2b3c4d")]
    Rollback {
        /// A version from `routes history`.
        version: Option<String>,
    },
    /// The live version and when it was published.
    #[command(after_help = "Example:\n  gatewayctl routes current --document > live.json")]
    Current {
        /// Print the live document instead.
        #[arg(long)]
        document: bool,
    },
}

const KEYS_HELP: &str = "The admin API has no key endpoints yet and the stores are reached only by wrangler
(Workers KV) or a Spin app's SQLite file, so `keys` makes the key here and prints the exact
command that writes, lists or revokes its record (scripts/apikeys runs the same writes).
Only the key's SHA-256 is stored, under apikeys/<sha256>.

Examples:
  gatewayctl keys add --tenant acme --scope orders:read --description 'billing job'
  gatewayctl keys add --tenant acme --expires 2027-01-01T00:00:00Z --remote
  gatewayctl keys list --spin-sqlite .spin/sqlite_key_value.db
  gatewayctl keys revoke egk_...                    # the key, or its SHA-256";

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a key for a tenant; prints the key once and the command storing its record.
    Add {
        /// The tenant the key acts for.
        #[arg(long)]
        tenant: String,
        /// A scope the key grants (repeatable).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Free text kept in the record.
        #[arg(long, default_value = "")]
        description: String,
        /// When the key stops working, RFC 3339 (e.g. 2027-01-01T00:00:00Z).
        #[arg(long, value_name = "RFC3339")]
        expires: Option<String>,
    },
    /// Print the command listing the stored key records.
    List,
    /// Print the command revoking a key; ID is the plain key or its SHA-256.
    Revoke {
        /// The key (egk_...) or its SHA-256.
        id: String,
    },
}

const PURGE_HELP: &str =
    "Calls POST /__gateway/purge with GATEWAY_PURGE_SECRET (default GATEWAY_ADMIN_SECRET)
and prints one line per tier: the edge (every instance within the stated bound), then each
region's shield. Exit 3 when the gateway refuses or a shield was not purged.

Examples:
  gatewayctl purge url '/api/users/7?v=2'
  gatewayctl purge tag catalog
  gatewayctl purge prefix /static/
  gatewayctl purge all";

#[derive(Subcommand)]
enum PurgeTarget {
    /// One exact path (with its query).
    Url {
        /// e.g. /api/users/7?v=2
        url: String,
    },
    /// Every cached response with this tag.
    Tag {
        /// A cache tag.
        tag: String,
    },
    /// Every path under this prefix.
    Prefix {
        /// e.g. /static/
        prefix: String,
    },
    /// Everything.
    All,
}

const USAGE: &str = "usage: gatewayctl apikey new --tenant T [--scope S]... [--description D] [--expires-in-days N]\n       gatewayctl apikey revoke < RECORD";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Routes { gateway, command } => run_routes(gateway, command),
        Command::Keys { remote, spin_sqlite, command } => {
            let store = match spin_sqlite {
                Some(file) => keys::Store::SpinSqlite(file),
                None => keys::Store::Wrangler { remote },
            };
            match command {
                KeysCommand::Add { tenant, scopes, description, expires } => {
                    keys::add(&store, tenant, scopes, description, expires.as_deref())
                }
                KeysCommand::List => keys::list(&store),
                KeysCommand::Revoke { id } => keys::revoke(&store, &id),
            }
        }
        Command::Purge { gateway, target } => {
            let secret = std::env::var("GATEWAY_PURGE_SECRET").ok().filter(|s| !s.is_empty());
            match connect(gateway, secret, true) {
                Ok(gateway) => purge::run(&gateway, &purge_target(target)),
                Err(code) => code,
            }
        }
        Command::Validate { files } => validate(&files),
        Command::VersionId { file } => version_id(&file),
        Command::Schema { reference, from } => schema(reference, from.as_deref()),
        Command::Apikey { args } => return apikey::run(&args, USAGE),
    };
    ExitCode::from(code)
}

/// `schema`: the JSON Schema of the raw types, or with `reference` its markdown reference (of
/// the schema in `from` when given).
fn schema(reference: bool, from: Option<&str>) -> u8 {
    let schema = match from {
        None => serde_json::to_value(schemars::schema_for!(RawConfig)).expect("schema serializes"),
        Some(file) => match std::fs::read(file).map(|bytes| serde_json::from_slice(&bytes)) {
            Ok(Ok(schema)) => schema,
            Ok(Err(e)) => {
                eprintln!("{file}: not a JSON Schema: {e}");
                return exit::INVALID;
            }
            Err(e) => {
                eprintln!("{file}: cannot read: {e}");
                return exit::USAGE;
            }
        },
    };
    if reference {
        print!("{}", reference::render(&schema));
    } else {
        println!("{}", serde_json::to_string_pretty(&schema).expect("schema serializes"));
    }
    exit::OK
}

fn run_routes(gateway: Option<String>, command: RoutesCommand) -> u8 {
    if let RoutesCommand::Validate { file, json } = &command {
        return routes::validate(file, *json);
    }
    let gateway = match connect(gateway, None, false) {
        Ok(gateway) => gateway,
        Err(code) => return code,
    };
    match command {
        RoutesCommand::Validate { .. } => unreachable!("handled above"),
        RoutesCommand::Diff { file } => routes::diff(&gateway, &file),
        RoutesCommand::Push { file, dry_run } => routes::push(&gateway, &file, dry_run),
        RoutesCommand::History => routes::history(&gateway),
        RoutesCommand::Rollback { version } => routes::rollback(&gateway, version.as_deref()),
        RoutesCommand::Current { document } => routes::current(&gateway, document),
    }
}

/// The gateway named by `--gateway`/`GATEWAY_URL`, with `secret` (the purge secret when
/// `purging`) or `GATEWAY_ADMIN_SECRET`.
fn connect(url: Option<String>, secret: Option<String>, purging: bool) -> Result<admin::Gateway, u8> {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        eprintln!("no gateway: give --gateway URL or set GATEWAY_URL");
        return Err(exit::USAGE);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        eprintln!("{url}: the gateway URL must start with http:// or https://");
        return Err(exit::USAGE);
    }
    let secret = match secret.or_else(|| std::env::var("GATEWAY_ADMIN_SECRET").ok().filter(|s| !s.is_empty()))
    {
        Some(secret) => secret,
        None => {
            let which = if purging {
                "GATEWAY_PURGE_SECRET (or GATEWAY_ADMIN_SECRET)"
            } else {
                "GATEWAY_ADMIN_SECRET"
            };
            eprintln!("{url}: {which} is not set (the gateway answers 401 without it)");
            return Err(exit::USAGE);
        }
    };
    Ok(admin::Gateway::new(&url, secret))
}

fn purge_target(target: PurgeTarget) -> purge::Target {
    match target {
        PurgeTarget::Url { url } => purge::Target::Url(url),
        PurgeTarget::Tag { tag } => purge::Target::Tag(tag),
        PurgeTarget::Prefix { prefix } => purge::Target::Prefix(prefix),
        PurgeTarget::All => purge::Target::All,
    }
}

fn validate(files: &[String]) -> u8 {
    let mut failed = false;
    for file in files {
        match read_and_check(file) {
            Ok(config) => println!(
                "{file}: ok ({} routes, {} pools, {} regions)",
                config.routes.len(),
                config.pools.len(),
                config.regions.len()
            ),
            Err(lines) => {
                failed = true;
                for line in lines {
                    eprintln!("{file}: {line}");
                }
            }
        }
    }
    if failed { exit::INVALID } else { exit::OK }
}

fn read_and_check(file: &str) -> Result<Config, Vec<String>> {
    let bytes = std::fs::read(file).map_err(|e| vec![format!("cannot read: {e}")])?;
    Config::from_json(&bytes).map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
}

fn version_id(file: &str) -> u8 {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("{file}: cannot read: {e}");
            return exit::INVALID;
        }
    };
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    println!("v{seconds}-{:08x}", fnv1a(&bytes) as u32);
    exit::OK
}

/// FNV-1a: a short content fingerprint for version ids (not a security hash).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
