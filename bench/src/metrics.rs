//! gatekey's own view of a window: its Verify cache counters and its store lookups of keys,
//! read from `/metrics` on its HTTP port before and after, so `cache-miss` can show how often
//! it really missed and the floods what they cost the store.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Verify key and token cache lookups so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounts {
    pub hits: u64,
    pub misses: u64,
    /// Store lookups of keys by hash (found or not).
    pub lookups: u64,
}

impl CacheCounts {
    pub fn plus(self, other: CacheCounts) -> CacheCounts {
        CacheCounts {
            hits: self.hits + other.hits,
            misses: self.misses + other.misses,
            lookups: self.lookups + other.lookups,
        }
    }

    /// Lookups between `earlier` and `self`.
    pub fn since(self, earlier: CacheCounts) -> CacheCounts {
        CacheCounts {
            hits: self.hits.saturating_sub(earlier.hits),
            misses: self.misses.saturating_sub(earlier.misses),
            lookups: self.lookups.saturating_sub(earlier.lookups),
        }
    }
}

/// The counters now; `None` without an HTTP address, or when the server has no `/metrics`
/// (or it cannot be read).
pub async fn cache_counts(http: Option<SocketAddr>) -> Option<CacheCounts> {
    let http = http.filter(|a| a.ip().is_loopback())?;
    let body = tokio::time::timeout(TIMEOUT, get(http, "/metrics")).await.ok()??;
    parse(&body)
}

async fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// Verify calls answered `OK` so far (`gatekey_verify_total{reason="ok"}`): how the `h2load`
/// mode proves that every one of h2load's calls was allowed, which HTTP status 200 alone
/// does not (a gRPC error is a 200 too).
pub async fn verify_ok(http: Option<SocketAddr>) -> Option<u64> {
    let http = http.filter(|a| a.ip().is_loopback())?;
    let body = tokio::time::timeout(TIMEOUT, get(http, "/metrics")).await.ok()??;
    series(&body, "gatekey_verify_total", "reason", "ok")
}

/// The value of the series `name{label="value"}` of a Prometheus text page.
fn series(text: &str, name: &str, label: &str, value: &str) -> Option<u64> {
    let series = format!("{name}{{{label}=\"{value}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

fn parse(text: &str) -> Option<CacheCounts> {
    let value = |name: &str, result: &str| series(text, name, "result", result);
    let cache = |result| value("gatekey_verify_cache_total", result);
    let lookups = |result| value("gatekey_verify_key_lookups_total", result).unwrap_or(0);
    let (hits, misses) = (cache("hit"), cache("miss"));
    (hits.is_some() || misses.is_some()).then(|| CacheCounts {
        hits: hits.unwrap_or(0),
        misses: misses.unwrap_or(0),
        lookups: lookups("found") + lookups("unknown"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cache_series_of_the_prometheus_text() {
        let text = "# TYPE gatekey_verify_cache_total counter\n\
                    gatekey_verify_cache_total{result=\"hit\"} 90\n\
                    gatekey_verify_cache_total{result=\"miss\"} 10\n\
                    gatekey_verify_key_lookups_total{result=\"found\"} 3\n\
                    gatekey_verify_key_lookups_total{result=\"unknown\"} 4\n";
        assert_eq!(
            parse(text),
            Some(CacheCounts {
                hits: 90,
                misses: 10,
                lookups: 7
            })
        );
        assert_eq!(parse("nothing"), None);
    }

    #[test]
    fn reads_one_labelled_series() {
        let text = "gatekey_verify_total{reason=\"ok\"} 1200\ngatekey_verify_total{reason=\"revoked\"} 3\n";
        assert_eq!(series(text, "gatekey_verify_total", "reason", "ok"), Some(1200));
        assert_eq!(series(text, "gatekey_verify_total", "reason", "expired"), None);
    }
}
