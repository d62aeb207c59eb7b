//! HTTP forward-auth (`auth_request` in nginx, `forward_auth` in Caddy, `ForwardAuth` in
//! Traefik) on the gateway model. The proxy sends the original request's headers plus
//! `X-Forwarded-*` (or nginx's `X-Original-*`) and its per-route `X-Gatekey-Require-Scopes` /
//! `X-Gatekey-Cost`; a 2xx lets the request through with our headers copied onto it.

use super::HttpState;
use crate::gateway::identity::IDENTITY_HEADERS;
use crate::gateway::request::{API_KEY, AUTHORIZATION, forwarded_client};
use crate::gateway::{Answer, GatewayRequest};
use crate::telemetry::latency::{self, Outcome, Transport};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::any;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Instant;
use tracing::Instrument;

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
    let span = crate::telemetry::otel::http_span(request.uri().path(), request.headers());
    handle(&state, peer, request.method(), request.headers(), flavor)
        .instrument(span)
        .await
}

/// The request headers forward-auth reads, found in one pass over the map (a lookup per
/// name would hash each name again).
#[derive(Default)]
struct Forwarded<'a> {
    authorization: Option<&'a HeaderValue>,
    api_key: Option<&'a HeaderValue>,
    repeated_credential: bool,
    method: Option<&'a HeaderValue>,
    original_method: Option<&'a HeaderValue>,
    uri: Option<&'a HeaderValue>,
    original_uri: Option<&'a HeaderValue>,
    forwarded_for: Vec<&'a HeaderValue>,
    real_ip: Option<&'a HeaderValue>,
    scopes: Option<&'a HeaderValue>,
    cost: Option<&'a HeaderValue>,
}

impl<'a> Forwarded<'a> {
    fn read(headers: &'a HeaderMap) -> Self {
        let mut f = Self::default();
        for (name, value) in headers {
            let slot = match name.as_str() {
                AUTHORIZATION => &mut f.authorization,
                API_KEY => &mut f.api_key,
                "x-forwarded-method" => &mut f.method,
                "x-original-method" => &mut f.original_method,
                "x-forwarded-uri" => &mut f.uri,
                "x-original-uri" => &mut f.original_uri,
                "x-real-ip" => &mut f.real_ip,
                "x-gatekey-require-scopes" => &mut f.scopes,
                "x-gatekey-cost" => &mut f.cost,
                "x-forwarded-for" => {
                    // Every line, in order: a proxy may append its own.
                    f.forwarded_for.push(value);
                    continue;
                }
                _ => continue,
            };
            // A repeated credential header: which copy the upstream reads is unknown. For
            // the other headers the first copy counts.
            if slot.is_some() && matches!(name.as_str(), AUTHORIZATION | API_KEY) {
                f.repeated_credential = true;
            }
            slot.get_or_insert(value);
        }
        f
    }
}

fn text(v: Option<&HeaderValue>) -> Option<&str> {
    v.and_then(|v| v.to_str().ok())
}

/// A URI with bytes a proxy passed through but that are no UTF-8 must still be matched
/// against the route table, never read as absent.
fn lossy(v: Option<&HeaderValue>) -> Option<Cow<'_, str>> {
    v.map(|v| String::from_utf8_lossy(v.as_bytes()))
}

async fn handle(state: &HttpState, peer: SocketAddr, method: &Method, headers: &HeaderMap, flavor: Flavor) -> Response {
    let started = Instant::now();
    let f = Forwarded::read(headers);
    let original_method = lossy(f.method.or(f.original_method));
    let uri = lossy(f.uri.or(f.original_uri));
    let forwarded_for: Option<Cow<'_, str>> = match f.forwarded_for.as_slice() {
        [] => None,
        [one] => lossy(Some(one)),
        many => Some(
            many.iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()))
                .collect::<Vec<_>>()
                .join(",")
                .into(),
        ),
    };
    let req = GatewayRequest {
        authorization: text(f.authorization),
        api_key: text(f.api_key),
        method: original_method.as_deref().unwrap_or(method.as_str()),
        uri: uri.as_deref(),
        route_scopes: text(f.scopes),
        route_cost: text(f.cost),
        client_ip: Some(forwarded_client(
            peer.ip(),
            forwarded_for.as_deref(),
            text(f.real_ip),
            &state.gateway.settings.trusted_proxies,
        )),
        repeated_credential: f.repeated_credential,
    };
    let answer = state.gateway.check(&req).await;
    let outcome = Outcome::of(&answer);
    latency::observe(Transport::ForwardAuth, outcome, started.elapsed());
    crate::telemetry::otel::record_outcome(outcome);
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
    // Built in place: the map moves into the response instead of being copied into it.
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

const ERROR_BODY: HeaderName = HeaderName::from_static(ERROR_BODY_HEADER);
