//! Outbound HTTP for apps (`http.fetch`, permission `networking`): the
//! destination must match the manifest's `allowed-hosts` (and the
//! operator's narrowing, when set); loopback, private, link-local and
//! metadata addresses are refused after DNS resolution (the checked
//! addresses are the ones connected to, so a name cannot resolve twice),
//! unless the operator allows them; redirects are followed by hand, each
//! hop checked again; the request ends by the call's deadline; the
//! response body is capped.

use std::error::Error as _;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Most redirects followed.
const MAX_REDIRECTS: usize = 5;
/// Most headers in a request or kept from a response.
const MAX_HEADERS: usize = 64;
/// Longest header name or value.
const MAX_HEADER_BYTES: usize = 8 << 10;

/// An outbound request, version-neutral.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) timeout: Option<Duration>,
}

/// What came back.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// Why a request was not made or did not complete.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The destination is not allowed (a `denied` error).
    Denied(String),
    /// The request itself is malformed (`invalid`).
    Invalid(String),
    /// The response is over the cap (`too-large`).
    TooLarge(String),
    /// The network failed or the deadline came (`host`).
    Failed(String),
}

impl Refused {
    /// What went wrong.
    pub(crate) fn message(&self) -> &str {
        match self {
            Refused::Denied(m)
            | Refused::Invalid(m)
            | Refused::TooLarge(m)
            | Refused::Failed(m) => m,
        }
    }
}

/// One `allowed-hosts` pattern: `https://api.github.com`,
/// `https://*.example.org`, `http://127.0.0.1:8080`, `http://localhost:*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPattern {
    scheme: String,
    /// Lower-case; a leading `*.` matches any subdomain (not the bare name).
    host: String,
    /// `None`: any port.
    port: Option<u16>,
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

impl HostPattern {
    /// Parse a pattern, saying what is wrong with a bad one.
    pub(crate) fn parse(text: &str) -> Result<HostPattern, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("'{text}' needs a scheme, such as https://"))?;
        if scheme != "https" && scheme != "http" {
            return Err(format!("'{text}': only https and http are allowed"));
        }
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "'{text}' must be a scheme and host (and port) only, without a path"
            ));
        }
        // A bracketed IPv6 host may carry colons of its own.
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, _)) if rest.starts_with('[') && !h.ends_with(']') => {
                (rest, Some(default_port(scheme)))
            }
            Some((h, "*")) => (h, None),
            Some((h, p)) => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("'{text}': bad port '{p}'"))?;
                (h, Some(port))
            }
            None => (rest, Some(default_port(scheme))),
        };
        let name = host.strip_prefix("*.").unwrap_or(host);
        if name.is_empty() || name.contains('*') {
            return Err(format!(
                "'{text}': a host may only start with '*.' as a wildcard"
            ));
        }
        Ok(HostPattern {
            scheme: scheme.to_string(),
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn matches(&self, url: &url::Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        let port = url.port_or_known_default();
        let host_ok = match self.host.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host == self.host,
        };
        url.scheme() == self.scheme && host_ok && (self.port.is_none() || self.port == port)
    }
}

/// Whether `ip` is loopback, private, link-local (cloud metadata
/// included), unspecified, shared, multicast or otherwise not a public
/// destination.
pub(crate) fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x64 && v6.segments()[1] == 0xff9b)
        }
    }
}

/// The rules one app's requests go by.
pub(crate) struct Policy<'a> {
    pub(crate) manifest: &'a [String],
    pub(crate) operator: Option<&'a [String]>,
    pub(crate) allow_private: bool,
    pub(crate) max_response_bytes: usize,
    pub(crate) max_request_bytes: usize,
}

impl Policy<'_> {
    fn allows(&self, url: &url::Url) -> Result<(), Refused> {
        let matches = |list: &[String]| {
            list.iter()
                .filter_map(|p| HostPattern::parse(p).ok())
                .any(|p| p.matches(url))
        };
        let shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
        if !matches(self.manifest) {
            return Err(Refused::Denied(format!(
                "{shown} is not in the app's allowed-hosts; add it to the manifest"
            )));
        }
        if let Some(operator) = self.operator
            && !matches(operator)
        {
            return Err(Refused::Denied(format!(
                "{shown} is not in the operator's outbound-hosts for this app"
            )));
        }
        Ok(())
    }
}

/// Resolve `netloc` and keep only addresses the policy allows.
fn resolve(netloc: &str, allow_private: bool) -> std::io::Result<Vec<SocketAddr>> {
    let all: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
    let allowed: Vec<SocketAddr> = all
        .iter()
        .copied()
        .filter(|a| allow_private || !is_internal(a.ip()))
        .collect();
    if allowed.is_empty() {
        let ips: Vec<String> = all.iter().map(|a| a.ip().to_string()).collect();
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{netloc} resolves to {} only: loopback, private, link-local and metadata addresses are refused unless the operator allows them (\"outbound-allow-private\")",
                ips.join(", ")
            ),
        ));
    }
    Ok(allowed)
}

fn check_request(r: &Request, max_body: usize) -> Result<url::Url, Refused> {
    const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];
    if !METHODS.contains(&r.method.as_str()) {
        return Err(Refused::Invalid(format!(
            "method '{}' is not one of {}",
            r.method.chars().take(16).collect::<String>(),
            METHODS.join(", ")
        )));
    }
    if r.url.len() > 8192 {
        return Err(Refused::Invalid("the URL is over 8192 bytes".into()));
    }
    if r.headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("host") || n.eq_ignore_ascii_case("content-length"))
    {
        return Err(Refused::Invalid(
            "the Host and Content-Length headers are set by the host, not the app".into(),
        ));
    }
    if r.headers.len() > MAX_HEADERS
        || r.headers
            .iter()
            .any(|(n, v)| n.len() > MAX_HEADER_BYTES || v.len() > MAX_HEADER_BYTES)
    {
        return Err(Refused::Invalid(format!(
            "at most {MAX_HEADERS} headers of at most {MAX_HEADER_BYTES} bytes each"
        )));
    }
    if r.body.len() > max_body {
        return Err(Refused::TooLarge(format!(
            "the request body is {} bytes, over the limit of {max_body}",
            r.body.len()
        )));
    }
    let url = url::Url::parse(&r.url).map_err(|e| Refused::Invalid(format!("bad URL: {e}")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(Refused::Invalid("only https: and http: URLs".into()));
    }
    Ok(url)
}

/// Make `request` under `policy`, ending by `deadline`.
pub(crate) fn fetch(
    request: &Request,
    policy: &Policy<'_>,
    deadline: Instant,
) -> Result<Response, Refused> {
    let mut url = check_request(request, policy.max_request_bytes)?;
    let allow_private = policy.allow_private;
    let mut method = request.method.clone();
    let mut body = request.body.clone();
    let mut headers = request.headers.clone();
    let origin = url.origin();
    // The whole request (every hop) ends by the requested timeout, and
    // early enough before the call's deadline that the handler can still
    // answer: a slow server is the request's failure, not the app's fault.
    let left = deadline.saturating_duration_since(Instant::now());
    let margin = (left / 10).max(Duration::from_millis(50));
    let budget = request
        .timeout
        .map_or(left, |t| t.min(left))
        .min(left.saturating_sub(margin));
    let end = Instant::now() + budget;
    for _ in 0..=MAX_REDIRECTS {
        policy.allows(&url)?;
        let timeout = end.saturating_duration_since(Instant::now());
        if timeout.is_zero() {
            return Err(Refused::Failed(
                "the call's deadline has passed; no time left for the request".into(),
            ));
        }
        let agent = ureq::AgentBuilder::new()
            .resolver(move |netloc: &str| resolve(netloc, allow_private))
            .redirects(0)
            .timeout(timeout)
            .build();
        let mut req = agent.request_url(&method, &url);
        for (name, value) in &headers {
            req = req.set(name, value);
        }
        let sent = if body.is_empty() {
            req.call()
        } else {
            req.send_bytes(&body)
        };
        let response = match sent {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => {
                let denied = t
                    .source()
                    .and_then(|s| s.downcast_ref::<std::io::Error>())
                    .filter(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
                    .map(|e| e.to_string());
                return Err(match denied {
                    Some(why) => Refused::Denied(why),
                    None => Refused::Failed(format!("{}: {t}", url.as_str())),
                });
            }
        };
        if (300..400).contains(&response.status())
            && let Some(location) = response.header("location")
        {
            url = url
                .join(location)
                .map_err(|e| Refused::Failed(format!("bad redirect to '{location}': {e}")))?;
            if response.status() == 303 || (response.status() != 307 && response.status() != 308) {
                method = if method == "HEAD" {
                    method
                } else {
                    "GET".into()
                };
                body.clear();
            }
            // Credentials go to the origin the app named, not wherever it
            // redirects.
            if url.origin() != origin {
                headers.retain(|(n, _)| {
                    !["authorization", "cookie", "proxy-authorization"]
                        .iter()
                        .any(|c| n.eq_ignore_ascii_case(c))
                });
            }
            continue;
        }
        return read(response, policy.max_response_bytes);
    }
    Err(Refused::Failed(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

fn read(response: ureq::Response, max: usize) -> Result<Response, Refused> {
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .take(MAX_HEADERS)
        .filter_map(|n| {
            let v = response
                .header(&n)?
                .chars()
                .take(MAX_HEADER_BYTES)
                .collect();
            Some((n, v))
        })
        .collect();
    let mut body = Vec::new();
    response
        .into_reader()
        .take(max as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| Refused::Failed(format!("reading the response: {e}")))?;
    if body.len() > max {
        return Err(Refused::TooLarge(format!(
            "the response body is over the limit of {max} bytes"
        )));
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_and_match() {
        let p = |s: &str| HostPattern::parse(s).unwrap();
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(p("https://api.github.com").matches(&u("https://api.github.com/repos")));
        assert!(!p("https://api.github.com").matches(&u("http://api.github.com/")));
        assert!(!p("https://api.github.com").matches(&u("https://api.github.com:8443/")));
        assert!(p("https://*.example.org").matches(&u("https://a.b.example.org/x")));
        assert!(!p("https://*.example.org").matches(&u("https://example.org/")));
        assert!(!p("https://*.example.org").matches(&u("https://evilexample.org/")));
        assert!(p("http://127.0.0.1:*").matches(&u("http://127.0.0.1:9999/")));
        assert!(p("http://127.0.0.1:8080").matches(&u("http://127.0.0.1:8080/")));
        assert!(p("http://[::1]").matches(&u("http://[::1]/")));
        assert!(p("http://[::1]:8080").matches(&u("http://[::1]:8080/")));
        for bad in [
            "api.github.com",
            "ftp://x",
            "https://x/path",
            "https://a*b",
            "https://x:99999",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "fd00:ec2::254",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "192.0.1.1",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }
}
