//! TLS on every listener, client certificates per listener, certificate reload without a
//! restart; the `gatekey` binary over TLS is in `binary.rs`.

mod binary;

use crate::support::app::{Backend, Spawn, TestApp, authed};
use crate::support::logs;
use crate::support::pki::{Leaf, ServerPki, TestCa};
use gatekey::proto::v1 as pb;
use gatekey::proto::v1::auth_service_client::AuthServiceClient;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};
use tonic::transport::{ClientTlsConfig, Endpoint};

/// An app with TLS from `pki` (client certificates with `client_ca`), `extra` settings, a
/// gateway listener, and `app.channel` trusting the CA without a client certificate.
async fn spawn_tls(pki: &ServerPki, client_ca: bool, extra: &[(&str, serde_json::Value)]) -> TestApp {
    spawn_tls_as(pki, client_ca, extra, None).await
}

async fn spawn_tls_as(
    pki: &ServerPki,
    client_ca: bool,
    extra: &[(&str, serde_json::Value)],
    identity: Option<&Leaf>,
) -> TestApp {
    let mut spawn = Spawn::on(Backend::Sqlite)
        .set("gateway_addr", "127.0.0.1:0".into())
        .tls_client(pki.client_tls(identity));
    for (key, value) in pki.settings(client_ca).into_iter().chain(extra.iter().cloned()) {
        spawn = spawn.set(key, value);
    }
    spawn.start().await.expect("sqlite always starts")
}

/// A Verify call on a fresh connection to `addr`; the error's text when it fails anywhere
/// (handshake, or the first read after a TLS 1.3 handshake the server then refused).
async fn verify_over(addr: &str, tls: ClientTlsConfig) -> Result<pb::VerifyResponse, String> {
    let channel = Endpoint::from_shared(addr.to_owned())
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    AuthServiceClient::new(channel)
        .verify(pb::VerifyRequest {
            credential: "sk_live_not_a_key".into(),
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
        .map_err(|e| format!("{e:?}"))
}

fn rustls_client(ca_pem: &str, alpn: &[u8]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA pem")).expect("CA");
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

use rustls::pki_types::pem::PemObject as _;

/// A raw TLS connection to `addr` (`https://ip:port`), to look at the served certificate;
/// HTTP/1.1 by ALPN.
async fn tls_connect(addr: &str, ca_pem: &str) -> TlsStream<TcpStream> {
    tls_connect_alpn(addr, ca_pem, b"http/1.1").await
}

async fn tls_connect_alpn(addr: &str, ca_pem: &str, alpn: &[u8]) -> TlsStream<TcpStream> {
    let host = addr.trim_start_matches("https://");
    let tcp = TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("tcp connect to {host}: {e}"));
    rustls_client(ca_pem, alpn)
        .connect(ServerName::try_from("127.0.0.1").expect("name"), tcp)
        .await
        .expect("TLS handshake")
}

fn peer_cert(tls: &TlsStream<TcpStream>) -> Vec<u8> {
    tls.get_ref().1.peer_certificates().expect("server certificate")[0].to_vec()
}

/// `GET /healthz` on an open HTTP/1.1 connection (kept alive).
async fn healthz_on(tls: &mut TlsStream<TcpStream>) -> String {
    tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: gatekey\r\n\r\n")
        .await
        .expect("write");
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !response.ends_with(b"\r\n\r\nok") {
        let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
            .await
            .expect("response in time")
            .expect("read");
        assert!(n > 0, "connection closed: {}", String::from_utf8_lossy(&response));
        response.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&response).into_owned()
}

fn https_client(ca_pem: &str, identity: Option<&Leaf>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA"));
    if let Some(leaf) = identity {
        let pem = format!("{}{}", leaf.cert_pem, leaf.key_pem);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    builder.build().expect("client")
}

#[tokio::test]
async fn every_listener_speaks_tls_and_refuses_plaintext() {
    let pki = ServerPki::new();
    let app = spawn_tls(&pki, false, &[]).await;
    assert!(app.grpc_addr.starts_with("https://"));

    // gRPC: Verify, and an admin call of a logged-in owner.
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Operator).await;
    let key = app.issue(&org.owner_token, &sa, &["cameras.read"]).await;
    let verdict = app
        .auth()
        .verify(pb::VerifyRequest {
            credential: key.secret.clone(),
            ..Default::default()
        })
        .await
        .expect("verify over TLS")
        .into_inner();
    assert!(verdict.allowed, "{verdict:?}");
    let listed = app
        .keys()
        .list_keys(authed(&org.owner_token, pb::ListKeysRequest::default()))
        .await
        .expect("admin call over TLS");
    assert_eq!(listed.into_inner().keys.len(), 1);

    // HTTP (HTTP/1.1 over TLS) and the gateway listener (gRPC over h2, and HTTP).
    let client = https_client(&pki.ca.pem(), None);
    let health = client
        .get(format!("{}/healthz", app.http_addr))
        .send()
        .await
        .expect("https");
    assert_eq!(health.status(), 200);
    let gateway = app.gateway_addr.clone().expect("gateway listener");
    let gw_health = client
        .get(format!("{gateway}/healthz"))
        .send()
        .await
        .expect("gateway https");
    assert_eq!(gw_health.status(), 200);
    let over_gateway = verify_over(&gateway, pki.client_tls(None)).await.expect("gateway gRPC");
    assert!(!over_gateway.allowed);

    // Plaintext to a TLS listener gets nowhere, and the listener lives on.
    let plain = reqwest::Client::new()
        .get(format!("{}/healthz", app.http_addr.replace("https://", "http://")))
        .send()
        .await;
    assert!(plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()));
    let again = client
        .get(format!("{}/healthz", app.http_addr))
        .send()
        .await
        .expect("https");
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn a_stalled_handshake_does_not_hold_up_other_clients() {
    let pki = ServerPki::new();
    let app = spawn_tls(&pki, false, &[]).await;
    // A client that connects and says nothing.
    let _silent = TcpStream::connect(app.http_addr.trim_start_matches("https://"))
        .await
        .expect("tcp");
    let mut tls = tokio::time::timeout(Duration::from_secs(3), tls_connect(&app.http_addr, &pki.ca.pem()))
        .await
        .expect("a handshake behind a silent client completes");
    assert!(healthz_on(&mut tls).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn one_client_cannot_hold_every_handshake_slot() {
    let pki = ServerPki::new();
    let app = spawn_tls(&pki, false, &[]).await;
    let addr: std::net::SocketAddr = app.http_addr.trim_start_matches("https://").parse().expect("addr");
    // 64 silent connections from 127.0.0.1: its whole share of handshakes in progress.
    let mut silent = Vec::new();
    for _ in 0..64 {
        silent.push(TcpStream::connect(addr).await.expect("tcp"));
    }
    // The next one from the same address is closed at once, not held for the 10 s timeout.
    let mut over = TcpStream::connect(addr).await.expect("tcp");
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(3), over.read(&mut byte))
        .await
        .expect("closed at once, not held");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // Another client (127.0.0.2 is a network of its own) still gets its handshake.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.2:0".parse().expect("addr"))
        .expect("bind 127.0.0.2");
    let tcp = socket.connect(addr).await.expect("tcp from 127.0.0.2");
    let mut tls = tokio::time::timeout(
        Duration::from_secs(3),
        rustls_client(&pki.ca.pem(), b"http/1.1").connect(ServerName::try_from("127.0.0.1").expect("name"), tcp),
    )
    .await
    .expect("in time")
    .expect("TLS handshake");
    assert!(healthz_on(&mut tls).await.starts_with("HTTP/1.1 200"));
    drop(silent);
}

#[tokio::test]
async fn the_gateway_listener_admits_only_clients_with_a_certificate_from_the_client_ca() {
    let pki = ServerPki::new();
    let app = spawn_tls(&pki, true, &[]).await;
    let gateway = app.gateway_addr.clone().expect("gateway listener");
    let stranger_ca = TestCa::new("someone else's CA");
    let stranger = stranger_ca.client("envoy");
    let ours = pki.ca.client("envoy");

    let without = verify_over(&gateway, pki.client_tls(None)).await;
    assert!(without.is_err(), "no client certificate: {without:?}");
    let foreign = verify_over(&gateway, pki.client_tls(Some(&stranger))).await;
    assert!(foreign.is_err(), "a certificate from another CA: {foreign:?}");
    let admitted = verify_over(&gateway, pki.client_tls(Some(&ours))).await;
    assert!(admitted.is_ok(), "{admitted:?}");

    // Forward-auth on the gateway listener: the same rule over HTTP/1.1.
    let refused = https_client(&pki.ca.pem(), None)
        .get(format!("{gateway}/healthz"))
        .send()
        .await;
    assert!(refused.is_err(), "no client certificate: {refused:?}");
    let ok = https_client(&pki.ca.pem(), Some(&ours))
        .get(format!("{gateway}/healthz"))
        .send()
        .await
        .expect("with a certificate");
    assert_eq!(ok.status(), 200);

    // The gRPC listener accepts clients without a certificate, but not a bad one.
    let anonymous = verify_over(&app.grpc_addr, pki.client_tls(None)).await;
    assert!(anonymous.is_ok(), "{anonymous:?}");
    let foreign = verify_over(&app.grpc_addr, pki.client_tls(Some(&stranger))).await;
    assert!(
        foreign.is_err(),
        "an optional certificate is still checked: {foreign:?}"
    );
    let with_cert = verify_over(&app.grpc_addr, pki.client_tls(Some(&ours))).await;
    assert!(with_cert.is_ok(), "{with_cert:?}");
}

#[tokio::test]
async fn client_authentication_can_be_set_per_listener() {
    let pki = ServerPki::new();
    let ours = pki.ca.client("admin-cli");
    let app = spawn_tls_as(
        &pki,
        true,
        &[
            ("tls_client_auth_grpc", "required".into()),
            ("tls_client_auth_gateway", "none".into()),
        ],
        Some(&ours),
    )
    .await;
    let gateway = app.gateway_addr.clone().expect("gateway listener");
    assert!(verify_over(&app.grpc_addr, pki.client_tls(None)).await.is_err());
    assert!(verify_over(&app.grpc_addr, pki.client_tls(Some(&ours))).await.is_ok());
    let anonymous = verify_over(&gateway, pki.client_tls(None)).await;
    assert!(anonymous.is_ok(), "{anonymous:?}");
    // `none` asks for no certificate, so none is checked.
    let http = https_client(&pki.ca.pem(), None)
        .get(format!("{}/healthz", app.http_addr))
        .send()
        .await
        .expect("optional on HTTP");
    assert_eq!(http.status(), 200);
}

/// Opens connections until one is served `want` (the files are polled every second).
async fn wait_for_served(addr: &str, ca_pem: &str, want: &Leaf) -> TlsStream<TcpStream> {
    wait_for_served_alpn(addr, ca_pem, want, b"http/1.1").await
}

async fn wait_for_served_alpn(addr: &str, ca_pem: &str, want: &Leaf, alpn: &[u8]) -> TlsStream<TcpStream> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tls = tls_connect_alpn(addr, ca_pem, alpn).await;
        if peer_cert(&tls) == want.der {
            return tls;
        }
        assert!(Instant::now() < deadline, "the new certificate was not picked up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn new_certificates_reach_new_connections_while_open_ones_keep_working() {
    let mut pki = ServerPki::new();
    let first = pki.served.clone();
    let app = spawn_tls(&pki, false, &[("tls_reload_secs", 1.into())]).await;
    let ca = pki.ca.pem();

    let mut open = tls_connect(&app.http_addr, &ca).await;
    assert_eq!(peer_cert(&open), first.der);
    assert!(healthz_on(&mut open).await.starts_with("HTTP/1.1 200"));

    let second = pki.rotate(2);
    let mut fresh = wait_for_served(&app.http_addr, &ca, &second).await;
    assert!(healthz_on(&mut fresh).await.starts_with("HTTP/1.1 200"));
    // Every listener swapped, not only the one polled above (gRPC speaks h2 only).
    wait_for_served_alpn(&app.grpc_addr, &ca, &second, b"h2").await;

    // The connection opened before the swap still serves, with the certificate it began with.
    assert!(healthz_on(&mut open).await.starts_with("HTTP/1.1 200"));
    assert_eq!(peer_cert(&open), first.der);
    // And the gRPC channel opened at start keeps answering.
    app.auth()
        .verify(pb::VerifyRequest::default())
        .await
        .expect("the open gRPC connection still works");
}

#[tokio::test]
async fn a_bad_replacement_keeps_the_certificate_in_use_and_is_logged_without_key_material() {
    let mut pki = ServerPki::new();
    let first = pki.served.clone();
    let app = spawn_tls(&pki, false, &[("tls_reload_secs", 1.into())]).await;
    let ca = pki.ca.pem();

    // A new certificate with the wrong key: cannot be served.
    let next = pki.ca.server(3);
    let wrong = pki.ca.server(4);
    pki.install(&next.cert_pem, &wrong.key_pem);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logs::captured().contains("TLS files not reloaded") {
        assert!(Instant::now() < deadline, "the bad files were not reported");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut tls = tls_connect(&app.http_addr, &ca).await;
    assert_eq!(peer_cert(&tls), first.der, "the previous certificate is still served");
    assert!(healthz_on(&mut tls).await.starts_with("HTTP/1.1 200"));
    let key_body = wrong.key_pem.lines().nth(1).expect("key line");
    assert!(!logs::captured().contains(key_body), "key material in the logs");

    // Fixing the files is picked up as usual.
    pki.install(&next.cert_pem, &next.key_pem);
    wait_for_served(&app.http_addr, &ca, &next).await;
}

#[tokio::test]
async fn a_server_that_cannot_load_its_certificate_names_the_file_at_start() {
    let pki = ServerPki::new();
    let other_key = pki.ca.server(9).key_pem;
    std::fs::write(pki.dir.path().join("other.key"), &other_key).expect("write");
    let figment = figment::Figment::from(figment::providers::Serialized::defaults(serde_json::json!({
        "grpc_addr": "127.0.0.1:0",
        "http_addr": "127.0.0.1:0",
        "database_url": format!("sqlite://{}/db.sqlite", pki.dir.path().display()),
        "key_pepper": "test-pepper-0123456789abcdef0123456789",
        "signing_secret": "test-signing-secret-0123456789abcdef",
        "tls_cert": pki.cert,
        "tls_key": pki.dir.path().join("other.key"),
    })));
    let config = gatekey::config::Config::from_figment(figment).expect("config");
    let err = gatekey::app::Application::build(&config)
        .await
        .err()
        .expect("a key that does not match");
    let text = format!("{err:#}");
    assert!(text.contains("other.key does not match the certificate"), "{text}");
    assert!(!text.contains(other_key.lines().nth(1).expect("line")), "{text}");
}
