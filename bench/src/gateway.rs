//! The gateway protocols' side of the bench: what a proxy sends (an Envoy `CheckRequest`, a
//! forward-auth `GET`) and the floor's canned allow in each protocol, shaped like gatekey's
//! answer for the cached key of `cached-key` so that encoding costs the same on both sides.

use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, OkHttpResponse};
use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, address, socket_address};
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, attribute_context};
use gatekey::grpc::ext_authz;
use std::collections::HashMap;

/// The route the proxy is authorizing, and where it says it listens.
const ROUTE: &str = "/api/x";
const PROXY_AUTHORITY: &str = "127.0.0.1:10000";

/// The identity gatekey reports for the bench key (the floor's Verify principal), in the
/// order gatekey sets the `X-Gatekey-*` headers.
const IDENTITY: [(&str, &str); 8] = [
    ("x-gatekey-org", "019a4f3c-6e90-7b11-8f0a-1a2b3c4d5e6f"),
    ("x-gatekey-principal", "019a4f3c-6f1e-7c3a-9d2b-5b8e0c1d2e3f"),
    ("x-gatekey-principal-type", "service_account"),
    ("x-gatekey-role", "operator"),
    ("x-gatekey-scopes", "cameras.read leads.write"),
    ("x-gatekey-key-id", "019a4f3c-7001-7d4e-a1b2-c3d4e5f60718"),
    ("x-gatekey-key-prefix", "sk_live_"),
    ("x-gatekey-environment", "live"),
];

/// The dynamic metadata fields gatekey files for later Envoy filters.
const METADATA: [(&str, &str); 6] = [
    ("org_id", "019a4f3c-6e90-7b11-8f0a-1a2b3c4d5e6f"),
    ("principal", "019a4f3c-6f1e-7c3a-9d2b-5b8e0c1d2e3f"),
    ("principal_type", "service_account"),
    ("role", "operator"),
    ("key_id", "019a4f3c-7001-7d4e-a1b2-c3d4e5f60718"),
    ("environment", "live"),
];

/// The client-facing rate-limit fields under the bench's 10M/s org limit.
const RATE_LIMIT: [(&str, &str); 2] = [
    ("ratelimit-policy", "\"org\";q=10000000;w=1"),
    ("ratelimit", "\"org\";r=9999999;t=1"),
];

/// What Envoy's ext_authz filter sends for `GET /api/x` from `client_ip` carrying `key`
/// in `x-api-key`, on a route that requires `scopes`: the headers Envoy adds itself
/// included, since gatekey reads (and scans) the header map.
pub fn check_request(key: &str, client_ip: &str, scopes: &str) -> CheckRequest {
    let socket = |ip: &str, port: u32| {
        Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: ip.to_owned(),
                port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
                ..Default::default()
            })),
        })
    };
    let headers: HashMap<String, String> = [
        (":authority", PROXY_AUTHORITY),
        (":method", "GET"),
        (":path", ROUTE),
        (":scheme", "http"),
        ("user-agent", "wrk"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "5f0c1e9a-3b7d-4c2e-9a61-0d8f2b4c6e10"),
        ("x-api-key", key),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(attribute_context::Peer {
                address: socket(client_ip, 54_321),
                ..Default::default()
            }),
            destination: Some(attribute_context::Peer {
                address: socket("127.0.0.1", 10_000),
                ..Default::default()
            }),
            request: Some(attribute_context::Request {
                http: Some(attribute_context::HttpRequest {
                    id: "12345678901234567890".to_owned(),
                    method: "GET".to_owned(),
                    headers,
                    path: ROUTE.to_owned(),
                    host: PROXY_AUTHORITY.to_owned(),
                    scheme: "http".to_owned(),
                    protocol: "HTTP/1.1".to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            context_extensions: HashMap::from([
                ("scopes".to_owned(), scopes.to_owned()),
                ("cost".to_owned(), "1".to_owned()),
            ]),
            ..Default::default()
        }),
    }
}

/// The headers a forward-auth proxy (Traefik, Caddy) sends for the same request.
pub fn forward_auth_headers(key: &str, client_ip: &str, scopes: &str) -> Vec<(&'static str, String)> {
    vec![
        ("host", PROXY_AUTHORITY.to_owned()),
        ("x-api-key", key.to_owned()),
        ("x-forwarded-method", "GET".to_owned()),
        ("x-forwarded-proto", "http".to_owned()),
        ("x-forwarded-host", PROXY_AUTHORITY.to_owned()),
        ("x-forwarded-uri", ROUTE.to_owned()),
        ("x-forwarded-for", client_ip.to_owned()),
        ("x-gatekey-require-scopes", scopes.to_owned()),
    ]
}

/// gatekey's allow for the bench key, as ext_authz: status OK, the identity headers
/// (overwrite, kept when empty), the rate-limit fields for the client (appended), and the
/// metadata. `headers_to_remove` is empty, as gatekey's is for a request carrying no
/// `x-gatekey-*` header with `hide_credentials` off.
pub fn canned_check_response() -> CheckResponse {
    let metadata = ext_authz::metadata(&METADATA);
    let ok = OkHttpResponse {
        headers: IDENTITY.iter().map(|(k, v)| ext_authz::header(k, v)).collect(),
        response_headers_to_add: RATE_LIMIT
            .iter()
            .map(|(k, v)| ext_authz::appended_header(k, v))
            .collect(),
        ..Default::default()
    };
    ext_authz::allow(ok, metadata)
}

/// gatekey's forward-auth allow for the bench key: 200, empty body, these headers.
pub fn canned_forward_auth_headers() -> impl Iterator<Item = (&'static str, &'static str)> {
    IDENTITY
        .into_iter()
        .chain(RATE_LIMIT)
        .chain([("cache-control", "no-store")])
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatekey::gateway::identity::IDENTITY_HEADERS;

    #[test]
    fn the_canned_identity_carries_every_header_gatekey_sets_in_its_order() {
        let names: Vec<&str> = IDENTITY.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, IDENTITY_HEADERS);
    }
}
