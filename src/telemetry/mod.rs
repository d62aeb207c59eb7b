//! What an on-call engineer reads: logs (`logs`, `logins`), the Prometheus page (`metrics`,
//! `latency`), admin-call accounting (`admin`) and traces exported over OTLP (`otel`).

pub mod admin;
pub mod latency;
pub mod logins;
pub mod logs;
pub mod metrics;
pub mod otel;

pub use otel::OtelSettings;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the global subscriber, logs only (the one-shot commands). `RUST_LOG`, when set,
/// overrides `level`.
pub fn init(format: &str, level: &str) {
    let _ = init_with_traces(format, level, &OtelSettings::default());
}

/// Installs the global subscriber: logs, and traces when `otel` names an endpoint. Keep the
/// returned guard and call [`Telemetry::shutdown`] last, so the final spans are sent.
pub fn init_with_traces(format: &str, level: &str, otel: &OtelSettings) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let traces = otel::layer(otel)?;
    let (trace_layer, provider) = match traces {
        Some((layer, provider)) => (Some(layer), Some(provider)),
        None => (None, None),
    };
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(logs::layer(format).with_filter(filter))
        .with(trace_layer)
        .try_init();
    Ok(Telemetry { provider })
}

/// Owns the trace exporter.
#[must_use = "dropping it stops nothing, but only shutdown flushes the last spans"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "trace exporter shutdown failed");
        }
    }
}

/// The process-wide Prometheus recorder (see [`metrics::handle`]).
pub fn metrics_handle() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    metrics::handle()
}
