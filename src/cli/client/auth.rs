//! `gatekey login` and `gatekey logout`: the saved session of an interactive user.

use super::connect::{self, ClientArgs, USER_AGENT};
use super::output;
use super::prompt;
use super::session::Session;
use crate::proto::v1::{LoginRequest, LogoutRequest, auth_service_client::AuthServiceClient};
use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use serde_json::json;
use std::io::Write;

/// Where `login` reads the password; else one line of standard input.
pub const PASSWORD_ENV: &str = "GATEKEY_PASSWORD";

/// Arguments of `login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Email address of the user.
    #[arg(long)]
    pub email: String,
    /// Ask for a long-lived refresh token.
    #[arg(long)]
    pub remember_me: bool,
    /// Print the tokens as JSON instead of saving them.
    #[arg(long)]
    pub print: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of `logout`.
#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Logs in with email and password (from GATEKEY_PASSWORD or standard input).
pub async fn login(args: LoginArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let store = args.client.store()?;
    let password = prompt::secret_line(PASSWORD_ENV, "Password: ").await?;
    let server = args.client.server_or_default();
    let tls = args.client.tls()?;
    let channel = connect::channel(&server, &tls).await?;
    let request = LoginRequest {
        email: args.email.clone(),
        password: password.expose_secret().to_owned(),
        remember_me: args.remember_me,
        user_agent: USER_AGENT.to_owned(),
    };
    let tokens = AuthServiceClient::new(channel)
        .login(request)
        .await
        .context("logging in")?
        .into_inner();
    let session = Session::from_tokens(server, tls, tokens)?;
    if args.print {
        return output::json(out, &serde_json::to_value(session.to_json())?);
    }
    store.save(&session)?;
    let saved = session.to_json();
    if args.client.json {
        let value = json!({
            "server": saved.server,
            "session_file": store.path(),
            "access_token_expires_at": saved.access_token_expires_at,
            "refresh_token_expires_at": saved.refresh_token_expires_at,
        });
        return output::json(out, &value);
    }
    writeln!(
        out,
        "logged in to {} as {}; session saved to {} (renewable until {})",
        saved.server,
        args.email,
        store.path().display(),
        saved.refresh_token_expires_at
    )?;
    Ok(())
}

/// Revokes the saved session's refresh token on the server and deletes the session file.
pub async fn logout(args: LogoutArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let store = args.client.store()?;
    let session = store.require()?;
    let server = connect::session_server(&args.client, &session)?;
    // A refresh token past its expiry is dead on the server already.
    if !session.refresh_expired(chrono::Utc::now()) {
        // Unreachable server: keep the session so that logout can be retried.
        let channel = connect::channel(&server, &args.client.tls_or_saved(&session)?).await?;
        let request = LogoutRequest {
            refresh_token: session.refresh_token.expose_secret().to_owned(),
        };
        let result = AuthServiceClient::new(channel).logout(request).await;
        // Forget the tokens even when the server refused: the user asked to log out.
        store.delete()?;
        result.context("logging out")?;
    } else {
        store.delete()?;
    }
    if args.client.json {
        return output::json(out, &json!({ "logged_out_of": server.to_string() }));
    }
    writeln!(out, "logged out of {server}")?;
    Ok(())
}
