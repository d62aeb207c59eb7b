//! Start-up errors name what failed: the listener whose address is taken, the store's
//! `host:port` and the cause, never the password; and a replica that starts before its
//! database waits for it (with backoff) instead of exiting.

use crate::cli::{gatekey, run};
use crate::support::db;
use crate::support::tcp_proxy::{TcpProxy, target_of};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

const PEPPER: &str = "startup-test-pepper-0123456789abcdef";
const SIGNING: &str = "startup-test-signing-0123456789abcdef";

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("addr").port()
}

#[tokio::test]
async fn a_store_nobody_listens_on_fails_start_naming_host_port_and_refused_without_the_password() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let mut cmd = gatekey(dir.path(), "");
    cmd.env("GATEKEY_KEY_PEPPER", PEPPER)
        .env("GATEKEY_SIGNING_SECRET", SIGNING)
        .env("GATEKEY_STORE_CONNECT_TIMEOUT_SECS", "1")
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--database-url",
            &format!("postgres://gatekey:hunter2-secret@127.0.0.1:{port}/gatekey"),
        ]);
    let started = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(20), run(cmd, ""))
        .await
        .expect("gave up within its connect timeout");
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "retried for the connect timeout first"
    );
    let error = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{}", out.stderr);
    assert!(error.contains("refused"), "{}", out.stderr);
    assert!(
        out.stderr.contains("retrying"),
        "each failed attempt is logged: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "the password leaked: {}", out.stderr);
}

#[tokio::test]
async fn a_taken_listener_address_fails_start_naming_the_listener_and_address() {
    let dir = tempfile::tempdir().expect("dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("take a port");
    let addr = taken.local_addr().expect("addr");
    let mut cmd = gatekey(dir.path(), "");
    cmd.args(["serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", &addr.to_string()]);
    let out = tokio::time::timeout(Duration::from_secs(30), run(cmd, ""))
        .await
        .expect("exits");
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains(&format!("cannot listen on {addr} (HTTP listener)")),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn a_replica_started_before_its_database_waits_for_it_and_comes_up() {
    let Some(pg) = db::fresh_database(db::Server::Postgres).await else {
        return;
    };
    let target = target_of(pg.url());
    let port = free_port();
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = gatekey(dir.path(), "");
    cmd.env("GATEKEY_KEY_PEPPER", PEPPER)
        .env("GATEKEY_SIGNING_SECRET", SIGNING)
        .env("GATEKEY_STORE_CONNECT_TIMEOUT_SECS", "20")
        .env("DATABASE_URL", with_port(pg.url(), port))
        .args(["serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn gatekey");
    // The database "appears" a second later: the proxy to it begins to listen.
    let appears = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the store's port");
        TcpProxy::on(listener, target)
    });
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut retries = 0;
    let serving = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read the log") {
            if line.contains("store not reachable yet; retrying") {
                assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
                assert!(line.contains("refused"), "{line}");
                retries += 1;
            }
            if line.contains("gatekey serving") {
                return true;
            }
        }
        false
    })
    .await
    .expect("came up within its connect timeout");
    assert!(serving, "gatekey exited instead of waiting for its store");
    assert!(retries >= 2, "each failed attempt is logged, with backoff ({retries})");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "came up once the store did"
    );
    let _proxy = appears.await.expect("proxy");
    let _ = child.kill().await;
}

/// `url` with its port replaced.
fn with_port(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (userinfo, hostpath) = rest.rsplit_once('@').map_or(("", rest), |(u, h)| (u, h));
    let path = hostpath.split_once('/').map_or("", |(_, p)| p);
    let at = if userinfo.is_empty() { "" } else { "@" };
    format!("{scheme}://{userinfo}{at}127.0.0.1:{port}/{path}")
}
