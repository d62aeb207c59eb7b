//! The `gatekey` binary over TLS: the CLI with a private CA and a client certificate, and
//! the server reloading on SIGHUP.

use super::{peer_cert, spawn_tls, spawn_tls_as, tls_connect_alpn, wait_for_served_alpn};
use crate::cli::{gatekey, run};
use crate::support::app::PASSWORD;
use crate::support::pki::ServerPki;

#[tokio::test]
async fn the_cli_logs_in_over_tls_with_a_private_ca_and_remembers_it() {
    let pki = ServerPki::new();
    let app = spawn_tls(&pki, false, &[]).await;
    app.org("acme").await;
    let dir = tempfile::tempdir().expect("tempdir");

    let mut untrusted = gatekey(dir.path(), &app.grpc_addr);
    untrusted.args(["login", "--email", "owner@acme.test"]);
    let refused = run(untrusted, &format!("{PASSWORD}\n")).await;
    assert_eq!(
        refused.code, 1,
        "the system roots do not know the test CA: {}",
        refused.stderr
    );

    let mut login = gatekey(dir.path(), &app.grpc_addr);
    login
        .args(["login", "--email", "owner@acme.test", "--ca-cert"])
        .arg(&pki.ca_file);
    let logged_in = run(login, &format!("{PASSWORD}\n")).await;
    assert_eq!(logged_in.code, 0, "{}", logged_in.stderr);

    // Later commands take the CA from the saved session.
    let mut create = gatekey(dir.path(), &app.grpc_addr);
    create.args([
        "service-accounts",
        "create",
        "--name",
        "ci",
        "--role",
        "operator",
        "--json",
    ]);
    let created = run(create, "").await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let session = std::fs::read_to_string(dir.path().join("config/session.json")).expect("session");
    assert!(session.contains(&pki.ca_file.display().to_string()), "{session}");
}

#[tokio::test]
async fn the_cli_presents_its_client_certificate_to_an_mtls_listener() {
    let pki = ServerPki::new();
    let ours = pki.ca.client("admin-cli");
    let app = spawn_tls_as(&pki, true, &[("tls_client_auth_grpc", "required".into())], Some(&ours)).await;
    app.org("acme").await;
    let (cert, key) = pki.write("cli", &ours);
    let dir = tempfile::tempdir().expect("tempdir");

    let mut anonymous = gatekey(dir.path(), &app.grpc_addr);
    anonymous
        .args(["login", "--email", "owner@acme.test", "--ca-cert"])
        .arg(&pki.ca_file);
    let refused = run(anonymous, &format!("{PASSWORD}\n")).await;
    assert_eq!(
        refused.code, 1,
        "no client certificate: {} / {}",
        refused.stderr, refused.stdout
    );

    let mut login = gatekey(dir.path(), &app.grpc_addr);
    login
        .args(["login", "--email", "owner@acme.test"])
        .env("GATEKEY_CA_CERT", &pki.ca_file)
        .env("GATEKEY_CLIENT_CERT", &cert)
        .env("GATEKEY_CLIENT_KEY", &key);
    let logged_in = run(login, &format!("{PASSWORD}\n")).await;
    assert_eq!(logged_in.code, 0, "{}", logged_in.stderr);

    let mut list = gatekey(dir.path(), &app.grpc_addr);
    list.args(["keys", "list", "--json"]);
    let listed = run(list, "").await;
    assert_eq!(
        listed.code, 0,
        "the saved session presents the certificate: {}",
        listed.stderr
    );
    let session = std::fs::read_to_string(dir.path().join("config/session.json")).expect("session");
    assert!(!session.contains("PRIVATE KEY"), "only the key's path is saved");
}

#[tokio::test]
async fn sighup_reloads_the_certificate_at_once() {
    let mut pki = ServerPki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = gatekey(dir.path(), "");
    cmd.env("GATEKEY_TLS_CERT", &pki.cert)
        .env("GATEKEY_TLS_KEY", &pki.key)
        // Far beyond the test: only the signal can explain a reload.
        .env("GATEKEY_TLS_RELOAD_SECS", "3600");
    let (server, addr, _log) = crate::cli::serve_with(cmd).await;
    let addr = addr.replace("http://", "https://");
    let ca = pki.ca.pem();
    let first = pki.served.clone();
    assert_eq!(peer_cert(&tls_connect_alpn(&addr, &ca, b"h2").await), first.der);

    let second = pki.rotate(2);
    let pid = server.id().expect("server pid").to_string();
    let status = tokio::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .await
        .expect("kill");
    assert!(status.success());
    wait_for_served_alpn(&addr, &ca, &second, b"h2").await;
    // SIGHUP reloaded; it did not stop the server.
    assert_eq!(peer_cert(&tls_connect_alpn(&addr, &ca, b"h2").await), second.der);
}

#[tokio::test]
async fn the_healthcheck_probes_a_tls_listener_trusting_only_the_servers_own_certificate() {
    let pki = ServerPki::new();
    let app = spawn_tls(&pki, false, &[]).await;
    let http_addr = app.http_addr.trim_start_matches("https://").to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let probe = |cert: &std::path::Path| {
        let mut cmd = gatekey(dir.path(), "");
        cmd.arg("healthcheck")
            .env("GATEKEY_HTTP_ADDR", &http_addr)
            .env("GATEKEY_TLS_CERT", cert);
        cmd
    };

    let healthy = run(probe(&pki.cert), "").await;
    assert_eq!(healthy.code, 0, "{}", healthy.stderr);

    let mut ready = probe(&pki.cert);
    ready.arg("--ready");
    let ready = run(ready, "").await;
    assert_eq!(ready.code, 0, "{}", ready.stderr);

    // Another certificate from the same CA is not the server's: refused.
    let (other, _) = pki.write("other", &pki.ca.server(99));
    let refused = run(probe(&other), "").await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("unhealthy"), "{}", refused.stderr);

    // In the clear against a TLS listener: no answer counts as healthy.
    let mut plain = gatekey(dir.path(), "");
    plain
        .arg("healthcheck")
        .env("GATEKEY_HTTP_ADDR", &http_addr)
        .env_remove("GATEKEY_TLS_CERT");
    let plain = run(plain, "").await;
    assert_eq!(plain.code, 1, "{}", plain.stderr);
}
