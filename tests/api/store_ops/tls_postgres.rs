//! PostgreSQL over TLS (rustls), as the url's `sslmode` and `sslrootcert` say, against a
//! private cluster that accepts TLS connections only, with a server certificate for
//! `localhost` signed by a CA made in the test.

use crate::support::app::{Backend, Spawn, authed};
use crate::support::certs::{TestPki, pki};
use crate::support::pg_cluster::PgCluster;
use gatekey::proto::v1 as pb;
use std::path::Path;

async fn tls_cluster(test: &str) -> Option<(PgCluster, TestPki)> {
    let pki = pki(&["localhost"]);
    let cluster = PgCluster::start_with_tls(test, &pki).await?;
    cluster.create_database("gatekey").await;
    Some((cluster, pki))
}

fn url(cluster: &PgCluster, host: &str, mode: &str, ca: Option<&Path>) -> String {
    let mut url = format!("postgres://postgres@{host}:{}/gatekey?sslmode={mode}", cluster.port());
    if let Some(ca) = ca {
        url.push_str(&format!("&sslrootcert={}", ca.display()));
    }
    url
}

/// Why opening the store at `url` failed, as the operator would read it.
async fn refusal(url: &str) -> String {
    match gatekey::store::connect(url).await {
        Ok(_) => panic!("{url} connected"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn verify_full_with_the_right_ca_serves_admin_calls() {
    let Some((cluster, pki)) = tls_cluster("verify_full_with_the_right_ca_serves_admin_calls").await else {
        return;
    };
    let url = url(&cluster, "localhost", "verify-full", Some(&pki.ca));
    let app = Spawn::on(Backend::Postgres)
        .on_database(&url)
        .start()
        .await
        .expect("app over TLS");
    let org = app.org("acme").await;
    let sa = app.service_account(&org.owner_token, "ci", pb::Role::Operator).await;
    let listed = app
        .admin()
        .list_service_accounts(authed(&org.owner_token, pb::ListServiceAccountsRequest::default()))
        .await
        .expect("an admin call on a store reached over verified TLS")
        .into_inner();
    assert_eq!(listed.service_accounts.len(), 1);
    assert_eq!(listed.service_accounts[0].id, sa);
}

#[tokio::test]
async fn verify_full_refuses_a_wrong_ca_and_a_wrong_host_while_verify_ca_and_require_connect() {
    let Some((cluster, pki)) = tls_cluster("verify_full_refuses_a_wrong_ca_and_a_wrong_host").await else {
        return;
    };
    let wrong_ca = refusal(&url(&cluster, "localhost", "verify-full", Some(&pki.other_ca))).await;
    assert!(
        wrong_ca.contains("TLS") && wrong_ca.contains("certificate"),
        "names TLS and the certificate: {wrong_ca}"
    );
    assert!(
        wrong_ca.contains(&format!("localhost:{}", cluster.port())),
        "{wrong_ca}"
    );

    // The certificate names localhost, not 127.0.0.1.
    let wrong_host = refusal(&url(&cluster, "127.0.0.1", "verify-full", Some(&pki.ca))).await;
    assert!(wrong_host.contains("TLS"), "{wrong_host}");
    assert!(
        wrong_host.contains("not valid for name"),
        "names the hostname mismatch: {wrong_host}"
    );

    // verify-ca checks the issuer (with sqlx 0.8.6 and rustls >= 0.23.24 it checks the name
    // too, sqlx#3793: stricter, never weaker); require encrypts without checking either.
    let wrong_ca = refusal(&url(&cluster, "localhost", "verify-ca", Some(&pki.other_ca))).await;
    assert!(wrong_ca.contains("TLS"), "{wrong_ca}");
    let store = gatekey::store::connect(&url(&cluster, "localhost", "verify-ca", Some(&pki.ca)))
        .await
        .expect("verify-ca with the right CA");
    store.ping().await.expect("ping");
    store.close().await;
    let store = gatekey::store::connect(&url(&cluster, "127.0.0.1", "require", None))
        .await
        .expect("require");
    store.ping().await.expect("ping");
    store.close().await;

    // The server takes TLS only, so the connections above were encrypted.
    let plain = refusal(&url(&cluster, "127.0.0.1", "disable", None)).await;
    assert!(plain.contains("pg_hba"), "{plain}");
}
