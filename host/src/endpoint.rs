//! What an HTTP endpoint call takes and gives: the request as the web
//! server received it, the answer, and the app's report line. Plain data,
//! shared by the bindings, the endpoint pipeline and embedders.

use serde::{Deserialize, Serialize};

use crate::report::AppReport;

/// A request to an app's endpoint, as the web server received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HttpRequest {
    /// GET, POST, ...
    pub method: String,
    /// The path below `/apps/<id>`, starting with `/`.
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// Headers (names lower-case).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The answer, from the app or from the host's checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A JSON answer of the host's own: `{"error": why}`.
    pub fn refusal(status: u16, why: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::json!({ "error": why }).to_string().into_bytes(),
        }
    }
}

/// What an endpoint call did: the answer, and the app's report line when
/// the app was called.
#[derive(Debug, Clone)]
pub struct EndpointOutcome {
    /// The answer to send.
    pub response: HttpResponse,
    /// The handler's report, if the app ran.
    pub report: Option<AppReport>,
}
