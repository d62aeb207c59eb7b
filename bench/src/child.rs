//! Servers under test run as child processes, so their CPU time can be read apart from the
//! load generator's. Each is killed when its handle drops.

use anyhow::{Context, bail};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a server may take to log its address (PostgreSQL migrations included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Log lines kept for the error message when a server dies.
const KEPT_LINES: usize = 20;

/// A running server process and the loopback addresses it logged.
pub struct ServerProcess {
    child: Child,
    pid: u32,
    pub grpc: SocketAddr,
    pub http: Option<SocketAddr>,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl ServerProcess {
    /// Spawns `cmd` and waits for the stderr line carrying `grpc=ADDR` (and `http=ADDR` if
    /// any). The rest of stderr is drained in the background so the server never blocks on it.
    pub async fn start(mut cmd: Command, what: &str) -> anyhow::Result<Self> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("spawning {what}"))?;
        let pid = child.id().context("the child has no pid")?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let mut lines = BufReader::new(stderr).lines();
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let found = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                keep(&log, &line);
                if let Some(grpc) = addr_after(&line, "grpc=") {
                    return Ok(Some((grpc, addr_after(&line, "http="))));
                }
            }
            anyhow::Ok(None)
        })
        .await;
        let (grpc, http) = match found {
            Ok(Ok(Some(addrs))) => addrs,
            Ok(Ok(None)) => bail!("{what} exited before serving:\n{}", tail(&log)),
            Ok(Err(e)) => return Err(e.context(format!("reading the log of {what}"))),
            Err(_) => bail!(
                "{what} did not report its address within {START_TIMEOUT:?}:\n{}",
                tail(&log)
            ),
        };
        for addr in std::iter::once(grpc).chain(http) {
            if !addr.ip().is_loopback() {
                bail!("{what} listens on {addr}, which is not a loopback address");
            }
        }
        let drained = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                keep(&drained, &line);
            }
        });
        Ok(Self {
            child,
            pid,
            grpc,
            http,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Fails with the server's last log lines when it is no longer running.
    pub fn ensure_running(&mut self, what: &str) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => bail!("{what} exited ({status}):\n{}", tail(&self.log)),
        }
    }
}

fn addr_after(line: &str, marker: &str) -> Option<SocketAddr> {
    line.split(marker).nth(1)?.split_whitespace().next()?.parse().ok()
}

fn keep(log: &Mutex<VecDeque<String>>, line: &str) {
    if let Ok(mut log) = log.lock() {
        if log.len() == KEPT_LINES {
            log.pop_front();
        }
        log.push_back(line.to_owned());
    }
}

fn tail(log: &Mutex<VecDeque<String>>) -> String {
    log.lock()
        .map(|l| l.iter().map(String::as_str).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_addresses_of_the_serving_line() {
        let line = "2026-01-01T00:00:00Z  INFO gatekey::app: gatekey serving grpc=127.0.0.1:4000 http=127.0.0.1:4001";
        assert_eq!(addr_after(line, "grpc=").map(|a| a.port()), Some(4000));
        assert_eq!(addr_after(line, "http=").map(|a| a.port()), Some(4001));
        assert_eq!(addr_after("nothing here", "grpc="), None);
    }
}
