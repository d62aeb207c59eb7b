//! `gatekey healthcheck`: asks the local server's HTTP listener whether it is up (or ready).
//!
//! Container images without a shell or curl (distroless) need the binary itself to probe
//! the server for `HEALTHCHECK` and Compose's `service_healthy`.

use clap::Args;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

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
}

/// Exit 0 when the probe answers 2xx, 1 otherwise (refused, timed out, other status).
pub async fn run(args: HealthcheckArgs) -> ExitCode {
    let url = probe_url(args.http_addr, args.ready);
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = match url.parse::<hyper::Uri>() {
        Ok(uri) => uri,
        Err(e) => {
            eprintln!("error: bad probe url {url}: {e}");
            return ExitCode::from(2);
        }
    };
    let answer = tokio::time::timeout(Duration::from_millis(args.timeout_ms), client.get(uri));
    match answer.await {
        Ok(Ok(response)) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(Ok(response)) => {
            eprintln!("unhealthy: {url} answered {}", response.status());
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("unhealthy: {url}: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("unhealthy: {url} did not answer within {} ms", args.timeout_ms);
            ExitCode::FAILURE
        }
    }
}

/// The URL to probe: a server listening on every address is reached on loopback.
fn probe_url(addr: SocketAddr, ready: bool) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let path = if ready { "/readyz" } else { "/healthz" };
    format!("http://{}{path}", SocketAddr::new(ip, addr.port()))
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

        assert_eq!(run(args(addr, false)).await, ExitCode::SUCCESS);
        assert_eq!(run(args(addr, true)).await, ExitCode::FAILURE);
    }

    #[tokio::test]
    async fn a_server_that_is_not_listening_is_unhealthy() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert_eq!(run(args(addr, false)).await, ExitCode::FAILURE);
    }
}
