//! `gatewayctl routes …`: validate a file offline; diff, push, list, roll back and show the live
//! document through the gateway's admin API (`/__gateway/admin/routes`).
//!
//! Each function prints its own output and returns the exit code ([`crate::exit`]). A push is
//! always validated here first, so an invalid file is never sent.

use serde_json::{Value, json};

use crate::admin::{AdminError, Gateway};
use crate::check::{self, Problem};
use crate::exit;
use crate::locate::Locator;

const ROUTES: &str = "/__gateway/admin/routes";

/// `routes validate FILE [--json]`.
pub(crate) fn validate(file: &str, as_json: bool) -> u8 {
    match check::check_file(file) {
        Ok(checked) => {
            check::print_report(file, &checked.problems, as_json);
            if checked.problems.is_empty() { exit::OK } else { exit::INVALID }
        }
        Err(message) => {
            eprintln!("{message}");
            exit::USAGE
        }
    }
}

/// `routes diff FILE`: exit 0 identical, 1 different.
pub(crate) fn diff(gateway: &Gateway, file: &str) -> u8 {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => return fail(&format!("{file}: cannot read: {e}"), exit::USAGE),
    };
    let next: Value = match serde_json::from_str(&text) {
        Ok(next) => next,
        Err(e) => {
            return fail(&format!("{file}:{}:{}: $: not valid JSON: {e}", e.line(), e.column()), exit::USAGE);
        }
    };
    let live = match gateway.get(ROUTES) {
        Ok(current) => current.get("document").cloned().unwrap_or_default(),
        Err(AdminError::NotFound { .. }) => {
            println!("(no live document: everything is added)");
            json!({})
        }
        Err(error) => return refused(&error, file, None),
    };
    let lines = crate::diff::diff(&live, &next);
    if lines.is_empty() {
        println!("{file}: no differences from the live document");
        return exit::OK;
    }
    for line in lines {
        println!("{line}");
    }
    exit::INVALID
}

/// `routes push FILE [--dry-run]`.
pub(crate) fn push(gateway: &Gateway, file: &str, dry_run: bool) -> u8 {
    let checked = match check::check_file(file) {
        Ok(checked) => checked,
        Err(message) => return fail(&message, exit::USAGE),
    };
    if !checked.problems.is_empty() {
        check::print_report(file, &checked.problems, false);
        eprintln!("{file}: not pushed: {} errors", checked.problems.len());
        return exit::INVALID;
    }
    let path = if dry_run { format!("{ROUTES}?dry_run=true") } else { ROUTES.to_owned() };
    match gateway.send("PUT", &path, &checked.text) {
        Ok(answer) if dry_run => {
            println!(
                "{file}: accepted by the gateway (dry run, nothing published; would be version {})",
                field(&answer, "version")
            );
            exit::OK
        }
        Ok(answer) => {
            println!("{}", field(&answer, "version"));
            eprintln!(
                "{file}: published as version {} at {} (previous {})",
                field(&answer, "version"),
                field(&answer, "published_at"),
                field(&answer, "previous")
            );
            exit::OK
        }
        Err(error) => refused(&error, file, Some(&checked.text)),
    }
}

/// `routes history`.
pub(crate) fn history(gateway: &Gateway) -> u8 {
    let answer = match gateway.get(&format!("{ROUTES}/history")) {
        Ok(answer) => answer,
        Err(error) => return refused(&error, "", None),
    };
    let versions = answer.get("versions").and_then(Value::as_array).cloned().unwrap_or_default();
    if versions.is_empty() {
        println!("(no versions published)");
    }
    for v in versions {
        let current = if v.get("current").and_then(Value::as_bool) == Some(true) { "  current" } else { "" };
        println!("{}  {}{current}", field(&v, "version"), field(&v, "published_at"));
    }
    exit::OK
}

/// `routes rollback [VERSION]`: the named version, or the one before the current.
pub(crate) fn rollback(gateway: &Gateway, version: Option<&str>) -> u8 {
    let body = match version {
        Some(v) => json!({ "version": v }),
        None => json!({}),
    };
    match gateway.send("POST", &format!("{ROUTES}/rollback"), &body.to_string()) {
        Ok(answer) => {
            println!(
                "rolled back to version {} (was {})",
                field(&answer, "version"),
                field(&answer, "previous")
            );
            exit::OK
        }
        Err(error) => refused(&error, "", None),
    }
}

/// `routes current [--document]`.
pub(crate) fn current(gateway: &Gateway, document: bool) -> u8 {
    match gateway.get(ROUTES) {
        Ok(answer) if document => {
            let doc = answer.get("document").cloned().unwrap_or_default();
            println!("{}", serde_json::to_string_pretty(&doc).expect("serializes"));
            exit::OK
        }
        Ok(answer) => {
            println!("version:      {}", field(&answer, "version"));
            println!("published_at: {}", field(&answer, "published_at"));
            exit::OK
        }
        Err(error) => refused(&error, "", None),
    }
}

fn field(value: &Value, name: &str) -> String {
    match value.get(name) {
        Some(Value::String(s)) => s.clone(),
        // The gateway states times as Unix milliseconds.
        Some(Value::Number(ms)) if name == "published_at" && ms.as_u64().is_some() => {
            crate::rfc3339::from_ms(ms.as_u64().unwrap_or_default())
        }
        Some(Value::Null) | None => "(none)".into(),
        Some(other) => other.to_string(),
    }
}

fn fail(message: &str, code: u8) -> u8 {
    eprintln!("{message}");
    code
}

/// Prints a refusal; a 422's errors are placed in `file` when its text is at hand.
pub(crate) fn refused(error: &AdminError, file: &str, text: Option<&str>) -> u8 {
    match error {
        AdminError::Invalid { url, problems } => {
            let locator = text.map(Locator::new);
            for Problem { path, reason, .. } in problems {
                match locator.as_ref().and_then(|l| l.position(path)) {
                    Some(at) => eprintln!("{file}:{}:{}: {path}: {reason}", at.line, at.column),
                    None => eprintln!("{url}: {path}: {reason}"),
                }
            }
            eprintln!("{error}");
            exit::INVALID
        }
        other => fail(&other.to_string(), exit::REFUSED),
    }
}
