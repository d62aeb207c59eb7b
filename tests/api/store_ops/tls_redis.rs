//! Redis over `rediss://` (rustls): a private `redis-server` serving TLS only, with a
//! certificate from a CA made in the test, which gatekey trusts through `redis_ca_cert`; two
//! replicas share one budget through it.

use crate::support::app::{Backend, Spawn, authed};
use crate::support::certs::pki;
use crate::verify::{keyed, verify};
use gatekey::config::RedisTls;
use gatekey::proto::v1 as pb;
use gatekey::ratelimit::{LocalLimiter, RedisFailureMode, RedisLimiter, redis_client};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

const REDIS_URL_VAR: &str = "GATEKEY_TEST_REDIS_URL";

/// A TLS-only redis-server on a free port; killed on drop.
struct TlsRedis {
    _child: Child,
    port: u16,
}

impl TlsRedis {
    async fn start(pki: &crate::support::certs::TestPki) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let path = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_owned();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--tls-port", &port.to_string()])
            .args(["--tls-cert-file", &path(&pki.cert), "--tls-key-file", &path(&pki.key)])
            .args(["--tls-ca-cert-file", &path(&pki.ca), "--tls-auth-clients", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{REDIS_URL_VAR} is set but redis-server does not run: {e}"));
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Self { _child: child, port };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not listen on its TLS port");
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }
}

#[tokio::test]
async fn replicas_share_one_budget_through_rediss_with_a_private_ca() {
    if std::env::var_os(REDIS_URL_VAR).is_none() {
        eprintln!("{REDIS_URL_VAR} unset: the rediss test ran on nothing");
        return;
    }
    let pki = pki(&["127.0.0.1", "localhost"]);
    let redis = TlsRedis::start(&pki).await;

    let wrong = RedisLimiter::with_client(
        redis_client(
            &redis.url(),
            &RedisTls {
                ca_cert: Some(pki.other_ca.clone()),
            },
        )
        .expect("client"),
        RedisFailureMode::Deny,
        LocalLimiter::default(),
        Duration::from_secs(1),
    )
    .await
    .expect("limiter");
    assert!(
        wrong.ping().await.is_err(),
        "a CA that did not sign the server's certificate is refused"
    );

    let ca = pki.ca.to_str().expect("utf-8").to_owned();
    let first = Spawn::on(Backend::Sqlite)
        .set("redis_url", redis.url().into())
        .set("redis_ca_cert", ca.clone().into())
        .set("redis_failure_mode", "deny".into())
        .set("redis_timeout_ms", 1000.into())
        .start()
        .await
        .expect("first replica");
    let second = Spawn::on(Backend::Sqlite)
        .replica_of(&first)
        .set("redis_url", redis.url().into())
        .set("redis_ca_cert", ca.into())
        .set("redis_failure_mode", "deny".into())
        .set("redis_timeout_ms", 1000.into())
        .start()
        .await
        .expect("second replica");
    let (owner, secret, _) = keyed(&first, "acme", &[]).await;
    first
        .admin()
        .set_rate_limit(authed(
            &owner,
            pb::SetRateLimitRequest {
                key_id: String::new(),
                policy: Some(pb::RateLimitPolicy {
                    limit: 3,
                    window: Some(prost_types::Duration {
                        seconds: 3600,
                        nanos: 0,
                    }),
                    burst: 3,
                }),
            },
        ))
        .await
        .expect("a small org budget");
    // Failing closed, a TLS failure would deny these: every allow went through Redis.
    assert!(verify(&first, &secret, &[], "").await.allowed);
    assert!(verify(&second, &secret, &[], "").await.allowed);
    assert!(verify(&first, &secret, &[], "").await.allowed);
    let fourth = verify(&second, &secret, &[], "").await;
    assert!(
        !fourth.allowed,
        "the fourth call across both replicas is over the shared budget"
    );
    assert_eq!(fourth.reason, pb::VerifyReason::RateLimited as i32);
}
