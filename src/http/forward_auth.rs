//! HTTP forward-auth (`auth_request` in nginx, `forward_auth` in Caddy, `ForwardAuth` in
//! Traefik) on the gateway model. The proxy sends the original request's headers plus
//! `X-Forwarded-*` (or nginx's `X-Original-*`) and its per-route `X-Gatekey-Require-Scopes` /
//! `X-Gatekey-Cost`; a 2xx lets the request through with our headers copied onto it.

use super::HttpState;
use crate::gateway::identity::IDENTITY_HEADERS;
use crate::gateway::request::{API_KEY, AUTHORIZATION, forwarded_client};
use crate::gateway::{Answer, GatewayRequest};
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use std::net::SocketAddr;

/// nginx's `auth_request` passes only 2xx, 401 and 403 and drops the body, so its variant
/// answers 429 and 503 as 403 (the reason in `X-Gatekey-Reason`) and copies the JSON body
/// into this header, for `deploy/nginx/nginx.conf` to give the client the real answer.
pub const ERROR_BODY_HEADER: &str = "x-gatekey-error-body";

const STANDARD_PATH: &str = "/v1/forward-auth";
const NGINX_PATH: &str = "/v1/forward-auth/nginx";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Standard,
    Nginx,
}

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route(STANDARD_PATH, any(forward))
        .route(NGINX_PATH, any(forward))
}

async fn forward(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    // The request by reference: its headers are read, never copied.
    let flavor = if request.uri().path() == NGINX_PATH {
        Flavor::Nginx
    } else {
        Flavor::Standard
    };
    handle(&state, peer, request.method(), request.headers(), flavor).await
}

async fn handle(state: &HttpState, peer: SocketAddr, method: &Method, headers: &HeaderMap, flavor: Flavor) -> Response {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // A URI with bytes a proxy passed through but that are no UTF-8 must still be matched
    // against the route table, never read as absent; only an absent header falls back.
    let lossy = |name: &str| headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()));
    let repeated = |name: &str| headers.get_all(name).iter().nth(1).is_some();
    let settings = &state.gateway.settings;
    let original_method = lossy("x-forwarded-method").or_else(|| lossy("x-original-method"));
    let uri = lossy("x-forwarded-uri").or_else(|| lossy("x-original-uri"));
    // Every X-Forwarded-For line, in order: a proxy may append its own line.
    let mut lines = headers.get_all("x-forwarded-for").iter();
    let forwarded_for = match (lines.next(), lines.next()) {
        (None, _) => None,
        (Some(one), None) => Some(String::from_utf8_lossy(one.as_bytes())),
        (Some(_), Some(_)) => Some(
            headers
                .get_all("x-forwarded-for")
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()))
                .collect::<Vec<_>>()
                .join(",")
                .into(),
        ),
    };
    let req = GatewayRequest {
        authorization: get(AUTHORIZATION),
        api_key: get(API_KEY),
        method: original_method.as_deref().unwrap_or(method.as_str()),
        uri: uri.as_deref(),
        route_scopes: get("x-gatekey-require-scopes"),
        route_cost: get("x-gatekey-cost"),
        client_ip: Some(forwarded_client(
            peer.ip(),
            forwarded_for.as_deref(),
            get("x-real-ip"),
            &settings.trusted_proxies,
        )),
        repeated_credential: repeated(AUTHORIZATION) || repeated(API_KEY),
    };
    let answer = state.gateway.check(&req).await;
    to_response(answer, flavor)
}

/// The identity header names, built once.
const IDENTITY_NAMES: [HeaderName; 8] = [
    HeaderName::from_static(IDENTITY_HEADERS[0]),
    HeaderName::from_static(IDENTITY_HEADERS[1]),
    HeaderName::from_static(IDENTITY_HEADERS[2]),
    HeaderName::from_static(IDENTITY_HEADERS[3]),
    HeaderName::from_static(IDENTITY_HEADERS[4]),
    HeaderName::from_static(IDENTITY_HEADERS[5]),
    HeaderName::from_static(IDENTITY_HEADERS[6]),
    HeaderName::from_static(IDENTITY_HEADERS[7]),
];

/// A name of the answer's client headers; the ones every answer carries are built once.
fn client_header(name: &'static str) -> Option<HeaderName> {
    const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
    const STATE: HeaderName = HeaderName::from_static("ratelimit");
    match name {
        "ratelimit-policy" => Some(POLICY),
        "ratelimit" => Some(STATE),
        other => HeaderName::try_from(other).ok(),
    }
}

fn to_response(answer: Answer, flavor: Flavor) -> Response {
    let mut status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if flavor == Flavor::Nginx && matches!(answer.status, 429 | 503) {
        status = StatusCode::FORBIDDEN;
    }
    let mut headers = HeaderMap::with_capacity(16);
    if let Some(identity) = &answer.identity {
        for (name, value) in IDENTITY_NAMES.into_iter().zip(identity.header_values.iter()) {
            headers.insert(name, value.clone());
        }
    }
    for (name, value) in answer.client_headers {
        if let (Some(n), Ok(v)) = (client_header(name), HeaderValue::try_from(value)) {
            headers.insert(n, v);
        }
    }
    let body = answer.body.unwrap_or_default();
    if !body.is_empty() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if flavor == Flavor::Nginx
            && let Ok(v) = HeaderValue::try_from(body.as_str())
        {
            headers.insert(ERROR_BODY, v);
        }
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    (status, headers, body).into_response()
}

const ERROR_BODY: HeaderName = HeaderName::from_static(ERROR_BODY_HEADER);
