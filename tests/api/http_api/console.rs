//! The console's cookie session: HttpOnly SameSite=Strict cookies, CSRF on every change.

use super::code;
use crate::support::app::{Backend, PASSWORD, Spawn, TestApp, spawn_app};
use crate::support::pki::ServerPki;
use reqwest::{Client, Method, Response};
use serde_json::{Value, json};

/// The `Set-Cookie` lines of a response.
fn set_cookies(r: &Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_value(lines: &[String], name: &str) -> String {
    let line = lines.iter().find(|l| l.starts_with(&format!("{name}="))).unwrap();
    line.split(';').next().unwrap()[name.len() + 1..].to_owned()
}

async fn console_login(app: &TestApp, client: &Client, email: &str) -> (Vec<String>, Value) {
    let r = client
        .post(format!("{}/console/session", app.http_addr))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookies = set_cookies(&r);
    (cookies, r.json().await.unwrap())
}

/// A request carrying both cookies (what the browser sends to /console/session).
fn with_cookies(client: &Client, method: Method, url: String, cookies: &[String]) -> reqwest::RequestBuilder {
    let header = format!(
        "gatekey_session={}; gatekey_refresh={}",
        cookie_value(cookies, "gatekey_session"),
        cookie_value(cookies, "gatekey_refresh")
    );
    client.request(method, url).header("cookie", header)
}

#[tokio::test]
async fn a_cookie_session_changes_state_only_with_its_csrf_token() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let client = Client::new();
    let (cookies, session) = console_login(&app, &client, &org.owner_email).await;
    let session_line = cookies.iter().find(|l| l.starts_with("gatekey_session=")).unwrap();
    let refresh_line = cookies.iter().find(|l| l.starts_with("gatekey_refresh=")).unwrap();
    for line in [session_line, refresh_line] {
        assert!(line.contains("HttpOnly") && line.contains("SameSite=Strict"), "{line}");
        assert!(!line.contains("Secure"), "plain http: {line}");
    }
    assert!(session_line.contains("Path=/;"));
    assert!(refresh_line.contains("Path=/console/session"));
    assert_eq!(session["user"]["email"], org.owner_email.as_str());
    assert_eq!(session["user"]["role"], "owner");
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();

    // A reloaded page recovers the token.
    let r = with_cookies(
        &client,
        Method::GET,
        format!("{}/console/session", app.http_addr),
        &cookies,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["csrf_token"], csrf.as_str());
    let r = client
        .get(format!("{}/console/session", app.http_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Reads need no token; changes do.
    let url = format!("{}/v1/service-accounts", app.http_addr);
    let r = with_cookies(&client, Method::GET, url.clone(), &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = json!({"name": "billing", "role": "member"});
    let r = with_cookies(&client, Method::POST, url.clone(), &cookies)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(code(&r.json::<Value>().await.unwrap()), "CSRF_TOKEN_INVALID");
    let r = with_cookies(&client, Method::POST, url.clone(), &cookies)
        .header("x-csrf-token", "forged")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = with_cookies(&client, Method::POST, url, &cookies)
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

/// Login, refresh, logout and Verify take their credential in the body: a browser that also
/// holds a console session (or a stale cookie) is not asked for a CSRF token there, and the
/// cookie does not stand in for the body's credential.
#[tokio::test]
async fn routes_that_take_no_session_ignore_the_console_cookie() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app
        .service_account(&org.owner_token, "ops", gatekey::proto::v1::Role::Member)
        .await;
    let key = app.issue(&org.owner_token, &sa, &[]).await.secret;
    let client = Client::new();
    let (cookies, _) = console_login(&app, &client, &org.owner_email).await;
    let post = |path: &str, body: Value| {
        with_cookies(&client, Method::POST, format!("{}{path}", app.http_addr), &cookies).json(&body)
    };

    let r = post("/v1/verify", json!({"credential": key})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["reason"], "OK");
    let r = post("/v1/verify", json!({})).send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (&body["allowed"], &body["reason"]),
        (&json!(false), &json!("MISSING_CREDENTIAL")),
        "the cookie is not Verify's credential: {body}"
    );

    let r = post(
        "/v1/auth/login",
        json!({"email": org.owner_email, "password": PASSWORD}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let r = post("/v1/auth/refresh", json!({"refresh_token": tokens["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let r = post("/v1/auth/logout", json!({"refresh_token": rotated["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // A change still needs the CSRF token.
    let r = post("/v1/service-accounts", json!({"name": "x", "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(code(&r.json::<Value>().await.unwrap()), "CSRF_TOKEN_INVALID");
}

/// The session cookie carries only a session: an API key planted in it (by a sibling site that
/// can set cookies for the domain) would otherwise pass as a Bearer credential needing no CSRF
/// token, since API keys have no session to derive one from.
#[tokio::test]
async fn a_session_cookie_holding_anything_but_a_session_token_is_refused() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let sa = app
        .service_account(&org.owner_token, "ops", gatekey::proto::v1::Role::Admin)
        .await;
    let key = app.issue(&org.owner_token, &sa, &[]).await.secret;
    let client = Client::new();
    let url = format!("{}/v1/service-accounts", app.http_addr);
    for cookie in [key.as_str(), "not-a-token"] {
        let r = client
            .post(&url)
            .header("cookie", format!("gatekey_session={cookie}"))
            .json(&json!({"name": "planted", "role": "member"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "POST with cookie {}", &cookie[..4]);
        assert_eq!(code(&r.json::<Value>().await.unwrap()), "INVALID_CREDENTIAL");
        let r = client
            .get(&url)
            .header("cookie", format!("gatekey_session={cookie}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "GET with cookie {}", &cookie[..4]);
        assert_eq!(code(&r.json::<Value>().await.unwrap()), "INVALID_CREDENTIAL");
    }
    let listed = app
        .admin()
        .list_service_accounts(crate::support::app::authed(&org.owner_token, Default::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.service_accounts.len(), 1, "nothing was created");
}

#[tokio::test]
async fn refresh_rotates_the_cookies_and_logout_clears_them() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let client = Client::new();
    let (cookies, session) = console_login(&app, &client, &org.owner_email).await;
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    let refresh_url = format!("{}/console/session/refresh", app.http_addr);

    let r = with_cookies(&client, Method::POST, refresh_url.clone(), &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "refresh needs the CSRF token");
    let r = with_cookies(&client, Method::POST, refresh_url, &cookies)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rotated = set_cookies(&r);
    assert_ne!(
        cookie_value(&rotated, "gatekey_refresh"),
        cookie_value(&cookies, "gatekey_refresh")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["csrf_token"],
        csrf.as_str(),
        "stable across refreshes of one session"
    );

    let url = format!("{}/console/session", app.http_addr);
    let r = with_cookies(&client, Method::DELETE, url.clone(), &rotated)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let cleared = set_cookies(&r);
    assert_eq!(cookie_value(&cleared, "gatekey_session"), "");
    assert!(cleared.iter().all(|l| l.contains("Max-Age=0")));
    // The refresh token was revoked with the session.
    let r = client
        .post(format!("{}/v1/auth/refresh", app.http_addr))
        .json(&json!({"refresh_token": cookie_value(&rotated, "gatekey_refresh")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// A page reloaded after the access token expired: GET /console/session answers 401 with the
/// CSRF token of the (still signed) session in a header, and that token refreshes it.
#[tokio::test]
async fn an_expired_session_hands_a_reloaded_page_its_csrf_token_to_refresh_with() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let client = Client::new();
    let (cookies, session) = console_login(&app, &client, &org.owner_email).await;
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    let url = format!("{}/console/session", app.http_addr);
    let r = with_cookies(&client, Method::GET, url.clone(), &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("x-csrf-token").is_none(),
        "a live session answers in the body"
    );

    app.clock.advance(std::time::Duration::from_secs(3600 + 120));
    let r = with_cookies(&client, Method::GET, url.clone(), &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-csrf-token"].to_str().unwrap(), csrf);
    assert_eq!(code(&r.json::<Value>().await.unwrap()), "CREDENTIAL_EXPIRED");
    let r = with_cookies(&client, Method::POST, format!("{url}/refresh"), &cookies)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = with_cookies(&client, Method::GET, url.clone(), &set_cookies(&r))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Neither a missing nor a foreign cookie gets a token.
    let r = client.get(&url).send().await.unwrap();
    assert!(r.headers().get("x-csrf-token").is_none());
    let r = client
        .get(&url)
        .header("cookie", "gatekey_session=eyJhbGciOiJub25lIn0.e30.")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("x-csrf-token").is_none());
}

#[tokio::test]
async fn console_cookies_are_secure_on_a_tls_listener() {
    let pki = ServerPki::new();
    let mut spawn = Spawn::on(Backend::Sqlite).tls_client(pki.client_tls(None));
    for (key, value) in pki.settings(false) {
        spawn = spawn.set(key, value);
    }
    let app = spawn.start().await.unwrap();
    let org = app.org("acme").await;
    let ca = std::fs::read(&pki.ca_file).unwrap();
    let client = Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let (cookies, _) = console_login(&app, &client, &org.owner_email).await;
    assert_eq!(cookies.len(), 2);
    assert!(cookies.iter().all(|l| l.contains("; Secure")), "{cookies:?}");
}
