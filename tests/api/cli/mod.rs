//! The `gatekey` binary itself: the README quickstart, exit codes, and SIGTERM; each client
//! command and `--json` (in `commands` and `json`).

mod commands;
mod json;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_gatekey");

/// A `gatekey` command run in `dir` (which holds the default `gatekey.db`) against `server`.
pub(crate) fn gatekey(dir: &Path, server: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("GATEKEY_KEY_PEPPER")
        .env_remove("GATEKEY_SIGNING_SECRET")
        .env_remove("GATEKEY_TOKEN")
        .env("GATEKEY_SERVER", server)
        .env("GATEKEY_CONFIG_DIR", dir.join("config"))
        .kill_on_drop(true);
    cmd
}

pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub(crate) async fn run(mut cmd: Command, stdin: &str) -> Run {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn gatekey");
    if let Some(mut input) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        input.write_all(stdin.as_bytes()).await.expect("stdin");
    }
    let out = child.wait_with_output().await.expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub(crate) async fn json_of(cmd: Command) -> serde_json::Value {
    let r = run(cmd, "").await;
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    serde_json::from_str(&r.stdout).expect("json output")
}

/// Starts `gatekey` (no subcommand: serve is the default) on free ports and returns it with
/// its gRPC address, read from its startup log line.
pub(crate) async fn serve(dir: &Path) -> (Child, String, tokio::task::JoinHandle<String>) {
    serve_with(gatekey(dir, "")).await
}

/// Starts `cmd` (a `gatekey` command with its environment set) as a server on free ports.
pub(crate) async fn serve_with(mut cmd: Command) -> (Child, String, tokio::task::JoinHandle<String>) {
    let mut child = cmd
        .args(["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn server");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read log") {
            if let Some(rest) = line.split("grpc=").nth(1) {
                return rest.split_whitespace().next().expect("addr").to_owned();
            }
        }
        panic!("server exited before serving");
    })
    .await
    .expect("server started in time");
    let rest = tokio::spawn(drain(lines));
    (child, format!("http://{addr}"), rest)
}

async fn drain<R: AsyncRead + Unpin>(mut lines: tokio::io::Lines<BufReader<R>>) -> String {
    let mut all = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        all.push_str(&line);
        all.push('\n');
    }
    all
}

#[tokio::test]
async fn the_readme_quickstart_ends_with_a_key_issued_listed_and_revoked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut server, addr, server_log) = serve(dir.path()).await;
    let secrets = dir.path().join("gatekey.db.secrets.toml");
    assert_eq!(
        std::fs::metadata(&secrets).expect("dev secrets").permissions().mode() & 0o777,
        0o600
    );

    let mut boot = gatekey(dir.path(), &addr);
    boot.args(["bootstrap", "--org", "acme", "--email", "admin@acme.test"]);
    let booted = run(boot, "correct horse battery\n").await;
    assert_eq!(booted.code, 0, "{}", booted.stderr);
    let ids: serde_json::Value = serde_json::from_str(booted.stdout.trim()).expect("one JSON line");
    assert!(ids["org_id"].is_string() && ids["user_id"].is_string());
    let db = dir.path().join("gatekey.db");
    assert_eq!(
        std::fs::metadata(&db).expect("database").permissions().mode() & 0o777,
        0o600,
        "the server creates its SQLite file owner-only"
    );

    let mut again = gatekey(dir.path(), &addr);
    again.args(["bootstrap", "--org", "acme", "--email", "other@acme.test"]);
    let refused = run(again, "correct horse battery\n").await;
    assert_eq!(refused.code, 1, "an existing org name is refused");
    assert!(refused.stderr.contains("org name already exists"), "{}", refused.stderr);

    let mut login = gatekey(dir.path(), &addr);
    login.args(["login", "--email", "admin@acme.test"]);
    let logged_in = run(login, "correct horse battery\n").await;
    assert_eq!(logged_in.code, 0, "{}", logged_in.stderr);
    let session = dir.path().join("config/session.json");
    assert_eq!(
        std::fs::metadata(&session).expect("session").permissions().mode() & 0o777,
        0o600
    );

    let mut create = gatekey(dir.path(), &addr);
    create.args([
        "service-accounts",
        "create",
        "--name",
        "ci",
        "--role",
        "operator",
        "--json",
    ]);
    let sa = json_of(create).await;
    let sa_id = sa["service_account"]["id"]
        .as_str()
        .or(sa["id"].as_str())
        .expect("sa id")
        .to_owned();

    let mut issue = gatekey(dir.path(), &addr);
    issue.args([
        "keys",
        "issue",
        "--service-account",
        &sa_id,
        "--name",
        "deploy",
        "--scope",
        "cameras.read",
    ]);
    let issued = run(issue, "").await;
    assert_eq!(issued.code, 0, "{}", issued.stderr);
    let secret = issued
        .stdout
        .lines()
        .find(|l| l.starts_with("sk_live_"))
        .expect("the secret on its own line")
        .to_owned();
    assert_eq!(issued.stdout.matches(&secret).count(), 1, "shown exactly once");
    assert!(
        issued.stderr.contains("not be shown again") || issued.stderr.contains("shown only now"),
        "{}",
        issued.stderr
    );

    let mut list = gatekey(dir.path(), &addr);
    list.args(["keys", "list", "--json"]);
    let listed = json_of(list).await;
    let key_id = listed["keys"][0]["id"].as_str().expect("listed").to_owned();
    assert!(
        !listed.to_string().contains(&secret[8..]),
        "lists never carry the secret"
    );

    let mut revoke = gatekey(dir.path(), &addr);
    revoke.args(["keys", "revoke", &key_id, "--json"]);
    let revoked = json_of(revoke).await;
    assert_eq!(revoked["key"]["status"], "revoked");

    // The revoked key itself is now refused, with the stable code and exit status 1.
    let mut with_key = gatekey(dir.path(), &addr);
    with_key.env("GATEKEY_TOKEN", &secret).args(["keys", "list"]);
    let denied = run(with_key, "").await;
    assert_eq!(denied.code, 1);
    assert!(denied.stderr.contains("CREDENTIAL_REVOKED"), "{}", denied.stderr);

    let mut usage = gatekey(dir.path(), &addr);
    usage.args(["keys", "frobnicate"]);
    assert_eq!(run(usage, "").await.code, 2, "usage errors exit 2");

    // SIGTERM: the server drains and exits 0.
    let pid = server.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait())
        .await
        .expect("exits")
        .expect("status");
    assert_eq!(status.code(), Some(0));
    let log = server_log.await.expect("log");
    assert!(log.contains("gatekey stopped"), "{log}");
    assert!(!log.contains(&secret[8..]), "the server never logs a secret");
}
