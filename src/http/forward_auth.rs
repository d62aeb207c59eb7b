//! HTTP forward-auth (`auth_request` in nginx, `forward_auth` in Caddy, `ForwardAuth` in
//! Traefik) on the gateway model. The proxy sends the original request's headers plus
//! `X-Forwarded-*` (or nginx's `X-Original-*`) and its per-route `X-Gatekey-Require-Scopes` /
//! `X-Gatekey-Cost`; a 2xx lets the request through with our headers copied onto it.

use super::HttpState;
use crate::gateway::request::{API_KEY, AUTHORIZATION, forwarded_client};
use crate::gateway::{Answer, GatewayRequest};
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use std::net::SocketAddr;

/// nginx's `auth_request` passes only 2xx, 401 and 403 and drops the body, so its variant
/// answers 429 and 503 as 403 (the reason in `X-Gatekey-Reason`) and copies the JSON body
/// into this header, for `deploy/nginx/nginx.conf` to give the client the real answer.
pub const ERROR_BODY_HEADER: &str = "x-gatekey-error-body";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Standard,
    Nginx,
}

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/v1/forward-auth", any(standard))
        .route("/v1/forward-auth/nginx", any(nginx))
}

async fn standard(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    handle(&state, peer, &method, &headers, Flavor::Standard).await
}

async fn nginx(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    handle(&state, peer, &method, &headers, Flavor::Nginx).await
}

async fn handle(state: &HttpState, peer: SocketAddr, method: &Method, headers: &HeaderMap, flavor: Flavor) -> Response {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let repeated = |name: &str| headers.get_all(name).iter().nth(1).is_some();
    let settings = &state.gateway.settings;
    let req = GatewayRequest {
        authorization: get(AUTHORIZATION),
        api_key: get(API_KEY),
        method: get("x-forwarded-method")
            .or_else(|| get("x-original-method"))
            .unwrap_or(method.as_str()),
        uri: get("x-forwarded-uri").or_else(|| get("x-original-uri")).unwrap_or("/"),
        route_scopes: get("x-gatekey-require-scopes"),
        route_cost: get("x-gatekey-cost"),
        client_ip: Some(forwarded_client(
            peer.ip(),
            get("x-forwarded-for"),
            get("x-real-ip"),
            &settings.trusted_proxies,
        )),
        repeated_credential: repeated(AUTHORIZATION) || repeated(API_KEY),
    };
    let answer = state.gateway.check(&req).await;
    to_response(&answer, flavor)
}

fn to_response(answer: &Answer, flavor: Flavor) -> Response {
    let mut status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if flavor == Flavor::Nginx && matches!(answer.status, 429 | 503) {
        status = StatusCode::FORBIDDEN;
    }
    let mut headers = HeaderMap::new();
    let mut put = |name: &str, value: &str| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(n, v);
        }
    };
    if let Some(identity) = &answer.identity {
        for (name, value) in identity.headers() {
            put(name, value);
        }
    }
    for (name, value) in &answer.client_headers {
        put(name, value);
    }
    let body = answer.body.clone().unwrap_or_default();
    if answer.body.is_some() {
        put(header::CONTENT_TYPE.as_str(), "application/json");
        if flavor == Flavor::Nginx {
            put(ERROR_BODY_HEADER, &body);
        }
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    (status, headers, body).into_response()
}
