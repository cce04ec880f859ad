//! The reference web client (`web/dist`), embedded in the binary and served with strict
//! security headers.
//!
//! The bundle is built by `npm run build` in `web/` and committed, so the relay needs no
//! Node step: `include_bytes!` puts the exact committed bytes in the binary. The HTML pages
//! carry Subresource Integrity hashes of the scripts and the stylesheet, and every response
//! sends a Content-Security-Policy that allows nothing but this origin — no inline script or
//! style, no third-party request, no framing, no form posts.
//!
//! Wiring is one line in the relay's router: `.merge(web_assets::router())`.

use axum::Router;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The policy every web response carries; the pages need nothing else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file: its path, media type and bytes.
struct Asset {
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX_HTML: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../../web/dist/index.html"),
};
const PEER_HTML: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../../web/dist/peer.html"),
};
const APP_JS: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    body: include_bytes!("../../../web/dist/app.js"),
};
const PEER_JS: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    body: include_bytes!("../../../web/dist/peer.js"),
};
const STYLE_CSS: Asset = Asset {
    content_type: "text/css; charset=utf-8",
    body: include_bytes!("../../../web/dist/style.css"),
};

/// Headers on every web response. `no-store` keeps the visit out of the browser's cache: the
/// seeker page promises to leave nothing on the device.
const SECURITY_HEADERS: [(HeaderName, &str); 8] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CACHE_CONTROL, "no-store"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
    (
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    ),
    (
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=()",
    ),
];

fn serve(asset: &'static Asset) -> Response {
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Routes for the seeker page (`/`, `/index.html`), the peer console (`/peer.html`) and
/// their bundle. Generic over the state so it merges into any router of the relay.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/", get(|| async { serve(&INDEX_HTML) }))
        .route("/index.html", get(|| async { serve(&INDEX_HTML) }))
        .route("/peer.html", get(|| async { serve(&PEER_HTML) }))
        .route("/app.js", get(|| async { serve(&APP_JS) }))
        .route("/peer.js", get(|| async { serve(&PEER_JS) }))
        .route("/style.css", get(|| async { serve(&STYLE_CSS) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_reference_their_bundle_with_integrity() {
        let index = std::str::from_utf8(INDEX_HTML.body).unwrap();
        assert!(index.contains("src=\"app.js\" integrity=\"sha384-"));
        assert!(index.contains("href=\"style.css\" integrity=\"sha384-"));
        let peer = std::str::from_utf8(PEER_HTML.body).unwrap();
        assert!(peer.contains("src=\"peer.js\" integrity=\"sha384-"));
        assert!(!index.contains("<script>") && !index.contains("style=\""));
    }

    #[test]
    fn every_response_carries_the_policy() {
        let response = serve(&APP_JS);
        let headers = response.headers();
        assert_eq!(
            headers.get(header::CONTENT_SECURITY_POLICY).unwrap(),
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(headers.get(header::REFERRER_POLICY).unwrap(), "no-referrer");
        assert_eq!(
            headers.get(header::CONTENT_TYPE).unwrap(),
            "text/javascript; charset=utf-8"
        );
    }
}
