//! `routes validate`: the core's validator over one file, each error placed at its line:column.
//!
//! The core decides what is valid ([`Config::from_json`]); this module only reads the file,
//! locates each error's JSON path in the text and prints the report. It never contacts a gateway.

use edge_gateway_core::config::Config;
use serde_json::json;

use crate::locate::Locator;

/// One problem of a document, placed in its file.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    /// JSON path, e.g. `$.routes[2].pool`.
    pub(crate) path: String,
    /// Line of the value (1-based; 0 when unknown).
    pub(crate) line: usize,
    /// Column of the value (1-based; 0 when unknown).
    pub(crate) column: usize,
    /// What is wrong.
    pub(crate) reason: String,
}

/// A file read and checked: its text and its problems (empty when valid).
pub(crate) struct Checked {
    /// The document as read.
    pub(crate) text: String,
    /// Every problem found.
    pub(crate) problems: Vec<Problem>,
}

/// Reads and checks `file`; `Err` is a one-line I/O error naming the file.
pub(crate) fn check_file(file: &str) -> Result<Checked, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: cannot read: {e}"))?;
    let problems = check_text(&text);
    Ok(Checked { text, problems })
}

/// Every problem of `text`, located.
pub(crate) fn check_text(text: &str) -> Vec<Problem> {
    if let Err(syntax) = serde_json::from_str::<serde_json::Value>(text) {
        return vec![Problem {
            path: "$".into(),
            line: syntax.line(),
            column: syntax.column().max(1),
            reason: format!("not valid JSON: {syntax}"),
        }];
    }
    let Err(errors) = Config::from_json(text.as_bytes()) else { return Vec::new() };
    let locator = Locator::new(text);
    errors
        .0
        .into_iter()
        .map(|error| {
            let at = locator.position(&error.path);
            Problem {
                line: at.map_or(0, |p| p.line),
                column: at.map_or(0, |p| p.column),
                path: error.path,
                reason: error.reason,
            }
        })
        .collect()
}

/// Prints the report: one `FILE:LINE:COLUMN: PATH: REASON` line per problem on stderr, or the
/// `--json` object on stdout.
pub(crate) fn print_report(file: &str, problems: &[Problem], as_json: bool) {
    if as_json {
        let errors: Vec<_> = problems
            .iter()
            .map(|p| json!({"path": p.path, "line": p.line, "column": p.column, "reason": p.reason}))
            .collect();
        let report = json!({"file": file, "valid": problems.is_empty(), "errors": errors});
        println!("{}", serde_json::to_string_pretty(&report).expect("serializes"));
        return;
    }
    if problems.is_empty() {
        println!("{file}: ok");
    }
    for p in problems {
        eprintln!("{file}:{}:{}: {}: {}", p.line, p.column, p.path, p.reason);
    }
}
