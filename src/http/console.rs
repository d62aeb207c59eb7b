//! The web console's static assets, embedded in the binary so `cargo run` serves it with no
//! Node.js and no files beside the executable. The console is plain HTML, CSS and ES modules
//! that call the JSON API (`/v1/...`) and the session endpoints (`/console/session`) with the
//! session cookie; every page and asset carries a strict Content-Security-Policy, so no inline
//! script or style can run even if some text were ever rendered as markup.

use super::HttpState;
use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// No inline script or style, nothing from another origin, not framable.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// One embedded file under `/console/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("console/", $name)),
        }
    };
}

const INDEX: Asset = asset!("index.html", HTML);

/// Every file the console loads; anything else under `/console/` is 404.
const ASSETS: &[Asset] = &[
    INDEX,
    asset!("app.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("app.js", JAVASCRIPT),
    asset!("api.js", JAVASCRIPT),
    asset!("dom.js", JAVASCRIPT),
    asset!("format.js", JAVASCRIPT),
    asset!("dialogs.js", JAVASCRIPT),
    asset!("login.js", JAVASCRIPT),
    asset!("keys.js", JAVASCRIPT),
    asset!("new_key.js", JAVASCRIPT),
    asset!("accounts.js", JAVASCRIPT),
    asset!("members.js", JAVASCRIPT),
    asset!("audit.js", JAVASCRIPT),
    asset!("settings.js", JAVASCRIPT),
];

/// `GET /console`, `/console/` (the page) and `/console/<asset>`. The session endpoints
/// (`/console/session`) are separate routes; as static segments they win over `{asset}`.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/{asset}", get(asset))
}

async fn index() -> Response {
    respond(StatusCode::OK, INDEX.content_type, INDEX.body)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(found) => respond(StatusCode::OK, found.content_type, found.body),
        None => respond(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", b"not found"),
    }
}

/// The body with the console's security headers. `no-cache` (revalidate, not "never store"):
/// the assets change with the binary and carry no version in their names.
fn respond(status: StatusCode, content_type: &'static str, body: &'static [u8]) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_are_unique_and_flat() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(!a.name.contains('/'), "{} is served under /console/ only", a.name);
            assert!(ASSETS[i + 1..].iter().all(|b| b.name != a.name), "{} twice", a.name);
        }
    }
}
