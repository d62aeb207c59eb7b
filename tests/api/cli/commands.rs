//! The admin surface's client commands against a real server: service-accounts delete, keys
//! disable/enable/delete, users, limits, roles, password change and the audit log's filters.

use super::json::{as_owner, error_object, issue_key};
use super::{gatekey, json_of, run};
use crate::support::app::{PASSWORD, spawn_app};
use gatekey::proto::v1 as pb;

#[tokio::test]
async fn service_accounts_delete_asks_first_and_with_yes_revokes_the_keys() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let issued = issue_key(dir.path(), &app, &org, &["cameras.read"]).await;
    let sa = issued["key"]["service_account_id"].as_str().unwrap().to_owned();

    // Nobody at a terminal to confirm: refused before anything is sent.
    let mut unconfirmed = as_owner(dir.path(), &app, &org);
    unconfirmed.args(["service-accounts", "delete", &sa, "--json"]);
    let usage = run(unconfirmed, "y\n").await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    assert!(
        error_object(&usage.stderr)["message"]
            .as_str()
            .unwrap()
            .contains("--yes")
    );
    let mut list = as_owner(dir.path(), &app, &org);
    list.args(["service-accounts", "list", "--json"]);
    assert_eq!(json_of(list).await["service_accounts"].as_array().unwrap().len(), 1);

    let mut delete = as_owner(dir.path(), &app, &org);
    delete.args(["service-accounts", "delete", &sa, "--yes", "--json"]);
    let deleted = json_of(delete).await;
    assert_eq!(deleted["revoked_keys"], 1);
    let mut verify = gatekey(dir.path(), &app.grpc_addr);
    verify.args(["verify", issued["secret"].as_str().unwrap()]);
    assert_eq!(run(verify, "").await.code, 1, "its key is refused");
}

#[tokio::test]
async fn keys_disable_and_enable_suspend_a_key_and_verify_says_disabled() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let issued = issue_key(dir.path(), &app, &org, &[]).await;
    let (id, secret) = (
        issued["key"]["id"].as_str().unwrap(),
        issued["secret"].as_str().unwrap(),
    );

    let mut disable = as_owner(dir.path(), &app, &org);
    disable.args(["keys", "disable", id, "--json"]);
    assert_eq!(json_of(disable).await["key"]["status"], "disabled");
    let mut verify = gatekey(dir.path(), &app.grpc_addr);
    verify.args(["verify", secret, "--json"]);
    let denied = run(verify, "").await;
    assert_eq!(denied.code, 1);
    let decision: serde_json::Value = serde_json::from_str(&denied.stdout).unwrap();
    assert_eq!(
        (decision["allowed"].as_bool(), decision["reason"].as_str()),
        (Some(false), Some("disabled"))
    );

    let mut enable = as_owner(dir.path(), &app, &org);
    enable.args(["keys", "enable", id]);
    let enabled = run(enable, "").await;
    assert_eq!(enabled.code, 0, "{}", enabled.stderr);
    assert!(enabled.stdout.contains("active"), "{}", enabled.stdout);
    let mut verify = gatekey(dir.path(), &app.grpc_addr);
    verify.args(["verify", secret]);
    assert_eq!(run(verify, "").await.code, 0);
}

#[tokio::test]
async fn keys_issue_pair_shows_both_secrets_once_and_rotate_shows_the_pair() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let sa = app.service_account(&org.owner_token, "web", pb::Role::Operator).await;
    let mut pair = as_owner(dir.path(), &app, &org);
    pair.args([
        "keys",
        "issue-pair",
        "--service-account",
        &sa,
        "--name",
        "web",
        "--scope",
        "orders.write",
        "--publishable-scope",
        "orders.read",
    ]);
    let issued = run(pair, "").await;
    assert_eq!(issued.code, 0, "{}", issued.stderr);
    let secrets: Vec<_> = issued
        .stdout
        .lines()
        .filter(|l| l.starts_with("pk_live_") || l.starts_with("sk_live_"))
        .collect();
    assert_eq!(secrets.len(), 2, "{}", issued.stdout);
    assert!(secrets[0].starts_with("pk_live_") && secrets[1].starts_with("sk_live_"));

    let mut list = as_owner(dir.path(), &app, &org);
    list.args(["keys", "list", "--json"]);
    let listed = json_of(list).await;
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys[0]["pair_id"].is_string() && keys[0]["pair_id"] == keys[1]["pair_id"]);

    let mut rotate = as_owner(dir.path(), &app, &org);
    rotate.args(["keys", "rotate", keys[0]["id"].as_str().unwrap(), "--json"]);
    let rotated = json_of(rotate).await;
    assert!(
        rotated["secret"].is_string() && rotated["paired_secret"].is_string(),
        "{rotated}"
    );
    assert_eq!(rotated["paired_new_key"]["pair_id"], rotated["new_key"]["pair_id"]);
}

#[tokio::test]
async fn users_list_set_role_and_remove_manage_the_members() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let dir = tempfile::tempdir().unwrap();
    app.member(&org.owner_token, "m@acme.test", pb::Role::Member).await;

    let mut list = as_owner(dir.path(), &app, &org);
    list.args(["users", "list", "--json"]);
    let listed = json_of(list).await;
    let users = listed["users"].as_array().unwrap();
    let member = users.iter().find(|u| u["email"] == "m@acme.test").expect("listed");
    assert_eq!(member["role"], "member");
    assert!(
        member["last_login_at"].is_string(),
        "the member has logged in: {member}"
    );
    let owner = users.iter().find(|u| u["email"] == org.owner_email.as_str()).unwrap();
    assert_eq!(owner["role"], "owner");
    let id = member["id"].as_str().unwrap();

    let mut promote = as_owner(dir.path(), &app, &org);
    promote.args(["users", "set-role", id, "operator", "--json"]);
    assert_eq!(json_of(promote).await["user"]["role"], "operator");

    let mut remove = as_owner(dir.path(), &app, &org);
    remove.args(["users", "remove", id]);
    let removed = run(remove, "").await;
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    let mut list = as_owner(dir.path(), &app, &org);
    list.args(["users", "list", "--json"]);
    assert_eq!(json_of(list).await["users"].as_array().unwrap().len(), 1);

    let mut last_owner = as_owner(dir.path(), &app, &org);
    last_owner.args(["users", "set-role", &org.owner_id, "member", "--json"]);
    let refused = run(last_owner, "").await;
    assert_eq!(refused.code, 1);
    error_object(&refused.stderr);
}

#[tokio::test]
async fn limits_set_and_get_show_the_policy_and_where_it_comes_from() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let issued = issue_key(dir.path(), &app, &org, &[]).await;
    let key = issued["key"]["id"].as_str().unwrap();

    let mut set = as_owner(dir.path(), &app, &org);
    set.args(["limits", "set", "--org", "--limit", "100", "--window", "60", "--json"]);
    assert_eq!(json_of(set).await["policy"]["limit"], 100);
    let mut get = as_owner(dir.path(), &app, &org);
    get.args(["limits", "get", "--json"]);
    let org_policy = json_of(get).await;
    assert_eq!(org_policy["source"], "org");
    assert_eq!(org_policy["policy"]["window"], "60s");

    let mut set = as_owner(dir.path(), &app, &org);
    set.args([
        "limits", "set", "--key", key, "--limit", "5", "--window", "1m", "--burst", "2",
    ]);
    assert_eq!(run(set, "").await.code, 0);
    let mut get = as_owner(dir.path(), &app, &org);
    get.args(["limits", "get", "--key", key, "--json"]);
    let key_policy = json_of(get).await;
    assert_eq!(
        (key_policy["source"].as_str(), key_policy["policy"]["burst"].as_u64()),
        (Some("key"), Some(2))
    );

    let mut clear = as_owner(dir.path(), &app, &org);
    clear.args(["limits", "set", "--key", key, "--clear"]);
    assert_eq!(run(clear, "").await.code, 0);
    let mut get = as_owner(dir.path(), &app, &org);
    get.args(["limits", "get", "--key", key]);
    let shown = run(get, "").await;
    assert!(
        shown.stdout.contains("org") && shown.stdout.contains("100/1m"),
        "{}",
        shown.stdout
    );
}

#[tokio::test]
async fn roles_set_scopes_and_list_show_what_each_role_grants() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let mut set = as_owner(dir.path(), &app, &org);
    set.args(["roles", "set-scopes", "operator", "keys.read", "keys.write", "--json"]);
    let set = json_of(set).await;
    assert_eq!(set["role"], "operator");
    assert_eq!(set["scopes"], serde_json::json!(["keys.read", "keys.write"]));

    let mut list = as_owner(dir.path(), &app, &org);
    list.args(["roles", "list", "--json"]);
    let listed = json_of(list).await;
    let operator = listed["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "operator")
        .expect("operator listed");
    assert_eq!(operator["scopes"], serde_json::json!(["keys.read", "keys.write"]));
}

#[tokio::test]
async fn password_change_reads_stdin_lines_and_the_new_password_logs_in() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let new = "a brand new passphrase";
    let mut change = as_owner(dir.path(), &app, &org);
    change.args(["password", "change", "--password-stdin", "--json"]);
    let changed = run(change, &format!("{PASSWORD}\n{new}\n")).await;
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    assert!(!changed.stdout.contains(new) && !changed.stderr.contains(new));

    let mut login = gatekey(dir.path(), &app.grpc_addr);
    login
        .env("GATEKEY_PASSWORD", new)
        .args(["login", "--email", &org.owner_email]);
    let logged_in = run(login, "").await;
    assert_eq!(logged_in.code, 0, "{}", logged_in.stderr);

    let mut wrong = as_owner(dir.path(), &app, &org);
    wrong.args(["password", "change"]);
    let usage = run(wrong, "").await;
    assert_eq!(usage.code, 2, "no terminal and no --password-stdin: {}", usage.stderr);
}

#[tokio::test]
async fn audit_list_filters_by_actor_and_target_and_keys_delete_says_what_it_deleted() {
    let app = spawn_app().await;
    let org = app.org("acme").await;
    let dir = tempfile::tempdir().unwrap();
    let issued = issue_key(dir.path(), &app, &org, &[]).await;
    let id = issued["key"]["id"].as_str().unwrap().to_owned();

    let mut revoke = as_owner(dir.path(), &app, &org);
    revoke.args(["keys", "revoke", &id, "--json"]);
    json_of(revoke).await;
    let mut delete = as_owner(dir.path(), &app, &org);
    delete.args(["keys", "delete", &id, "--json"]);
    assert_eq!(json_of(delete).await, serde_json::json!({ "deleted_key_id": id }));

    let mut on_key = as_owner(dir.path(), &app, &org);
    on_key.args(["audit", "list", "--target", &id, "--json"]);
    let events = json_of(on_key).await;
    let actions: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "service_account.key_deleted",
            "service_account.key_revoked",
            "service_account.key_issued"
        ]
    );
    let mut by_nobody = as_owner(dir.path(), &app, &org);
    by_nobody.args(["audit", "list", "--actor", &uuid::Uuid::now_v7().to_string(), "--json"]);
    assert_eq!(json_of(by_nobody).await["events"], serde_json::json!([]));
    let mut by_owner = as_owner(dir.path(), &app, &org);
    by_owner.args(["audit", "list", "--actor", &org.owner_id, "--json"]);
    let events = json_of(by_owner).await;
    let events = events["events"].as_array().unwrap();
    assert!(events.len() >= 3);
    assert!(events.iter().all(|e| e["actor_display"] == org.owner_email.as_str()));
}
