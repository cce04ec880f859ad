//! What every HTTP answer of the relay carries, and which browser pages may open a WebSocket.
//!
//! The web client's pages set their own, stricter policy (`web_assets.rs`); everything else
//! — `/v1/programs`, 400/404/405 answers, the upgrade itself — gets the headers below, so no
//! response is framed, sniffed, cached or leaks a referrer. With TLS served by the relay
//! itself, `Strict-Transport-Security` too.
//!
//! Origin: a browser names the page that opens a WebSocket in `Origin`. A page on another
//! site must not open connections to the relay from a visitor's browser, so an upgrade is
//! accepted only without `Origin` (the CLI, apps, the SDK), from the host the request was
//! made to (the relay's own pages, also behind a proxy that keeps `Host`), or from an origin
//! the operator lists in `allowed_origins` (`proto/spec.md`, "Transport").

use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers every response gets unless the handler set them.
const DEFAULTS: [(HeaderName, &str); 6] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CACHE_CONTROL, "no-store"),
    (
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    ),
];

/// Two years, with subdomains: the value the HSTS preload list asks for.
const HSTS: &str = "max-age=63072000; includeSubDomains";

/// The relay's HTTP rules, fixed at start.
#[derive(Clone, Debug, Default)]
pub(crate) struct HttpPolicy {
    /// Extra origins allowed to open WebSockets, normalised (`scheme://host[:port]`).
    allowed_origins: Vec<String>,
    /// The relay serves TLS itself: send `Strict-Transport-Security`.
    hsts: bool,
}

impl HttpPolicy {
    /// The rules for `allowed_origins` (as configured) and whether the relay serves TLS.
    pub(crate) fn new(allowed_origins: &[String], serves_tls: bool) -> Self {
        Self {
            allowed_origins: allowed_origins.iter().map(|o| normalise(o)).collect(),
            hsts: serves_tls,
        }
    }

    /// Adds the default headers a response does not already carry.
    pub(crate) fn secure(&self, headers: &mut HeaderMap) {
        for (name, value) in DEFAULTS {
            if !headers.contains_key(&name) {
                headers.insert(name, HeaderValue::from_static(value));
            }
        }
        if self.hsts {
            headers.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            );
        }
    }

    /// Whether a WebSocket upgrade with these request headers may proceed.
    pub(crate) fn origin_allowed(&self, request: &HeaderMap) -> bool {
        let Some(origin) = request.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = normalise(origin);
        if self.allowed_origins.contains(&origin) {
            return true;
        }
        let host = request
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .map(str::to_ascii_lowercase);
        match (origin.split_once("://"), host) {
            (Some((scheme, authority)), Some(host)) => {
                (scheme == "https" || scheme == "http") && authority == host
            }
            _ => false,
        }
    }
}

/// Lower-case, without a trailing slash: `https://Relay.Example.org/` → `https://relay.example.org`.
fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(origin) = origin {
            headers.insert(
                header::ORIGIN,
                HeaderValue::from_str(origin).unwrap_or_else(|_| HeaderValue::from_static("x")),
            );
        }
        headers.insert(
            header::HOST,
            HeaderValue::from_str(host).unwrap_or_else(|_| HeaderValue::from_static("x")),
        );
        headers
    }

    #[test]
    fn origins() {
        let policy = HttpPolicy::new(&["https://App.Example.org/".to_owned()], false);
        // No Origin: the CLI, apps.
        assert!(policy.origin_allowed(&request(None, "relay.example.org")));
        // The relay's own pages, with or without a port, behind TLS or not.
        assert!(policy.origin_allowed(&request(
            Some("https://relay.example.org"),
            "relay.example.org"
        )));
        assert!(policy.origin_allowed(&request(Some("http://127.0.0.1:8080"), "127.0.0.1:8080")));
        // Listed by the operator.
        assert!(policy.origin_allowed(&request(
            Some("https://app.example.org"),
            "relay.example.org"
        )));
        // Anyone else, an opaque origin, another port, a look-alike.
        assert!(
            !policy.origin_allowed(&request(Some("https://evil.example"), "relay.example.org"))
        );
        assert!(!policy.origin_allowed(&request(Some("null"), "relay.example.org")));
        assert!(!policy.origin_allowed(&request(Some("http://127.0.0.1:9999"), "127.0.0.1:8080")));
        assert!(!policy.origin_allowed(&request(
            Some("https://relay.example.org.evil.example"),
            "relay.example.org"
        )));
    }

    #[test]
    fn headers_are_added_but_never_override() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        HttpPolicy::new(&[], true).secure(&mut headers);
        assert_eq!(
            headers.get(header::CACHE_CONTROL).map(|v| v.as_bytes()),
            Some(&b"max-age=60"[..])
        );
        assert_eq!(
            headers
                .get(header::X_CONTENT_TYPE_OPTIONS)
                .map(|v| v.as_bytes()),
            Some(&b"nosniff"[..])
        );
        assert!(headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
        let mut plain = HeaderMap::new();
        HttpPolicy::new(&[], false).secure(&mut plain);
        assert!(!plain.contains_key(header::STRICT_TRANSPORT_SECURITY));
    }
}
