//! Trace export settings: where to send spans, and how many gateway calls to trace.

use super::Config;
use crate::telemetry::OtelSettings;

/// One gateway call in a hundred: enough to see a slow path, cheap at 100k calls/s.
pub(super) fn default_sample_ratio() -> f64 {
    0.01
}

/// The standard variable, honoured when gatekey's own is unset.
const STANDARD_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

impl Config {
    /// The trace exporter's settings; `otlp_endpoint` wins over `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn otel_settings(&self) -> anyhow::Result<OtelSettings> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.trace_sample_ratio),
            "trace_sample_ratio must be between 0 and 1"
        );
        let endpoint = self
            .otlp_endpoint
            .clone()
            .or_else(|| std::env::var(STANDARD_ENDPOINT_ENV).ok())
            .filter(|e| !e.trim().is_empty());
        if let Some(e) = &endpoint {
            anyhow::ensure!(
                e.starts_with("http://") || e.starts_with("https://"),
                "otlp_endpoint must be an http:// or https:// URL"
            );
        }
        Ok(OtelSettings {
            endpoint,
            sample_ratio: self.trace_sample_ratio,
        })
    }
}
