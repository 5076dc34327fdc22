//! The validated access-log settings: [`AccessLogSettings`].
//!
//! Produced by the validation pass from `settings.access_log`; the access log
//! ([`crate::access_log`]) reads them. Nothing here writes a line.

/// Query parameters whose values the access log replaces when `redact_query` is not set.
pub const DEFAULT_REDACT_QUERY: [&str; 9] =
    ["token", "access_token", "id_token", "api_key", "apikey", "key", "sig", "signature", "password"];

/// Whether the gateway writes one access-log line per request, and what it hides in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogSettings {
    /// Write the line (default true).
    pub enabled: bool,
    /// Query parameters (lower case) whose values are written as `[redacted]`. The API-key
    /// query parameter and `access_token` are redacted whatever this says.
    pub redact_query: Vec<String>,
}

impl Default for AccessLogSettings {
    fn default() -> Self {
        AccessLogSettings { enabled: true, redact_query: DEFAULT_REDACT_QUERY.map(str::to_owned).to_vec() }
    }
}
