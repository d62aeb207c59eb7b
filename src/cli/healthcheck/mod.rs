//! `gatekey healthcheck`: asks the local server's HTTP listener whether it is up (or ready).
//!
//! Container images without a shell or curl (distroless) need the binary itself to probe
//! the server for `HEALTHCHECK` and Compose's `service_healthy`. With TLS on, every listener
//! speaks TLS only, so the probe does too, trusting exactly the server's own certificate
//! (`GATEKEY_TLS_CERT`, read like the server reads it): no CA bundle is needed in the image,
//! and nothing else would be accepted. A listener that requires client certificates cannot
//! be probed this way; probe with `tls_client_auth_http` at `optional` (the default).

use clap::Args;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod pinned;

/// Flags of `gatekey healthcheck`.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// The server's HTTP listen address; an unspecified address (0.0.0.0, ::) is probed on
    /// loopback.
    #[arg(
        long,
        value_name = "ADDR",
        env = "GATEKEY_HTTP_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    http_addr: SocketAddr,
    /// Probe `/readyz` (the store answers) instead of `/healthz` (the process is up).
    #[arg(long)]
    ready: bool,
    /// Give up after this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    timeout_ms: u64,
    /// The server's TLS certificate (PEM): the probe then speaks https and trusts exactly
    /// this certificate.
    #[arg(long, value_name = "PATH", env = "GATEKEY_TLS_CERT")]
    tls_cert: Option<PathBuf>,
}

/// Exit 0 when the probe answers 2xx, 1 otherwise (refused, timed out, other status). With
/// `json`, prints `{"healthy": true, "url": ...}` or the error as one JSON object.
pub async fn run(args: HealthcheckArgs, json: bool) -> ExitCode {
    let target = probe_addr(args.http_addr);
    let path = probe_path(args.ready);
    let scheme = if args.tls_cert.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{target}{path}");
    let answer = probe(target, path, args.tls_cert.as_deref());
    let limit = Duration::from_millis(args.timeout_ms);
    let answer = tokio::time::timeout(limit, answer)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("did not answer within {} ms", args.timeout_ms)));
    let problem = match answer {
        Ok(status) if status.is_success() => {
            if json {
                println!("{}", serde_json::json!({ "healthy": true, "url": url }));
            }
            return ExitCode::SUCCESS;
        }
        Ok(status) => format!("{url} answered {status}"),
        Err(e) => format!("{url}: {e:#}"),
    };
    if json {
        let value = serde_json::json!({ "code": "UNHEALTHY", "message": problem, "details": { "url": url } });
        eprintln!("{value}");
    } else {
        eprintln!("unhealthy: {problem}");
    }
    ExitCode::FAILURE
}

/// GETs `path` from `target`, over TLS trusting only `tls_cert` when given.
async fn probe(
    target: SocketAddr,
    path: &str,
    tls_cert: Option<&std::path::Path>,
) -> anyhow::Result<hyper::StatusCode> {
    match tls_cert {
        Some(cert) => pinned::get(target, path, cert).await,
        None => plain_get(format!("http://{target}{path}")).await,
    }
}

/// GET `url` in the clear.
async fn plain_get(url: String) -> anyhow::Result<hyper::StatusCode> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let response = client.get(url.parse::<hyper::Uri>()?).await?;
    Ok(response.status())
}

/// The address to probe: a server listening on every address is reached on loopback.
fn probe_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

fn probe_path(ready: bool) -> &'static str {
    if ready { "/readyz" } else { "/healthz" }
}

#[cfg(test)]
fn probe_url(addr: SocketAddr, ready: bool) -> String {
    format!("http://{}{}", probe_addr(addr), probe_path(ready))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::get;

    fn args(http_addr: SocketAddr, ready: bool) -> HealthcheckArgs {
        HealthcheckArgs {
            http_addr,
            ready,
            timeout_ms: 2000,
            tls_cert: None,
        }
    }

    #[test]
    fn an_unspecified_listen_address_is_probed_on_loopback() {
        let v4: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let v6: SocketAddr = "[::]:9090".parse().unwrap();
        let fixed: SocketAddr = "10.1.2.3:8081".parse().unwrap();
        assert_eq!(probe_url(v4, false), "http://127.0.0.1:8080/healthz");
        assert_eq!(probe_url(v6, true), "http://[::1]:9090/readyz");
        assert_eq!(probe_url(fixed, false), "http://10.1.2.3:8081/healthz");
    }

    #[tokio::test]
    async fn healthy_only_when_the_probed_path_answers_2xx() {
        // Up but not ready, as a server whose store is unreachable answers.
        let app = Router::new().route("/healthz", get(|| async { "ok" })).route(
            "/readyz",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "store unavailable") }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        assert_eq!(run(args(addr, false), false).await, ExitCode::SUCCESS);
        assert_eq!(run(args(addr, true), false).await, ExitCode::FAILURE);
    }

    #[tokio::test]
    async fn a_server_that_is_not_listening_is_unhealthy() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert_eq!(run(args(addr, false), false).await, ExitCode::FAILURE);
    }
}
