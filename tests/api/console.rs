//! The web console: its pages and modules are served with the strict security headers and
//! hold no inline script, inline style or HTML sink (always), and the whole key lifecycle
//! works in a real Chromium driven by `tests/console/console.spec.mjs` (with
//! `GATEKEY_TEST_BROWSER=1`, as CI sets it).

use crate::support::app::{PASSWORD, spawn_app};
use gatekey::proto::v1 as pb;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Written out rather than taken from the crate, so that weakening the policy fails here.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

struct Served {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn fetch(base: &str, path: &str) -> Served {
    let response = reqwest::get(format!("{base}{path}")).await.expect("GET");
    Served {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.expect("body"),
    }
}

fn header<'a>(served: &'a Served, name: &str) -> &'a str {
    served
        .headers
        .get(name)
        .map(|v| v.to_str().expect("ascii header"))
        .unwrap_or_default()
}

#[track_caller]
fn assert_security_headers(path: &str, served: &Served) {
    assert_eq!(header(served, "content-security-policy"), CSP, "{path}");
    assert_eq!(header(served, "x-content-type-options"), "nosniff", "{path}");
    assert_eq!(header(served, "referrer-policy"), "no-referrer", "{path}");
    assert_eq!(header(served, "x-frame-options"), "DENY", "{path}");
}

/// The values of `attr="/console/..."` and `from './x.js'` in `text`.
fn references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (marker, end) in [("src=\"/console/", '"'), ("href=\"/console/", '"'), ("from './", '\'')] {
        let mut rest = text;
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            let name = rest.split(end).next().unwrap_or_default();
            found.push(name.to_owned());
        }
    }
    found
}

/// Every asset reachable from the page: the page's own references, then the modules'
/// imports, transitively. Asserts each is served (200).
async fn crawl(base: &str) -> BTreeMap<String, Served> {
    let page = fetch(base, "/console").await;
    assert_eq!(page.status, 200);
    let mut todo = references(&page.body);
    let mut seen = BTreeMap::new();
    seen.insert("index.html".to_owned(), page);
    while let Some(name) = todo.pop() {
        if seen.contains_key(&name) {
            continue;
        }
        let served = fetch(base, &format!("/console/{name}")).await;
        assert_eq!(served.status, 200, "/console/{name} is referenced but not served");
        todo.extend(references(&served.body));
        seen.insert(name, served);
    }
    seen
}

#[tokio::test]
async fn console_page_is_served_with_a_strict_content_security_policy() {
    let app = spawn_app().await;
    for path in ["/console", "/console/", "/console/index.html"] {
        let served = fetch(&app.http_addr, path).await;
        assert_eq!(served.status, 200, "{path}");
        assert_security_headers(path, &served);
        assert_eq!(header(&served, "content-type"), "text/html; charset=utf-8", "{path}");
        assert_eq!(header(&served, "cache-control"), "no-cache", "{path}");
        assert!(
            served
                .body
                .contains(r#"<script type="module" src="/console/app.js"></script>"#),
            "{path} loads the console as a module"
        );
    }
}

#[tokio::test]
async fn every_console_asset_is_served_with_its_content_type_and_an_unknown_one_is_not_found() {
    let app = spawn_app().await;
    let assets = crawl(&app.http_addr).await;
    for module in [
        "app.js",
        "api.js",
        "keys.js",
        "new_key.js",
        "dialogs.js",
        "members.js",
        "audit.js",
    ] {
        assert!(assets.contains_key(module), "{module} is reachable from the page");
    }
    for (name, served) in &assets {
        assert_security_headers(name, served);
        assert_eq!(header(served, "cache-control"), "no-cache", "{name}");
        let want = match name.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            Some("html") => "text/html; charset=utf-8",
            other => panic!("{name}: unexpected extension {other:?}"),
        };
        assert_eq!(header(served, "content-type"), want, "{name}");
    }
    for unknown in ["/console/nope.js", "/console/..%2FCargo.toml", "/console/app.js.map"] {
        let served = fetch(&app.http_addr, unknown).await;
        assert_eq!(served.status, 404, "{unknown}");
        assert_eq!(header(&served, "x-content-type-options"), "nosniff", "{unknown}");
    }
}

/// XSS-safe by construction: text goes into the page as text, never as markup, and nothing
/// the CSP would block (and so nothing that silently breaks under it) is in the assets.
#[tokio::test]
async fn console_assets_hold_no_inline_script_inline_style_html_sink_or_web_storage() {
    let app = spawn_app().await;
    let forbidden = [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "localStorage.",
        "sessionStorage.",
        "style=",
        ".style.",
        "setAttribute('style'",
        "javascript:",
        "http://",
        "https://",
    ];
    for (name, served) in crawl(&app.http_addr).await {
        if name.ends_with(".svg") {
            continue;
        }
        for bad in forbidden {
            assert!(!served.body.contains(bad), "{name} contains {bad:?}");
        }
        if name.ends_with(".html") {
            let scripts = served.body.matches("<script").count();
            let external = served.body.matches("<script type=\"module\" src=\"/console/").count();
            assert_eq!(scripts, external, "{name}: every script is an external module");
            assert!(!served.body.contains("<style"), "{name}: no inline stylesheet");
        }
    }
}

/// The lifecycle in a real Chromium (see `tests/console/console.spec.mjs`): log in, create a
/// service account and a key, verify its one-time secret, rotate, disable, enable, revoke,
/// delete; members and audit pages; a member sees no write action.
#[tokio::test]
async fn console_drives_the_key_lifecycle_in_a_real_browser() {
    if std::env::var("GATEKEY_TEST_BROWSER").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set GATEKEY_TEST_BROWSER=1 to run the browser test (needs /usr/bin/chromium, \
             node and `npm ci --prefix tests/console`)"
        );
        return;
    }
    let app = spawn_app().await;
    let org = app.org("console").await;
    app.unlimited(&org.owner_token).await;
    let member_email = "member@console.test";
    app.member(&org.owner_token, member_email, pb::Role::Member).await;

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let screenshots = root.join("target/console-screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshot dir");
    let run = tokio::process::Command::new("node")
        .arg("tests/console/console.spec.mjs")
        .current_dir(&root)
        .env("GATEKEY_URL", &app.http_addr)
        .env("GATEKEY_OWNER_EMAIL", &org.owner_email)
        .env("GATEKEY_OWNER_PASSWORD", PASSWORD)
        .env("GATEKEY_MEMBER_EMAIL", member_email)
        .env("GATEKEY_MEMBER_PASSWORD", PASSWORD)
        .env("SCREENSHOT_DIR", &screenshots)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("the browser test finishes within 4 minutes")
        .expect("run node (is Node.js installed?)");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "tests/console/console.spec.mjs failed ({}); screenshots in {}",
        output.status,
        screenshots.display()
    );
}
