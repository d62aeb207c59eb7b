//! Traces over OTLP: a call carrying a W3C `traceparent` continues that trace, admin calls
//! are always exported, Verify and forward-auth only when sampled. A collector stub on loopback
//! receives them.

use super::Server;
use crate::support::app::authed;
use gatekey::proto::v1 as pb;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::{Request, Response, Status};

/// Every span the stub received.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Serves OTLP/gRPC on a free loopback port; returns its endpoint.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        format!("http://{addr}")
    }

    async fn span_of_trace(&self, trace_id: &str) -> Span {
        for _ in 0..200 {
            if let Some(s) = self.spans.lock().unwrap().iter().find(|s| hex(&s.trace_id) == trace_id) {
                return s.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no span of trace {trace_id} reached the collector");
    }

    fn has_trace(&self, trace_id: &str) -> bool {
        self.spans.lock().unwrap().iter().any(|s| hex(&s.trace_id) == trace_id)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| match &v.value {
            Some(Value::StringValue(s)) => Some(s.clone()),
            Some(Value::IntValue(i)) => Some(i.to_string()),
            _ => None,
        })
}

fn with_traceparent<T>(mut request: Request<T>, trace_id: &str, sampled: bool) -> Request<T> {
    let flags = if sampled { "01" } else { "00" };
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-{flags}").parse().unwrap(),
    );
    request
}

fn verify_request() -> pb::VerifyRequest {
    pb::VerifyRequest {
        credential: "sk_live_made-up".into(),
        client_ip: "192.0.2.7".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_admin_call_with_a_traceparent_is_exported_in_that_trace_and_verify_only_when_sampled() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let server = Server::start(&[
        ("GATEKEY_OTLP_ENDPOINT", endpoint.as_str()),
        ("GATEKEY_TRACE_SAMPLE_RATIO", "0"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .await;
    let owner = server.owner().await;

    let unsampled_verify = "11111111111111111111111111111111";
    server
        .auth()
        .verify(with_traceparent(
            Request::new(verify_request()),
            unsampled_verify,
            false,
        ))
        .await
        .expect("verify");
    server
        .auth()
        .verify(verify_request())
        .await
        .expect("verify, no traceparent");
    let sampled_verify = "22222222222222222222222222222222";
    server
        .auth()
        .verify(with_traceparent(Request::new(verify_request()), sampled_verify, true))
        .await
        .expect("verify");
    // Before the admin call, whose span ends later: once that one is in, this one would be.
    let forward_auth_trace = "33333333333333333333333333333333";
    let answer = reqwest::Client::new()
        .get(format!("{}/v1/forward-auth", server.http))
        .header("traceparent", format!("00-{forward_auth_trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .expect("forward-auth answers");
    assert_eq!(answer.status(), 401);
    let admin_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    server
        .keys()
        .list_keys(with_traceparent(
            authed(&owner, pb::ListKeysRequest::default()),
            admin_trace,
            true,
        ))
        .await
        .expect("list keys");

    let admin = collector.span_of_trace(admin_trace).await;
    assert_eq!(admin.name, "gatekey.v1.KeyService/ListKeys");
    assert_eq!(
        hex(&admin.parent_span_id),
        "00f067aa0ba902b7",
        "the caller's span is the parent"
    );
    assert_eq!(attribute(&admin, "outcome").as_deref(), Some("OK"));
    assert!(attribute(&admin, "actor").is_some_and(|a| a.starts_with("user:")));

    let verify = collector.span_of_trace(sampled_verify).await;
    assert_eq!(verify.name, "gatekey.v1.AuthService/Verify");
    assert_eq!(attribute(&verify, "outcome").as_deref(), Some("invalid_credential"));

    // Exported in order of ending: the unsampled Verify ended before both of these.
    assert!(
        !collector.has_trace(unsampled_verify),
        "an unsampled caller's Verify is not traced"
    );
    assert!(
        !collector.has_trace(forward_auth_trace),
        "an end client's sampled flag, passed on by its proxy, does not make forward-auth traced"
    );
    let spans = collector.spans.lock().unwrap().clone();
    let verifies = spans.iter().filter(|s| s.name.ends_with("/Verify")).count();
    assert_eq!(verifies, 1, "with ratio 0, only the sampled caller's Verify is traced");
    for span in &spans {
        for a in &span.attributes {
            let text = format!("{:?}", a.value);
            assert!(
                !text.contains(&owner) && !text.contains("sk_live_"),
                "a credential in a span: {span:?}"
            );
        }
    }
}

#[tokio::test]
async fn forward_auth_is_sampled_by_the_ratio_and_continues_only_a_sampled_trace() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let server = Server::start(&[
        ("GATEKEY_OTLP_ENDPOINT", endpoint.as_str()),
        ("GATEKEY_TRACE_SAMPLE_RATIO", "1"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .await;
    let forward_auth = |trace: &str, sampled: bool| {
        let flags = if sampled { "01" } else { "00" };
        reqwest::Client::new()
            .get(format!("{}/v1/forward-auth", server.http))
            .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-{flags}"))
            .send()
    };
    let unsampled_parent = "55555555555555555555555555555555";
    assert_eq!(
        forward_auth(unsampled_parent, false).await.expect("answers").status(),
        401
    );
    let sampled_parent = "44444444444444444444444444444444";
    assert_eq!(forward_auth(sampled_parent, true).await.expect("answers").status(), 401);

    let span = collector.span_of_trace(sampled_parent).await;
    assert_eq!(span.name, "/v1/forward-auth");
    assert_eq!(attribute(&span, "outcome").as_deref(), Some("missing_credential"));
    let spans = collector.spans.lock().unwrap().clone();
    assert_eq!(
        spans.iter().filter(|s| s.name == "/v1/forward-auth").count(),
        2,
        "with ratio 1 both calls are traced"
    );
    assert!(
        !collector.has_trace(unsampled_parent),
        "an unsampled parent's trace is not continued: the call starts its own"
    );
}
