//! A private PostgreSQL cluster for the tests that stop, restart or reconfigure the server.
//!
//! Those faults hit a whole cluster, so they cannot touch the shared one at
//! `GATEKEY_TEST_POSTGRES_URL` without breaking the tests running beside them. Each test gets
//! its own `initdb` in a temporary directory, on a free loopback port, removed on drop. The
//! tests run when that variable is set (CI), like every PostgreSQL test; once it is set, a
//! missing PostgreSQL installation fails them rather than skipping them.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
//! `postgres` OS user (`runuser`), in a directory handed over to it.

use super::certs::TestPki;
use super::db::POSTGRES_URL_VAR;
use sqlx::{Connection, Executor, PgConnection};
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;
use tempfile::TempDir;
use tokio::process::Command;

/// Where the PostgreSQL binaries are, when not at the newest `/usr/lib/postgresql/<N>/bin`.
pub const PG_BIN_VAR: &str = "GATEKEY_TEST_PG_BIN";

/// A running private cluster; dropping it stops the server and deletes its files.
pub struct PgCluster {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    as_root: bool,
    /// Serves TLS only (`ssl = on`, and `hostnossl` connections rejected).
    tls: bool,
}

impl PgCluster {
    /// Creates and starts a cluster; `None` (after saying so) when `GATEKEY_TEST_POSTGRES_URL`
    /// is unset.
    pub async fn start(test: &str) -> Option<Self> {
        Self::start_configured(test, None).await
    }

    /// A cluster that accepts TLS connections only, with the server certificate and key of
    /// `pki` (see `support::certs`); `None` as for [`PgCluster::start`].
    pub async fn start_with_tls(test: &str, pki: &TestPki) -> Option<Self> {
        Self::start_configured(test, Some(pki)).await
    }

    async fn start_configured(test: &str, tls: Option<&TestPki>) -> Option<Self> {
        if std::env::var_os(POSTGRES_URL_VAR).is_none() {
            eprintln!("{POSTGRES_URL_VAR} unset: {test} ran on nothing");
            return None;
        }
        let bin = pg_bin();
        let as_root = run_std(StdCommand::new("id").arg("-u")).trim() == "0";
        let dir = tempfile::tempdir().expect("a directory for the private cluster");
        if as_root {
            run_std(StdCommand::new("chown").arg("-R").arg("postgres:").arg(dir.path()));
        }
        let port = free_port();
        let cluster = Self {
            bin,
            dir,
            port,
            as_root,
            tls: tls.is_some(),
        };
        let data = cluster.data_dir();
        let initdb = cluster.command(
            "initdb",
            &["-D", path(&data), "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        run(initdb).await;
        if let Some(pki) = tls {
            cluster.install_tls(pki);
        }
        cluster.start_server().await;
        Some(cluster)
    }

    /// The url of database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates database `name` and returns its url.
    pub async fn create_database(&self, name: &str) -> String {
        self.execute(&format!("CREATE DATABASE {name}")).await;
        self.url(name)
    }

    /// Runs one statement as the superuser, on the `postgres` database.
    pub async fn execute(&self, sql: &str) {
        let mut admin = PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the private cluster");
        admin
            .execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql} on the private cluster: {e}"));
        let _ = admin.close().await;
    }

    /// Turns the whole server read-only or back (as a demoted primary would be), applying it
    /// to the sessions already open.
    pub async fn set_read_only(&self, on: bool) {
        let value = if on { "on" } else { "off" };
        self.execute(&format!("ALTER SYSTEM SET default_transaction_read_only = {value}"))
            .await;
        self.execute("SELECT pg_reload_conf()").await;
    }

    /// Ends every session on database `name` (as a failover or an operator would); returns how many.
    pub async fn terminate_backends(&self, name: &str) -> i64 {
        let mut admin = PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the private cluster");
        let ended: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .expect("pg_terminate_backend");
        let _ = admin.close().await;
        ended
    }

    /// Stops the server: `fast` ends sessions with 57P01; `immediate` is a crash.
    pub async fn stop(&self, mode: &str) {
        let stop = self.command("pg_ctl", &["-D", path(&self.data_dir()), "-m", mode, "-w", "stop"]);
        run(stop).await;
    }

    /// Starts the server again after [`PgCluster::stop`].
    pub async fn start_server(&self) {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60",
            self.port,
            path(self.dir.path())
        );
        if self.tls {
            options.push_str(" -c ssl=on");
        }
        let log = self.dir.path().join("server.log");
        let start = self.command(
            "pg_ctl",
            &[
                "-D",
                path(&self.data_dir()),
                "-l",
                path(&log),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        run(start).await;
    }

    /// The server certificate and key in the data directory (PostgreSQL's default file
    /// names), and a `pg_hba.conf` that rejects every connection without TLS.
    fn install_tls(&self, pki: &TestPki) {
        use std::os::unix::fs::PermissionsExt;
        let data = self.data_dir();
        let cert = data.join("server.crt");
        let key = data.join("server.key");
        std::fs::write(&cert, &pki.cert_pem).expect("write server.crt");
        std::fs::write(&key, &pki.key_pem).expect("write server.key");
        // PostgreSQL refuses a key others can read.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod server.key");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostnossl all all all reject\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .expect("write pg_hba.conf");
        if self.as_root {
            run_std(StdCommand::new("chown").arg("-R").arg("postgres:").arg(&data));
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A PostgreSQL tool, run as the `postgres` user when the tests run as root.
    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let tool = self.bin.join(tool);
        let mut command = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(tool);
            c
        } else {
            Command::new(tool)
        };
        command.args(args).kill_on_drop(true);
        command
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Synchronous on purpose: the runtime may be gone, and the files must outlive the server.
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data_dir();
        let args = ["-D", path(&data), "-m", "immediate", "-w", "stop"];
        let mut stop = if self.as_root {
            let mut c = StdCommand::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl).args(args);
            c
        } else {
            let mut c = StdCommand::new(&pg_ctl);
            c.args(args);
            c
        };
        let _ = stop.output();
    }
}

/// `GATEKEY_TEST_PG_BIN`, else the newest `/usr/lib/postgresql/<N>/bin` (Debian's layout).
fn pg_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os(PG_BIN_VAR) {
        return PathBuf::from(bin);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .max_by_key(|(version, _)| *version);
    match newest {
        Some((_, bin)) => bin,
        None => panic!(
            "{POSTGRES_URL_VAR} is set but no PostgreSQL server binaries were found; \
             install them or name their directory in {PG_BIN_VAR}"
        ),
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

async fn run(mut command: Command) {
    let out = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("{command:?} took over two minutes"))
        .unwrap_or_else(|e| panic!("{command:?} did not run: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_std(command: &mut StdCommand) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} did not run: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
