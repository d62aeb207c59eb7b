//! The HTTP/JSON admin API: the same calls as gRPC, with JSON errors; the console's cookie
//! session with its CSRF rule; validation; the OpenAPI document.

mod console;
mod openapi;
mod routes;
mod validation;

use crate::support::app::{PASSWORD, TestApp};
use reqwest::{Client, Method, Response};
use serde_json::{Value, json};

/// A JSON call with an optional bearer credential.
async fn call(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
    let mut req = Client::new().request(method, format!("{}{path}", app.http_addr));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.expect("http call")
}

/// Status and JSON body (Null for an empty body).
async fn answer(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers().get("cache-control").map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body)
}

async fn json_call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    answer(call(app, method, path, token, body).await).await
}

/// A service-account creation whose body is sent as written, under `content_type`.
async fn post_raw(app: &TestApp, token: &str, content_type: &str, raw: &str) -> (u16, Value) {
    let response = Client::new()
        .post(format!("{}/v1/service-accounts", app.http_addr))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(raw.to_owned())
        .send()
        .await
        .expect("http call");
    answer(response).await
}

/// The error code of a JSON error body.
fn code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

/// Logs `email` in over HTTP and returns the access token.
async fn login(app: &TestApp, email: &str) -> Value {
    let (status, body) = json_call(
        app,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}
