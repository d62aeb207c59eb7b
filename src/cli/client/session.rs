//! The saved login session: `<config dir>/gatekey/session.json`, readable by its owner only.

use super::error::UsageError;
use super::tls::ClientTls;
use crate::proto::v1::TokenResponse;
use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use std::fs::{self, OpenOptions, Permissions};
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Tokens from a login, and the server they are for.
#[derive(Clone)]
pub struct Session {
    pub server: String,
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub access_token_expires_at: DateTime<Utc>,
    pub refresh_token_expires_at: DateTime<Utc>,
    /// How to reach `server` over TLS (paths only).
    pub tls: ClientTls,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("server", &self.server)
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field("refresh_token_expires_at", &self.refresh_token_expires_at)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// The JSON form, shared by the session file and `login --print`.
#[derive(Serialize, Deserialize)]
pub struct SessionJson {
    pub server: String,
    pub access_token: String,
    pub refresh_token: String,
    pub access_token_expires_at: String,
    pub refresh_token_expires_at: String,
    /// Absent in sessions saved before TLS, and for plaintext servers.
    #[serde(flatten, default)]
    pub tls: ClientTls,
}

impl Session {
    /// The session a Login or Refresh response starts.
    pub fn from_tokens(server: String, tls: ClientTls, tokens: TokenResponse) -> anyhow::Result<Self> {
        let time = |field: &str, time: Option<prost_types::Timestamp>| {
            time.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
                .with_context(|| format!("the server's response has no valid {field}"))
        };
        Ok(Self {
            server,
            tls,
            access_token_expires_at: time("access_token_expires_at", tokens.access_token_expires_at)?,
            refresh_token_expires_at: time("refresh_token_expires_at", tokens.refresh_token_expires_at)?,
            access_token: tokens.access_token.into(),
            refresh_token: tokens.refresh_token.into(),
        })
    }

    /// Whether the access token is expired or expires within `margin`.
    pub fn access_expires_within(&self, margin: Duration, now: DateTime<Utc>) -> bool {
        let margin = chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::zero());
        self.access_token_expires_at <= now + margin
    }

    /// Whether the refresh token can no longer be used.
    pub fn refresh_expired(&self, now: DateTime<Utc>) -> bool {
        self.refresh_token_expires_at <= now
    }

    /// The JSON form, tokens included.
    pub fn to_json(&self) -> SessionJson {
        SessionJson {
            server: self.server.clone(),
            access_token: self.access_token.expose_secret().to_owned(),
            refresh_token: self.refresh_token.expose_secret().to_owned(),
            access_token_expires_at: rfc3339(self.access_token_expires_at),
            refresh_token_expires_at: rfc3339(self.refresh_token_expires_at),
            tls: self.tls.clone(),
        }
    }

    fn from_json(json: SessionJson) -> anyhow::Result<Self> {
        let parse = |field: &str, text: &str| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .with_context(|| format!("{field} is not an RFC 3339 time"))
        };
        Ok(Self {
            access_token_expires_at: parse("access_token_expires_at", &json.access_token_expires_at)?,
            refresh_token_expires_at: parse("refresh_token_expires_at", &json.refresh_token_expires_at)?,
            server: json.server,
            tls: json.tls,
            access_token: json.access_token.into(),
            refresh_token: json.refresh_token.into(),
        })
    }
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Where sessions are kept.
#[derive(Debug, Clone)]
pub struct SessionStore {
    dir: PathBuf,
}

impl SessionStore {
    /// Sessions kept in `dir`.
    pub fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The user's default: `<dirs::config_dir()>/gatekey`.
    pub fn locate() -> anyhow::Result<Self> {
        let dir = dirs::config_dir().context("no configuration directory for this user; set GATEKEY_CONFIG_DIR")?;
        Ok(Self::at(dir.join("gatekey")))
    }

    /// The session file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join("session.json")
    }

    /// The saved session, or `None` when nobody is logged in.
    pub fn load(&self) -> anyhow::Result<Option<Session>> {
        let path = self.path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let json: SessionJson =
            serde_json::from_str(&text).with_context(|| format!("{} is not a gatekey session file", path.display()))?;
        Session::from_json(json)
            .with_context(|| format!("{} is not a gatekey session file", path.display()))
            .map(Some)
    }

    /// The saved session, or a usage error telling the user to log in.
    pub fn require(&self) -> anyhow::Result<Session> {
        self.load()?.ok_or_else(|| {
            UsageError("not logged in: run `gatekey login`, or pass --token / GATEKEY_TOKEN".into()).into()
        })
    }

    /// Replaces the saved session. The file is written beside the old one and renamed over
    /// it, so a reader never sees half a file; it is 0600 from the moment it exists.
    pub fn save(&self, session: &Session) -> anyhow::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        fs::set_permissions(&self.dir, Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", self.dir.display()))?;
        let path = self.path();
        let temp = self.dir.join("session.json.tmp");
        let text = serde_json::to_string_pretty(&session.to_json())?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .with_context(|| format!("writing {}", temp.display()))?;
        // `mode` applies only at creation; a leftover temp file may have other bits.
        file.set_permissions(Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// Forgets the saved session. Succeeds when there was none.
    pub fn delete(&self) -> anyhow::Result<()> {
        let path = self.path();
        match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e).with_context(|| format!("deleting {}", path.display())),
            _ => Ok(()),
        }
    }

    /// Holds an exclusive lock on the session until the guard is dropped.
    ///
    /// Refresh tokens rotate and the server treats a reused one as stolen, so two commands
    /// run in parallel must not both refresh the same token. `std::fs::File::lock` is newer
    /// than our minimum Rust version, hence a lock file; one older than 30 s is considered
    /// left behind by a killed process.
    pub async fn lock(&self) -> anyhow::Result<SessionLock> {
        let path = self.dir.join("session.lock");
        for _ in 0..200 {
            match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
                Ok(_) => return Ok(SessionLock { path }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if is_stale(&path) {
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
        anyhow::bail!("another gatekey command holds {}; try again", path.display())
    }
}

fn is_stale(path: &Path) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| modified.elapsed().ok())
        .is_some_and(|age| age > Duration::from_secs(30))
}

/// Releases the session lock when dropped.
#[derive(Debug)]
pub struct SessionLock {
    path: PathBuf,
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(server: &str) -> Session {
        Session {
            server: server.into(),
            access_token: "secret-access".into(),
            refresh_token: "secret-refresh".into(),
            access_token_expires_at: Utc::now() + chrono::Duration::minutes(15),
            refresh_token_expires_at: Utc::now() + chrono::Duration::days(1),
            tls: ClientTls::default(),
        }
    }

    #[test]
    fn a_saved_session_loads_back_and_is_owner_only() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = SessionStore {
            dir: dir.path().join("gatekey"),
        };
        assert!(store.load()?.is_none());
        store.save(&session("http://a"))?;
        store.save(&session("http://b"))?;
        let loaded = store.load()?.context("session missing")?;
        assert_eq!(loaded.server, "http://b");
        assert_eq!(loaded.refresh_token.expose_secret(), "secret-refresh");
        assert_eq!(fs::metadata(store.path())?.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&store.dir)?.permissions().mode() & 0o777, 0o700);
        store.delete()?;
        store.delete()?;
        assert!(store.load()?.is_none());
        Ok(())
    }

    #[test]
    fn the_tls_paths_are_saved_with_the_session_and_old_files_still_load() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = SessionStore::at(dir.path().to_owned());
        let mut s = session("https://gk:50051");
        s.tls = ClientTls {
            ca_cert: Some("/etc/gk/ca.crt".into()),
            client_cert: Some("/etc/gk/me.crt".into()),
            client_key: Some("/etc/gk/me.key".into()),
        };
        store.save(&s)?;
        assert_eq!(store.load()?.context("session missing")?.tls, s.tls);
        let before_tls = r#"{"server":"http://a","access_token":"a","refresh_token":"r",
            "access_token_expires_at":"2030-01-01T00:00:00Z","refresh_token_expires_at":"2030-01-01T00:00:00Z"}"#;
        fs::write(store.path(), before_tls)?;
        assert!(store.load()?.context("session missing")?.tls.is_empty());
        Ok(())
    }

    #[test]
    fn a_token_expiring_within_the_margin_needs_refreshing() {
        let mut s = session("http://a");
        let now = Utc::now();
        s.access_token_expires_at = now + chrono::Duration::seconds(20);
        assert!(s.access_expires_within(Duration::from_secs(30), now));
        assert!(!s.access_expires_within(Duration::from_secs(10), now));
        assert!(!format!("{s:?}").contains("secret"), "Debug must not show tokens");
    }
}
