//! nginx (`auth_request`) and Caddy 2.6 (`forward_auth`) with the configurations shipped
//! under `deploy/`, credentials hidden from the upstream by their marked lines.

use super::cases::{self, Abilities, EVERYTHING, tenant};
use super::harness::{Gateway, available, config, free_port, hide_credentials, upstream};
use crate::support::app::{Backend, Spawn, TestApp};
use std::path::{Path, PathBuf};
use tokio::process::Command;

async fn gatekey() -> TestApp {
    // Only the gateway (on 127.0.0.1) is a trusted proxy; the client calls from 127.0.0.2.
    Spawn::on(Backend::Sqlite)
        .counting()
        .set("trusted_proxies", serde_json::json!(["127.0.0.1/32"]))
        .start()
        .await
        .expect("sqlite")
}

/// The shipped config pointed at `app`, a fresh upstream and a free port (returned), with
/// its `hide_credentials` lines on.
async fn shipped(dir: &Path, file: &str, listen_literal: &str, app: &TestApp) -> (PathBuf, u16) {
    let listen = free_port();
    let conf = config(
        dir,
        file,
        &[
            ("127.0.0.1:8080", app.http_addr.trim_start_matches("http://").to_owned()),
            ("127.0.0.1:9000", format!("127.0.0.1:{}", upstream().await)),
            (listen_literal, format!("127.0.0.1:{listen}")),
        ],
    );
    hide_credentials(&conf);
    (conf, listen)
}

async fn every_case(app: &TestApp, gw: &Gateway, name: &str, can: Abilities) {
    let t = tenant(app, name).await;
    cases::allowed_requests_carry_the_identity(app, &gw.base, &t, can).await;
    cases::credential_problems_are_401(app, &gw.base, &t).await;
    cases::ip_and_scope_problems_are_403(app, &gw.base, &t).await;
    cases::over_the_limit_is_429(app, &gw.base, &t).await;
    cases::expired_keys_are_401(app, &gw.base, &t).await;
    cases::store_down_with_a_cold_cache_fails_closed(app, &gw.base, &t).await;
}

#[tokio::test]
async fn nginx_auth_request_enforces_every_decision() {
    if !available("nginx") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let app = gatekey().await;
    let (conf, listen) = shipped(dir.path(), "nginx/nginx.conf", "127.0.0.1:10001", &app).await;
    let prefix = dir.path().join("prefix");
    std::fs::create_dir_all(&prefix).expect("prefix");
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(format!("{}/", prefix.display()))
        .arg("-c")
        .arg(&conf)
        .args(["-e", "stderr", "-g", "daemon off;"]);
    let gw = Gateway::start(cmd, listen, dir.path().join("nginx.log")).await;
    every_case(&app, &gw, "nginx", EVERYTHING).await;
}

#[tokio::test]
async fn caddy_forward_auth_enforces_every_decision() {
    if !available("caddy") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let app = gatekey().await;
    let (conf, listen) = shipped(dir.path(), "caddy/Caddyfile", "127.0.0.1:10002", &app).await;
    let mut cmd = Command::new("caddy");
    cmd.args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&conf)
        .env("XDG_CONFIG_HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path());
    let gw = Gateway::start(cmd, listen, dir.path().join("caddy.log")).await;
    every_case(&app, &gw, "caddy", EVERYTHING).await;
}

#[tokio::test]
async fn traefik_forward_auth_enforces_every_decision() {
    if !available("traefik") {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let app = gatekey().await;
    let listen = free_port();
    let dynamic = config(
        dir.path(),
        "traefik/dynamic.yaml",
        &[
            ("127.0.0.1:8080", app.http_addr.trim_start_matches("http://").to_owned()),
            ("127.0.0.1:9000", format!("127.0.0.1:{}", upstream().await)),
        ],
    );
    hide_credentials(&dynamic);
    let stat = config(
        dir.path(),
        "traefik/traefik.yaml",
        &[("127.0.0.1:10003", format!("127.0.0.1:{listen}"))],
    );
    let mut cmd = Command::new("traefik");
    // The static config names dynamic.yaml relative to the working directory.
    cmd.arg(format!("--configFile={}", stat.display()))
        .current_dir(dir.path());
    let gw = Gateway::start(cmd, listen, dir.path().join("traefik.log")).await;
    // Traefik copies only request headers from an allow answer, so the client's response
    // carries no RateLimit fields on an allow (it does on a deny).
    let can = Abilities {
        rate_limit_fields_on_allow: false,
    };
    every_case(&app, &gw, "traefik", can).await;
}
