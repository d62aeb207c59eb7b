//! Reaching the server: the options every command shares, the channel, and the bearer
//! credential (a given token, or the saved session refreshed when it is about to expire).

use super::error::{ConnectError, UsageError};
use super::session::{Session, SessionStore};
use super::tls::ClientTls;
use crate::proto::v1::{
    RefreshRequest, admin_service_client::AdminServiceClient, auth_service_client::AuthServiceClient,
    key_service_client::KeyServiceClient,
};
use anyhow::Context as _;
use secrecy::{ExposeSecret as _, SecretString};
use std::path::PathBuf;
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

/// Sent as `user-agent` and in the `user_agent` field of Login and Refresh, so the server
/// sees the same value when it binds a refresh token to the client that obtained it.
pub const USER_AGENT: &str = concat!("gatekey-cli/", env!("CARGO_PKG_VERSION"));

/// Server used when neither `--server` nor a saved session names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// An access token this close to expiry is refreshed before use.
const REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// Options shared by every client command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientArgs {
    /// gatekey server URL [default: the saved session's server, else http://127.0.0.1:50051]
    #[arg(long, env = "GATEKEY_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,

    /// API key or access token to use instead of the saved session
    /// (prefer the environment variable: arguments are visible to other local users).
    #[arg(long, env = "GATEKEY_TOKEN", hide_env_values = true, value_parser = secret)]
    pub token: Option<SecretString>,

    /// Directory holding session.json [default: <user config dir>/gatekey]
    #[arg(long, env = "GATEKEY_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,

    /// PEM bundle of the CAs to trust for an https:// server, instead of the system roots;
    /// `login` remembers it in the session [default: the session's, else the system roots]
    #[arg(long, env = "GATEKEY_CA_CERT", value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,

    /// PEM client certificate for a server that asks for one (mTLS), with --client-key;
    /// `login` remembers the paths
    #[arg(long, env = "GATEKEY_CLIENT_CERT", value_name = "PATH")]
    pub client_cert: Option<PathBuf>,

    /// PEM private key of --client-cert (only its path is saved)
    #[arg(long, env = "GATEKEY_CLIENT_KEY", value_name = "PATH")]
    pub client_key: Option<PathBuf>,
}

fn secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(text.into())
}

impl ClientArgs {
    /// Where the session is saved.
    pub fn store(&self) -> anyhow::Result<SessionStore> {
        match &self.config_dir {
            Some(dir) if !dir.as_os_str().is_empty() => Ok(SessionStore::at(dir.clone())),
            _ => SessionStore::locate(),
        }
    }

    /// The TLS files given on the command line or in the environment.
    pub fn tls(&self) -> anyhow::Result<ClientTls> {
        ClientTls {
            ca_cert: self.ca_cert.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
        }
        .checked()
    }

    /// The TLS files given, else those saved with `session`.
    pub fn tls_or_saved(&self, session: &Session) -> anyhow::Result<ClientTls> {
        let given = self.tls()?;
        Ok(if given.is_empty() { session.tls.clone() } else { given })
    }

    /// `--server`, else the default; for commands that do not use a saved session.
    pub fn server_or_default(&self) -> String {
        normalize(self.server.as_deref().unwrap_or(DEFAULT_SERVER))
    }
}

fn normalize(server: &str) -> String {
    server.trim().trim_end_matches('/').to_owned()
}

/// Opens a channel to `server` (TLS for `https://`), failing fast when nothing answers.
pub async fn channel(server: &str, tls: &ClientTls) -> anyhow::Result<Channel> {
    let mut endpoint = Endpoint::from_shared(server.to_owned())
        .map_err(|e| UsageError(format!("invalid server URL {server:?}: {e}")))?
        .user_agent(USER_AGENT)
        .context("setting the user agent")?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30));
    if let Some(config) = tls.config(server)? {
        endpoint = endpoint
            .tls_config(config)
            .map_err(|e| UsageError(format!("TLS settings for {server}: {e}")))?;
    }
    endpoint.connect().await.map_err(|e| {
        anyhow::Error::new(e).context(ConnectError {
            server: server.to_owned(),
        })
    })
}

/// An authenticated connection for admin calls.
#[derive(Debug, Clone)]
pub struct Api {
    channel: Channel,
    bearer: MetadataValue<Ascii>,
}

impl Api {
    /// Connects with `--token` if given, else with the saved session, refreshing it first
    /// when its access token is about to expire.
    pub async fn connect(args: &ClientArgs) -> anyhow::Result<Self> {
        let (channel, token) = match &args.token {
            Some(token) => (channel(&args.server_or_default(), &args.tls()?).await?, token.clone()),
            None => {
                let store = args.store()?;
                let session = store.require()?;
                let server = session_server(args, &session)?;
                let channel = channel(&server, &args.tls_or_saved(&session)?).await?;
                let session = fresh(&channel, &store, session).await?;
                (channel, session.access_token)
            }
        };
        let mut bearer: MetadataValue<Ascii> = format!("Bearer {}", token.expose_secret())
            .parse()
            .map_err(|_| UsageError("the token contains characters not allowed in a header".into()))?;
        bearer.set_sensitive(true);
        Ok(Self { channel, bearer })
    }

    /// `message` with the `authorization` metadata attached.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("authorization", self.bearer.clone());
        request
    }

    /// A KeyService client on this connection.
    pub fn keys(&self) -> KeyServiceClient<Channel> {
        KeyServiceClient::new(self.channel.clone())
    }

    /// An AuthService client on this connection.
    pub fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel.clone())
    }

    /// An AdminService client on this connection.
    pub fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.channel.clone())
    }
}

/// The saved session's server. A different `--server` is refused rather than sending the
/// session's tokens to a server that did not issue them.
pub fn session_server(args: &ClientArgs, session: &Session) -> anyhow::Result<String> {
    let saved = normalize(&session.server);
    match args.server.as_deref().map(normalize) {
        Some(asked) if asked != saved => Err(UsageError(format!(
            "not logged in to {asked} (the saved session is for {saved}); run `gatekey login --server {asked}` or pass --token"
        ))
        .into()),
        _ => Ok(saved),
    }
}

/// `session`, or a refreshed one if its access token expires within [`REFRESH_MARGIN`].
async fn fresh(channel: &Channel, store: &SessionStore, session: Session) -> anyhow::Result<Session> {
    if !session.access_expires_within(REFRESH_MARGIN, chrono::Utc::now()) {
        return Ok(session);
    }
    let _lock = store.lock().await?;
    // Another command may have refreshed it while this one waited for the lock.
    let session = store.require()?;
    let now = chrono::Utc::now();
    if !session.access_expires_within(REFRESH_MARGIN, now) {
        return Ok(session);
    }
    if session.refresh_expired(now) {
        return Err(UsageError("the saved session has expired: run `gatekey login`".into()).into());
    }
    let request = RefreshRequest {
        refresh_token: session.refresh_token.expose_secret().to_owned(),
        user_agent: USER_AGENT.to_owned(),
    };
    let tokens = AuthServiceClient::new(channel.clone())
        .refresh(request)
        .await
        .context("refreshing the saved session")?
        .into_inner();
    let refreshed = Session::from_tokens(session.server, session.tls, tokens)?;
    store.save(&refreshed)?;
    Ok(refreshed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session_for(server: &str) -> Session {
        let now = chrono::Utc::now();
        Session {
            server: server.into(),
            access_token: "a".into(),
            refresh_token: "r".into(),
            access_token_expires_at: now,
            refresh_token_expires_at: now,
            tls: ClientTls::default(),
        }
    }

    #[test]
    fn the_saved_session_is_only_used_with_its_own_server() {
        let session = session_for("http://gk:50051/");
        let mut args = ClientArgs::default();
        assert!(session_server(&args, &session).is_ok_and(|s| s == "http://gk:50051"));
        args.server = Some("http://gk:50051".into());
        assert!(session_server(&args, &session).is_ok());
        args.server = Some("http://elsewhere:50051".into());
        assert!(session_server(&args, &session).is_err_and(|e| e.is::<UsageError>()));
    }
}
