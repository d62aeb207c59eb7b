//! HTTP forward-auth (`auth_request` in nginx, `forward_auth` in Caddy, `ForwardAuth` in
//! Traefik) on the gateway model. The proxy sends the original request's headers plus
//! `X-Forwarded-*` (or nginx's `X-Original-*`) and its per-route `X-Gatekey-Require-Scopes` /
//! `X-Gatekey-Cost`; a 2xx lets the request through with our headers copied onto it.

use super::HttpState;
use crate::gateway::request::{API_KEY, AUTHORIZATION, forwarded_client};
use crate::gateway::{Answer, GatewayRequest};
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
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
    uri: Uri,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let flavor = if uri.path() == NGINX_PATH {
        Flavor::Nginx
    } else {
        Flavor::Standard
    };
    handle(&state, peer, &method, &headers, flavor).await
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
    let forwarded_for = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .collect::<Vec<_>>()
        .join(",");
    let req = GatewayRequest {
        authorization: get(AUTHORIZATION),
        api_key: get(API_KEY),
        method: original_method.as_deref().unwrap_or(method.as_str()),
        uri: uri.as_deref(),
        route_scopes: get("x-gatekey-require-scopes"),
        route_cost: get("x-gatekey-cost"),
        client_ip: Some(forwarded_client(
            peer.ip(),
            Some(forwarded_for.as_str()).filter(|s| !s.is_empty()),
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
