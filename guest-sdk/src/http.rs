//! HTTP: requests out ([`Request::send`], [`get`], [`post_json`]; permission
//! `networking`, to the manifest's `allowed-hosts` only) and requests in
//! (the [`Endpoints`](crate::Endpoints) family gets an [`HttpRequest`] and
//! answers an [`HttpResponse`]; permission `api`, paths in the manifest's
//! `endpoints`).
//!
//! ```ignore
//! use hangar_sdk::http;
//! let status: serde_json::Value = http::get("https://status.example.org/api")?.json()?;
//! ```
//!
//! A fetch waits on the network inside the handler, and the handler's store
//! transaction starts at its first store access: fetch before writing, so
//! the app's other handlers do not wait on the network.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__wit::hangar::app::http as wit;
use crate::{Error, Result};

/// A request to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// GET, POST, PUT, PATCH, DELETE or HEAD.
    pub method: String,
    /// An absolute `https:` or `http:` URL.
    pub url: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// At most this long (the handler's deadline is the hard bound).
    pub timeout_ms: Option<u32>,
}

impl Request {
    /// A request with `method` to `url`.
    pub fn new(method: &str, url: &str) -> Request {
        Request {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: None,
        }
    }
    /// A GET.
    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }
    /// A POST.
    pub fn post(url: &str) -> Request {
        Request::new("POST", url)
    }
    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    /// Set a raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }
    /// Set a JSON body (and its content type).
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Request> {
        Ok(self
            .header("content-type", "application/json")
            .body(serde_json::to_vec(value)?))
    }
    /// Give up after `ms` milliseconds.
    pub fn timeout_ms(mut self, ms: u32) -> Request {
        self.timeout_ms = Some(ms);
        self
    }
    /// Make the request: `denied` for a destination the app may not
    /// reach, `host` for a network failure or timeout, `too-large` for a
    /// response over the cap.
    pub fn send(self) -> Result<Response> {
        let r = wit::fetch(&wit::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
            timeout_ms: self.timeout_ms,
        })?;
        Ok(Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        })
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// A header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<String> {
        String::from_utf8(self.body.clone()).map_err(|e| Error::Data(e.to_string()))
    }
    /// The body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// GET `url`.
pub fn get(url: &str) -> Result<Response> {
    Request::get(url).send()
}

/// POST `value` as JSON to `url`.
pub fn post_json<T: Serialize + ?Sized>(url: &str, value: &T) -> Result<Response> {
    Request::post(url).json(value)?.send()
}

/// A request to one of the app's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// GET, POST, ...
    pub method: String,
    /// The path below the app's mount point, such as `/events`.
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
    /// A query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<String> {
        String::from_utf8(self.body.clone()).map_err(|e| Error::Data(e.to_string()))
    }
    /// The body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// An endpoint's answer.
///
/// ```
/// use hangar_sdk::http::HttpResponse;
/// let ok = HttpResponse::json(201, &serde_json::json!({"stored": true})).unwrap();
/// assert_eq!(ok.status, 201);
/// let bad = HttpResponse::text(400, "expected JSON");
/// assert_eq!(bad.body, b"expected JSON");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// An empty answer with `status`.
    pub fn new(status: u16) -> HttpResponse {
        HttpResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    /// A text answer.
    pub fn text(status: u16, text: &str) -> HttpResponse {
        HttpResponse::new(status)
            .header("content-type", "text/plain; charset=utf-8")
            .with_body(text.as_bytes().to_vec())
    }
    /// A JSON answer.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Result<HttpResponse> {
        Ok(HttpResponse::new(status)
            .header("content-type", "application/json")
            .with_body(serde_json::to_vec(value)?))
    }
    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> HttpResponse {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    /// Set the body.
    pub fn with_body(mut self, body: Vec<u8>) -> HttpResponse {
        self.body = body;
        self
    }
}
