//! `envoy.service.auth.v3.Authorization/Check`: Envoy's ext_authz on the gateway model.
//! A deny is an `OK` gRPC answer carrying a denied HTTP response; only "cannot answer" is a
//! gRPC error (`UNAVAILABLE`), so Envoy's own `failure_mode_allow` / `status_on_error` apply.

use crate::domain::credential::Authorization as AuthorizationValue;
use crate::gateway::identity::{IDENTITY_HEADERS, is_reserved};
use crate::gateway::request::{API_KEY, AUTHORIZATION};
use crate::gateway::{Answer, Gateway, GatewayRequest, GatewaySettings};
use crate::telemetry::latency::{self, Outcome, Transport};
use envoy_types::ext_authz::v3::pb::{
    Authorization, CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction, HeaderValue, HeaderValueOption,
    HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use envoy_types::pb::google::rpc;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tonic::{Request, Response, Status};

/// The namespace Envoy files our dynamic metadata under (the filter's canonical name).
pub const METADATA_NAMESPACE: &str = "envoy.filters.http.ext_authz";

/// The ext_authz service.
pub struct ExtAuthzApi {
    gateway: Arc<Gateway>,
}

impl ExtAuthzApi {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }
}

#[tonic::async_trait]
impl Authorization for ExtAuthzApi {
    async fn check(&self, request: Request<CheckRequest>) -> Result<Response<CheckResponse>, Status> {
        let started = Instant::now();
        let check = request.into_inner();
        let attrs = check.attributes.unwrap_or_default();
        let http = attrs.request.and_then(|r| r.http).unwrap_or_default();
        let client_ip = attrs
            .source
            .and_then(|peer| peer.address)
            .and_then(|a| match a.address {
                Some(envoy_types::pb::envoy::config::core::v3::address::Address::SocketAddress(s)) => {
                    s.address.parse::<IpAddr>().ok()
                }
                _ => None,
            })
            .map(crate::gateway::config::canonical);
        let ext = &attrs.context_extensions;
        let req = GatewayRequest {
            authorization: http.headers.get(AUTHORIZATION).map(String::as_str),
            api_key: http.headers.get(API_KEY).map(String::as_str),
            method: &http.method,
            uri: Some(&http.path),
            route_scopes: ext.get("scopes").map(String::as_str),
            route_cost: ext.get("cost").map(String::as_str),
            client_ip,
            // Envoy joins repeated headers with commas, which no credential contains.
            repeated_credential: false,
        };
        let answer = self.gateway.check(&req).await;
        latency::observe(Transport::ExtAuthz, Outcome::of(&answer), started.elapsed());
        if answer.is_unavailable() {
            return Err(Status::unavailable("the authorization service cannot answer right now"));
        }
        Ok(Response::new(response(&answer, &http.headers, &self.gateway.settings)))
    }
}

fn response(answer: &Answer, client_headers: &HashMap<String, String>, settings: &GatewaySettings) -> CheckResponse {
    let Some(identity) = answer.identity.as_ref().filter(|_| answer.allowed()) else {
        return denied(answer);
    };
    // Identity headers overwrite a client's copy; every other header in our namespace, and
    // the credential when asked, is removed.
    let headers = identity.headers().iter().map(|(k, v)| header(k, v)).collect();
    let mut headers_to_remove: Vec<String> = client_headers
        .keys()
        .filter(|k| is_reserved(k) && !IDENTITY_HEADERS.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut query_parameters_to_remove = Vec::new();
    if settings.hide_credentials {
        // Only where the credential was: an `Authorization: Basic` is the upstream's own.
        let bearer = client_headers
            .get(AUTHORIZATION)
            .is_some_and(|v| AuthorizationValue::parse(v).token().is_some());
        headers_to_remove.extend(bearer.then(|| AUTHORIZATION.to_owned()));
        headers_to_remove.extend(client_headers.contains_key(API_KEY).then(|| API_KEY.to_owned()));
        query_parameters_to_remove.extend(settings.query_credential.clone());
    }
    let ok = OkHttpResponse {
        headers,
        headers_to_remove,
        query_parameters_to_remove,
        // Appended: the rate-limit filter or the upstream may state policies of their own,
        // and RateLimit fields are lists.
        response_headers_to_add: answer
            .client_headers
            .iter()
            .map(|(k, v)| appended_header(k, v))
            .collect(),
        ..Default::default()
    };
    allow(ok, metadata(&identity.metadata()))
}

/// An allow carrying `ok` and `metadata`. The metadata goes in both places:
/// `CheckResponse.dynamic_metadata` is the current field, and the deprecated
/// `OkHttpResponse.dynamic_metadata`, which overrides it when set, is still what older Envoys
/// and tools read. The two are equal, so either reading agrees.
pub fn allow(mut ok: OkHttpResponse, metadata: Struct) -> CheckResponse {
    #[allow(deprecated, reason = "see above: the same metadata for readers of the old field")]
    {
        ok.dynamic_metadata = Some(metadata.clone());
    }
    CheckResponse {
        status: Some(rpc::Status {
            code: tonic::Code::Ok as i32,
            ..Default::default()
        }),
        dynamic_metadata: Some(metadata),
        http_response: Some(HttpResponse::OkResponse(ok)),
    }
}

fn denied(answer: &Answer) -> CheckResponse {
    let code = match answer.status {
        401 => tonic::Code::Unauthenticated,
        429 => tonic::Code::ResourceExhausted,
        _ => tonic::Code::PermissionDenied,
    };
    let mut headers: Vec<HeaderValueOption> = answer.client_headers.iter().map(|(k, v)| header(k, v)).collect();
    headers.push(header("content-type", "application/json"));
    CheckResponse {
        status: Some(rpc::Status {
            code: code as i32,
            ..Default::default()
        }),
        dynamic_metadata: None,
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(answer.status),
            }),
            headers,
            body: answer.body.clone().unwrap_or_default(),
        })),
    }
}

/// A header that replaces any existing one, kept even when empty (an identity header that
/// does not apply is still set, so no client value survives).
pub fn header(key: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_owned(),
            value: value.to_owned(),
            ..Default::default()
        }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        keep_empty_value: true,
        ..Default::default()
    }
}

/// A header appended to any of the same name (the RateLimit fields are lists).
pub fn appended_header(key: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        append_action: HeaderAppendAction::AppendIfExistsOrAdd as i32,
        ..header(key, value)
    }
}

/// Dynamic metadata of string fields.
pub fn metadata(fields: &[(&str, &str)]) -> Struct {
    Struct {
        fields: fields
            .iter()
            .map(|(k, v)| {
                let value = Value {
                    kind: Some(Kind::StringValue((*v).to_owned())),
                };
                ((*k).to_owned(), value)
            })
            .collect(),
    }
}
