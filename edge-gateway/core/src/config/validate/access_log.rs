//! Validation of `settings.access_log`: the redacted query parameters are plain names.

use super::Errors;
use crate::config::access_log::AccessLogSettings;
use crate::config::raw::RawAccessLog;

/// Most query parameters one document may list for redaction.
const MAX_REDACTED: usize = 64;

/// The validated settings; every bad name is reported at `$.settings.access_log.redact_query[i]`.
pub(super) fn check(raw: Option<&RawAccessLog>, errors: &mut Errors) -> AccessLogSettings {
    let default = AccessLogSettings::default();
    let Some(raw) = raw else { return default };
    let base = "$.settings.access_log.redact_query";
    let redact_query = match &raw.redact_query {
        None => default.redact_query,
        Some(names) => {
            if names.len() > MAX_REDACTED {
                errors.push(base, format!("at most {MAX_REDACTED} names"));
            }
            for (i, name) in names.iter().enumerate() {
                if let Err(reason) = check_name(name) {
                    errors.push(format!("{base}[{i}]"), reason);
                }
            }
            names.iter().map(|name| name.to_ascii_lowercase()).collect()
        }
    };
    AccessLogSettings { enabled: raw.enabled.unwrap_or(default.enabled), redact_query }
}

fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 128 {
        return Err("must be 1 to 128 characters");
    }
    if name.chars().any(|c| c.is_control() || matches!(c, '=' | '&' | '#' | ' ')) {
        return Err("must be a query parameter name (no '=', '&', '#', spaces or control characters)");
    }
    Ok(())
}
