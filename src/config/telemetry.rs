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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails by panicking")]

    use super::*;
    use figment::Figment;
    use figment::providers::Serialized;

    fn config(extra: serde_json::Value) -> anyhow::Result<OtelSettings> {
        Config::from_figment(Figment::from(Serialized::defaults(extra)))?.otel_settings()
    }

    #[test]
    fn the_endpoint_must_be_a_url_and_the_ratio_a_share() {
        let otel = config(serde_json::json!({"otlp_endpoint": "http://127.0.0.1:4317"})).unwrap();
        assert_eq!(otel.endpoint.as_deref(), Some("http://127.0.0.1:4317"));
        assert!((otel.sample_ratio - 0.01).abs() < f64::EPSILON);
        assert!(config(serde_json::json!({"otlp_endpoint": "127.0.0.1:4317"})).is_err());
        assert!(config(serde_json::json!({"trace_sample_ratio": 1.5})).is_err());
        assert!(config(serde_json::json!({"trace_sample_ratio": -0.1})).is_err());
    }
}
