//! `gatekey password change`: the logged-in user changes their own password.

use super::connect::{Api, ClientArgs};
use super::error::UsageError;
use super::output;
use super::prompt;
use crate::proto::v1::ChangePasswordRequest;
use anyhow::Context as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use std::io::Write;

/// Password commands.
#[derive(Debug, clap::Subcommand)]
pub enum PasswordCommand {
    /// Change your own password; your other sessions end. Asks for the current password and
    /// the new one twice on the terminal (no echo), or reads two lines, current then new,
    /// with --password-stdin. Never from an argument.
    Change(ChangeArgs),
}

impl PasswordCommand {
    /// The connection options of whichever command this is.
    pub fn client_args_mut(&mut self) -> &mut ClientArgs {
        match self {
            Self::Change(a) => &mut a.client,
        }
    }
}

/// Arguments of `password change`.
#[derive(Debug, clap::Args)]
pub struct ChangeArgs {
    /// Read the current and the new password from two lines of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs one `password` command.
pub async fn run(cmd: PasswordCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        PasswordCommand::Change(args) => change(args, out).await,
    }
}

/// The current and the new password, typed or read from standard input.
async fn passwords(from_stdin: bool) -> anyhow::Result<(SecretString, SecretString)> {
    if from_stdin {
        let mut lines = prompt::secret_lines(2, "the current and the new password")
            .await?
            .into_iter();
        return match (lines.next(), lines.next()) {
            (Some(current), Some(new)) => Ok((current, new)),
            _ => Err(UsageError("expected two lines: the current and the new password".into()).into()),
        };
    }
    if !prompt::interactive() {
        return Err(UsageError("standard input is not a terminal: pass --password-stdin".into()).into());
    }
    let current = prompt::typed_password("Current password: ").await?;
    let new = prompt::typed_password("New password: ").await?;
    let again = prompt::typed_password("New password again: ").await?;
    if new.expose_secret() != again.expose_secret() {
        return Err(UsageError("the new passwords differ; nothing was changed".into()).into());
    }
    Ok((current, new))
}

async fn change(args: ChangeArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let (current, new) = passwords(args.password_stdin).await?;
    let api = Api::connect(&args.client).await?;
    let request = ChangePasswordRequest {
        current_password: current.expose_secret().to_owned(),
        new_password: new.expose_secret().to_owned(),
    };
    let response = api
        .auth()
        .change_password(api.request(request))
        .await
        .context("changing the password")?
        .into_inner();
    if args.client.json {
        return output::json(out, &json!({ "ended_sessions": response.ended_sessions }));
    }
    writeln!(
        out,
        "password changed; {} other session(s) ended",
        response.ended_sessions
    )?;
    Ok(())
}
