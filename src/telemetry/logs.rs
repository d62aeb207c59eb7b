//! Log lines on stderr: human-readable text by default, JSON lines for log shippers.
//!
//! JSON lines carry the event's fields at the top level (`message`, `error`, ...), beside
//! `timestamp`, `level`, `target` and the enclosing spans, so a shipper finds the message
//! where it looks for it instead of under `fields.message`.

use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

/// The formatting layer for `format` (`text` or `json`).
pub fn layer<S>(format: &str) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let base = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        "json" => Box::new(base.json().flatten_event(true)),
        _ => Box::new(base),
    }
}
