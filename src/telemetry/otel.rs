//! Traces over OTLP (gRPC), off unless an endpoint is configured.
//!
//! Which calls make spans: every admin call (AdminService, KeyService, Login, Refresh,
//! Logout), and a sampled share (`trace_sample_ratio`) of the gateway-facing decisions
//! (Verify, ext_authz Check, ShouldRateLimit). A call carrying a W3C `traceparent` continues
//! that trace and follows its sampled flag, for both kinds. The decision is made here,
//! before any span exists, so an unsampled Verify costs a header lookup and a random number,
//! never an OpenTelemetry span. Spans carry the method and outcome, never a credential.

use super::latency::Outcome;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tracing::Subscriber;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

/// The target of the spans exported; nothing else (no log event, no dependency's span)
/// reaches the exporter.
const TARGET: &str = "gatekey::trace";

/// Gateway-facing methods: traced only when sampled.
const SAMPLED_METHODS: [&str; 3] = [
    "/gatekey.v1.AuthService/Verify",
    "/envoy.service.auth.v3.Authorization/Check",
    "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
];

/// Services whose every call is traced.
/// The session calls of AuthService, traced like the admin methods (Verify is sampled).
const TRACED_AUTH_METHODS: [&str; 3] = [
    "/gatekey.v1.AuthService/Login",
    "/gatekey.v1.AuthService/Refresh",
    "/gatekey.v1.AuthService/Logout",
];

static ENABLED: AtomicBool = AtomicBool::new(false);
/// `trace_sample_ratio` as f64 bits.
static RATIO: AtomicU64 = AtomicU64::new(0);

/// Where and how much to export.
#[derive(Debug, Clone, Default)]
pub struct OtelSettings {
    /// The collector's OTLP/gRPC endpoint, e.g. `http://127.0.0.1:4317`; `None`: no export.
    pub endpoint: Option<String>,
    /// Share of gateway-facing calls without a `traceparent` that are traced, 0.0 to 1.0.
    pub sample_ratio: f64,
}

/// A boxed layer of the subscriber `S`.
pub type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync>;

/// The exporting layer and the provider to flush at shutdown, or `None` when export is off.
pub fn layer<S>(settings: &OtelSettings) -> anyhow::Result<Option<(BoxedLayer<S>, SdkTracerProvider)>>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let Some(endpoint) = &settings.endpoint else {
        return Ok(None);
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .build()?;
    // Parent-based: a caller's sampled flag decides; without one, `grpc_span` already chose
    // to make the span, so it is kept.
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("gatekey")
                .build(),
        )
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("gatekey");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(Targets::new().with_target(TARGET, tracing::Level::INFO));
    RATIO.store(settings.sample_ratio.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    ENABLED.store(true, Ordering::Relaxed);
    Ok(Some((Box::new(layer), provider)))
}

/// The span of one gRPC call (tonic's `trace_fn`).
pub fn grpc_span(req: &http::Request<()>) -> tracing::Span {
    let path = req.uri().path();
    if !ENABLED.load(Ordering::Relaxed) {
        // Debug level: an info span costs ~350 ns per call, a fifth of a cached Verify.
        return tracing::debug_span!("grpc", method = %path);
    }
    let parent = incoming(req.headers());
    let sampled_call = SAMPLED_METHODS.contains(&path);
    let traced = if sampled_call {
        sampled(parent.as_ref())
    } else {
        // Only methods that exist: a client can send any path, and each would be a span
        // name of its own in the trace backend.
        TRACED_AUTH_METHODS.contains(&path) || super::admin::method_of(path) != "unknown"
    };
    if !traced {
        return tracing::debug_span!("grpc", method = %path);
    }
    let method = path.trim_start_matches('/');
    let span = tracing::info_span!(
        target: TARGET,
        "grpc",
        otel.name = method,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        outcome = Empty,
        actor = Empty,
    );
    if let Some(cx) = parent {
        // Only fails when the span is disabled, and then there is nothing to continue.
        let _ = span.set_parent(cx);
    }
    span
}

/// The span of one HTTP forward-auth request, `Span::none()` when not traced (no span at
/// all: forward-auth is as hot as Verify). Sampled by the ratio alone: proxies pass the end
/// client's headers on, so an incoming `traceparent` is the client's, and its sampled flag
/// must not decide what this service exports. A sampled call continues a sampled parent's
/// trace and starts its own otherwise.
pub fn http_span(path: &str, headers: &http::HeaderMap) -> tracing::Span {
    if !ENABLED.load(Ordering::Relaxed) || !sampled(None) {
        return tracing::Span::none();
    }
    let parent = incoming(headers).filter(|cx| cx.span().span_context().is_sampled());
    let span = tracing::info_span!(
        target: TARGET,
        "http",
        otel.name = path,
        otel.kind = "server",
        http.route = path,
        outcome = Empty,
    );
    if let Some(cx) = parent {
        let _ = span.set_parent(cx);
    }
    span
}

/// Whether a gateway-facing call is traced: its caller's flag, else the sample ratio.
fn sampled(parent: Option<&opentelemetry::Context>) -> bool {
    match parent {
        Some(cx) => cx.span().span_context().is_sampled(),
        None => rand::random::<f64>() < f64::from_bits(RATIO.load(Ordering::Relaxed)),
    }
}

/// Records a gateway-facing call's outcome on its span, when tracing is on.
pub fn record_outcome(outcome: Outcome) {
    if ENABLED.load(Ordering::Relaxed) {
        tracing::Span::current().record("outcome", outcome.as_str());
    }
}

/// The trace context of a valid incoming `traceparent`, if any.
fn incoming(headers: &http::HeaderMap) -> Option<opentelemetry::Context> {
    if !headers.contains_key("traceparent") {
        return None;
    }
    let cx = TraceContextPropagator::new().extract(&Headers(headers));
    cx.span().span_context().is_valid().then_some(cx)
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_is_continued_and_a_malformed_one_ignored() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let cx = incoming(&headers).expect("a context");
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(cx.span().span_context().is_sampled());
        headers.insert("traceparent", http::HeaderValue::from_static("00-nonsense-01"));
        assert!(incoming(&headers).is_none());
    }
}
