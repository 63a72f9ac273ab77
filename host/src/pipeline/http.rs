//! HTTP endpoints: a request to `/apps/<id>/<path>` goes to the app's
//! `handle-request` if the app is enabled and declares a matching endpoint
//! and method, and the caller passes its auth (the per-install secret,
//! compared in constant time). One handler call: one transaction, effects
//! after commit. Every refusal is an HTTP status with a short JSON body
//! saying why, and nothing kept; an app's error or trap is a generic 500
//! (its log has the detail), a deadline a 504.

use crate::apps::AppSet;
use crate::call::CallEngine;
use crate::endpoint::{EndpointOutcome, HttpRequest, HttpResponse};
use crate::exports::{Export, HandleRequest};
use crate::manifest::EndpointAuth;
use crate::registry::Status;
use crate::report::FailureKind;

/// Most request headers an endpoint call gets.
pub(crate) const MAX_HEADERS: usize = 64;
/// Longest request header name plus value.
pub(crate) const MAX_HEADER_BYTES: usize = 8 << 10;
/// Most query pairs.
const MAX_QUERY: usize = 64;

fn refuse(status: u16, why: &str) -> EndpointOutcome {
    EndpointOutcome {
        response: HttpResponse::refusal(status, why),
        report: None,
    }
}

/// Constant-time comparison, so a secret cannot be guessed byte by byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serve `request` with app `app_id`'s endpoint; `secret` reads the app's
/// current per-install secret (only for endpoints that need it).
pub(crate) fn handle(
    calls: &CallEngine,
    set: &AppSet,
    app_id: &str,
    request: &HttpRequest,
    secret: impl FnOnce() -> crate::error::Result<Option<String>>,
) -> EndpointOutcome {
    let max = calls.config.max_http_body_bytes;
    if request.body.len() > max {
        return refuse(413, &format!("the body is over the limit of {max} bytes"));
    }
    if request.headers.len() > MAX_HEADERS
        || request
            .headers
            .iter()
            .any(|(n, v)| n.len() + v.len() > MAX_HEADER_BYTES)
        || request.query.len() > MAX_QUERY
    {
        return refuse(
            431,
            &format!(
                "at most {MAX_HEADERS} headers of {MAX_HEADER_BYTES} bytes and {MAX_QUERY} query pairs"
            ),
        );
    }
    let Some(app) = set.get(app_id) else {
        return refuse(404, "no such app");
    };
    let Some(endpoint) = app
        .manifest
        .endpoints
        .iter()
        .find(|e| e.matches_path(&request.path))
    else {
        return refuse(404, "no such endpoint");
    };
    if !endpoint.methods.contains(&request.method) {
        let mut r = refuse(405, "method not allowed");
        r.response
            .headers
            .push(("allow".into(), endpoint.methods.join(", ")));
        return r;
    }
    if endpoint.auth == EndpointAuth::Secret {
        let given = request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("x-hangar-secret"))
            .map(|(_, v)| v.as_str())
            .or_else(|| {
                request
                    .query
                    .iter()
                    .find(|(n, _)| n == "secret")
                    .map(|(_, v)| v.as_str())
            });
        let secret = match secret() {
            Ok(Some(s)) => s,
            Ok(None) => {
                return refuse(
                    401,
                    "this endpoint needs the app's secret, and none was made yet; `hangar endpoints <app>` makes and shows it",
                );
            }
            Err(e) => return refuse(503, &format!("the host could not read the secret: {e}")),
        };
        if !given.is_some_and(|g| same(g.as_bytes(), secret.as_bytes())) {
            return refuse(401, "a valid X-Hangar-Secret header is required");
        }
    }
    if app.status != Status::Enabled || !app.handles(Export::HandleRequest) {
        return refuse(503, &format!("app '{}' is {}", app.id(), app.status.name()));
    }
    let out = calls.handler_checked(app, &HandleRequest(request), |r| {
        let bytes = r.body.len();
        if bytes > max {
            return Err(format!(
                "the response body is {bytes} bytes, over the limit of {max}"
            ));
        }
        if !(100..=599).contains(&r.status) || r.headers.len() > MAX_HEADERS {
            return Err("a response needs a status from 100 to 599 and at most 64 headers".into());
        }
        Ok(())
    });
    let response = match (out.value, out.report.failure) {
        (Some(r), _) => r,
        (None, Some(FailureKind::Timeout)) => {
            HttpResponse::refusal(504, "the app ran past its deadline")
        }
        (None, Some(FailureKind::Host)) => {
            HttpResponse::refusal(503, "the host could not run the app; try again")
        }
        (None, _) => HttpResponse::refusal(500, "the app failed; its log says why"),
    };
    EndpointOutcome {
        response,
        report: Some(out.report),
    }
}
