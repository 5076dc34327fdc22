//! The gateway's admin API as the CLI calls it: one blocking request per call, errors sorted by
//! what the operator should do about them.
//!
//! The base URL comes from `--gateway URL` or `GATEWAY_URL`, the secret from
//! `GATEWAY_ADMIN_SECRET` (sent as `Authorization: Bearer <secret>`). It never retries and never
//! reads the document's meaning: that is the gateway's parser's job.

use std::time::Duration;

use serde_json::Value;

use crate::check::Problem;

/// Why a call to the gateway did not succeed.
#[derive(Debug)]
pub(crate) enum AdminError {
    /// 422: the gateway's parser refused the document (exit 1).
    Invalid {
        /// The URL called.
        url: String,
        /// `errors[]` of the problem document.
        problems: Vec<Problem>,
    },
    /// 404: nothing there (no document published, unknown version).
    NotFound {
        /// The URL called.
        url: String,
        /// The problem's detail or title.
        detail: String,
    },
    /// Any other refusal: auth, a bad request, a server error (exit 3).
    Refused {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The problem's detail or title.
        detail: String,
    },
    /// The gateway could not be reached, or answered something unreadable (exit 3).
    Unreachable {
        /// The URL called.
        url: String,
        /// Why.
        reason: String,
    },
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::Invalid { url, problems } => {
                write!(f, "{url}: the gateway refused the document ({} errors)", problems.len())
            }
            AdminError::NotFound { url, detail } => write!(f, "{url}: not found: {detail}"),
            AdminError::Refused { url, status: 401, detail } => write!(
                f,
                "{url}: 401 unauthorized: {detail} (check GATEWAY_ADMIN_SECRET against the gateway's admin secret)"
            ),
            AdminError::Refused { url, status, detail } => write!(f, "{url}: {status}: {detail}"),
            AdminError::Unreachable { url, reason } => write!(f, "{url}: {reason}"),
        }
    }
}

/// A gateway's admin API.
pub(crate) struct Gateway {
    base: String,
    secret: String,
    agent: ureq::Agent,
}

impl Gateway {
    /// `base` without a trailing slash; `secret` may be empty (the gateway then answers 401).
    pub(crate) fn new(base: &str, secret: String) -> Gateway {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
        Gateway { base: base.trim_end_matches('/').to_owned(), secret, agent }
    }

    /// The full URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` → JSON.
    pub(crate) fn get(&self, path: &str) -> Result<Value, AdminError> {
        let url = self.url(path);
        let request = self.agent.get(&url).set("Authorization", &format!("Bearer {}", self.secret));
        answer(&url, request.call())
    }

    /// `method path` with a JSON body → JSON.
    pub(crate) fn send(&self, method: &str, path: &str, body: &str) -> Result<Value, AdminError> {
        let url = self.url(path);
        let request = self
            .agent
            .request(method, &url)
            .set("Authorization", &format!("Bearer {}", self.secret))
            .set("Content-Type", "application/json");
        answer(&url, request.send_string(body))
    }
}

fn answer(url: &str, result: Result<ureq::Response, ureq::Error>) -> Result<Value, AdminError> {
    match result {
        Ok(response) => {
            let text = response.into_string().map_err(|e| unreachable(url, e.to_string()))?;
            serde_json::from_str(&text).map_err(|e| unreachable(url, format!("answer is not JSON: {e}")))
        }
        Err(ureq::Error::Status(status, response)) => {
            let retry_after = response.header("Retry-After").map(str::to_owned);
            let problem: Value =
                response.into_string().ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
            let mut error = refusal(url, status, &problem);
            if let (AdminError::Refused { detail, .. }, Some(seconds)) = (&mut error, retry_after) {
                detail.push_str(&format!(" (retry after {seconds} s)"));
            }
            Err(error)
        }
        Err(ureq::Error::Transport(transport)) => {
            // ureq names the URL itself; the line names it once.
            let reason = transport.to_string();
            let reason = reason.strip_prefix(&format!("{url}: ")).unwrap_or(&reason).to_owned();
            Err(unreachable(url, reason))
        }
    }
}

fn unreachable(url: &str, reason: String) -> AdminError {
    AdminError::Unreachable { url: url.to_owned(), reason }
}

/// Sorts a non-2xx answer and its `application/problem+json` body.
fn refusal(url: &str, status: u16, problem: &Value) -> AdminError {
    let text = |field: &str| problem.get(field).and_then(Value::as_str).map(str::to_owned);
    let detail = text("detail").or_else(|| text("title")).unwrap_or_else(|| format!("HTTP {status}"));
    let url = url.to_owned();
    match status {
        422 => {
            let problems = problem
                .get("errors")
                .and_then(Value::as_array)
                .map(|errors| {
                    errors
                        .iter()
                        .map(|e| Problem {
                            path: e.get("path").and_then(Value::as_str).unwrap_or("$").to_owned(),
                            line: 0,
                            column: 0,
                            reason: e.get("reason").and_then(Value::as_str).unwrap_or_default().to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_else(|| vec![Problem { path: "$".into(), line: 0, column: 0, reason: detail }]);
            AdminError::Invalid { url, problems }
        }
        404 => AdminError::NotFound { url, detail },
        _ => AdminError::Refused { url, status, detail },
    }
}
