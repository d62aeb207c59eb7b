//! `--json`: results as one JSON object with the tables' words, errors as one JSON object on
//! stderr, exit codes 0/1/2; `bootstrap` naming its database; `verify` against a live server.

use super::{gatekey, json_of, run};
use crate::support::app::{PASSWORD, TestApp, TestOrg, spawn_app};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use tokio::process::Command;

/// A `gatekey` command against `app`, authenticated as the owner of `org`.
pub(super) fn as_owner(dir: &std::path::Path, app: &TestApp, org: &TestOrg) -> Command {
    let mut cmd = gatekey(dir, &app.grpc_addr);
    cmd.env("GATEKEY_TOKEN", &org.owner_token);
    cmd
}

/// The one JSON object a failed `--json` command wrote on stderr.
pub(super) fn error_object(stderr: &str) -> Value {
    let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one error line only: {stderr}");
    let value: Value = serde_json::from_str(lines[0]).expect("the error is JSON");
    assert!(value["code"].is_string() && value["message"].is_string(), "{value}");
    assert!(value["details"].is_object(), "{value}");
    value
}

/// Issues a key through the CLI and returns its JSON (`key`, `secret`).
pub(super) async fn issue_key(dir: &std::path::Path, app: &TestApp, org: &TestOrg, scopes: &[&str]) -> Value {
    let sa = app
        .service_account(&org.owner_token, "ci", gatekey::proto::v1::Role::Operator)
        .await;
    let mut issue = as_owner(dir, app, org);
    issue.args(["keys", "issue", "--service-account", &sa, "--name", "deploy", "--json"]);
    for scope in scopes {
        issue.args(["--scope", scope]);
    }
    json_of(issue).await
}

#[tokio::test]
async fn keys_issue_and_list_in_json_use_the_words_of_the_table_and_rfc3339_times() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let issued = issue_key(dir.path(), &app, &org, &["cameras.read"]).await;
    assert!(issued["secret"].as_str().unwrap().starts_with("sk_live_"));
    assert_eq!(issued["key"]["status"], "active");
    assert_eq!(issued["key"]["kind"], "secret");
    assert_eq!(issued["key"]["environment"], "live");
    assert_eq!(issued["key"]["role"], "operator");
    let created = issued["key"]["created_at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok(), "{created}");

    let mut list = as_owner(dir.path(), &app, &org);
    list.args(["keys", "list", "--json"]);
    let listed = json_of(list).await;
    assert_eq!(listed["keys"][0]["id"], issued["key"]["id"]);
    assert_eq!(listed["keys"][0]["status"], "active");
}

#[tokio::test]
async fn verify_exits_0_for_a_valid_key_and_1_reporting_revoked_for_a_revoked_one() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let issued = issue_key(dir.path(), &app, &org, &["cameras.read"]).await;
    let secret = issued["secret"].as_str().unwrap().to_owned();
    let key_id = issued["key"]["id"].as_str().unwrap().to_owned();

    let mut verify = gatekey(dir.path(), &app.grpc_addr);
    verify.args(["verify", "--credential-stdin", "--scope", "cameras.read", "--json"]);
    let allowed = run(verify, &format!("{secret}\n")).await;
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    let decision: Value = serde_json::from_str(&allowed.stdout).expect("json");
    assert_eq!(
        (&decision["decision"], &decision["reason"]),
        (&Value::from("allowed"), &Value::from("ok"))
    );
    assert_eq!(decision["principal"]["key_id"], key_id.as_str());
    assert_eq!(decision["principal"]["type"], "service_account");
    assert_eq!(decision["rate_limit"]["limited"], false);

    let mut text = gatekey(dir.path(), &app.grpc_addr);
    text.args(["verify", &secret]);
    let shown = run(text, "").await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(shown.stdout.contains("allowed"), "{}", shown.stdout);
    assert!(!shown.stdout.contains(&secret), "the secret is not echoed");

    let mut revoke = as_owner(dir.path(), &app, &org);
    revoke.args(["keys", "revoke", &key_id]);
    assert_eq!(run(revoke, "").await.code, 0);
    let mut verify = gatekey(dir.path(), &app.grpc_addr);
    verify.args(["verify", &secret]);
    let denied = run(verify, "").await;
    assert_eq!(denied.code, 1, "a denial exits 1");
    assert!(
        denied.stdout.contains("denied") && denied.stdout.contains("revoked"),
        "{}",
        denied.stdout
    );
    assert!(
        denied.stderr.trim().is_empty(),
        "a denial is an answer, not an error: {}",
        denied.stderr
    );
}

#[tokio::test]
async fn a_refusal_with_json_is_one_json_object_on_stderr_and_exit_1() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let mut get = as_owner(dir.path(), &app, &org);
    get.args(["keys", "get", "00000000-0000-0000-0000-000000000000", "--json"]);
    let refused = run(get, "").await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    let error = error_object(&refused.stderr);
    assert_eq!(error["code"], "KEY_NOT_FOUND");
    assert_eq!(error["details"]["grpc_code"], "NOT_FOUND");

    let mut invalid = as_owner(dir.path(), &app, &org);
    invalid.args([
        "service-accounts",
        "create",
        "--name",
        "",
        "--role",
        "operator",
        "--json",
    ]);
    let refused = run(invalid, "").await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let error = error_object(&refused.stderr);
    assert_eq!(error["details"]["field_violations"][0]["field"], "name", "{error}");

    // Without --json the message is printed once as text.
    let mut text = as_owner(dir.path(), &app, &org);
    text.args(["keys", "get", "00000000-0000-0000-0000-000000000000"]);
    let refused = run(text, "").await;
    assert_eq!(refused.stderr.matches("KEY_NOT_FOUND").count(), 1, "{}", refused.stderr);
    // A field violation that is the message itself is not repeated under it.
    let mut text = as_owner(dir.path(), &app, &org);
    text.args(["keys", "get", "not-an-id"]);
    let refused = run(text, "").await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert_eq!(
        refused.stderr.matches("must be a UUID").count(),
        1,
        "{}",
        refused.stderr
    );
}

#[tokio::test]
async fn usage_and_connection_errors_with_json_are_json_with_their_own_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = gatekey(dir.path(), "http://127.0.0.1:1");
    bad.args(["keys", "frobnicate", "--json"]);
    let usage = run(bad, "").await;
    assert_eq!(usage.code, 2);
    assert_eq!(error_object(&usage.stderr)["code"], "USAGE");

    let mut missing = gatekey(dir.path(), "http://127.0.0.1:1");
    missing.args(["limits", "set", "--org", "--limit", "5", "--json"]);
    let usage = run(missing, "").await;
    assert_eq!(usage.code, 2);
    assert!(
        error_object(&usage.stderr)["message"]
            .as_str()
            .unwrap()
            .contains("--window")
    );

    let mut not_logged_in = gatekey(dir.path(), "http://127.0.0.1:1");
    not_logged_in.args(["keys", "list", "--json"]);
    let usage = run(not_logged_in, "").await;
    assert_eq!(usage.code, 2);
    assert_eq!(error_object(&usage.stderr)["code"], "USAGE");

    let mut unreachable = gatekey(dir.path(), "http://127.0.0.1:1");
    unreachable.args(["verify", "sk_live_x", "--json"]);
    let failed = run(unreachable, "").await;
    assert_eq!(failed.code, 1);
    assert_eq!(error_object(&failed.stderr)["code"], "CONNECT_FAILED");
}

#[tokio::test]
async fn bootstrap_names_the_sqlite_file_it_wrote_and_creates_it_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut boot = gatekey(dir.path(), "");
    boot.env("GATEKEY_BOOTSTRAP_PASSWORD", PASSWORD).args([
        "bootstrap",
        "--org",
        "acme",
        "--email",
        "o@acme.test",
        "--json",
    ]);
    let booted = json_of(boot).await;
    let db = dir.path().join("gatekey.db");
    assert_eq!(booted["database"], db.canonicalize().unwrap().display().to_string());
    assert!(booted["org_id"].is_string() && booted["user_id"].is_string());
    assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600);

    let mut again = gatekey(dir.path(), "");
    again.env("GATEKEY_BOOTSTRAP_PASSWORD", PASSWORD).args([
        "bootstrap",
        "--org",
        "acme",
        "--email",
        "x@acme.test",
        "--json",
    ]);
    let refused = run(again, "").await;
    assert_eq!(refused.code, 1);
    assert_eq!(error_object(&refused.stderr)["code"], "ORG_NAME_TAKEN");

    let mut server_url = gatekey(dir.path(), "");
    server_url.env("GATEKEY_BOOTSTRAP_PASSWORD", "short").args([
        "bootstrap",
        "--org",
        "other",
        "--email",
        "o@other.test",
        "--json",
    ]);
    let usage = run(server_url, "").await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    assert_eq!(error_object(&usage.stderr)["code"], "USAGE");
}
