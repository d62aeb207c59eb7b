//! `gatekey users ...`: people who log in with a password.

use super::connect::{Api, ClientArgs};
use super::output::{self, Table, human_enum, human_time, json_enum, json_time};
use super::parse::RoleArg;
use super::prompt;
use crate::proto::v1::{CreateUserRequest, Role, User};
use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use serde_json::json;
use std::io::Write;

/// Where `users create` reads the new user's password; else the terminal (no echo), else one
/// line of standard input.
pub const NEW_USER_PASSWORD_ENV: &str = "GATEKEY_NEW_USER_PASSWORD";

/// User commands.
#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Create a user in the caller's org. The password is read from
    /// GATEKEY_NEW_USER_PASSWORD, else typed without echo on a terminal, else from one line
    /// of standard input.
    Create(CreateArgs),
}

/// Arguments of `users create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Email address the user logs in with.
    #[arg(long)]
    pub email: String,
    /// Role of the user in the org.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs one `users` command.
pub async fn run(cmd: UsersCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        UsersCommand::Create(args) => create(args, out).await,
    }
}

async fn create(args: CreateArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let password = prompt::secret_line(NEW_USER_PASSWORD_ENV, "New user's password: ").await?;
    let api = Api::connect(&args.client).await?;
    let request = CreateUserRequest {
        email: args.email,
        password: password.expose_secret().to_owned(),
        role: Role::from(args.role) as i32,
    };
    let response = api
        .admin()
        .create_user(api.request(request))
        .await
        .context("creating the user")?
        .into_inner();
    let user = response.user.context("the server's response has no user")?;
    let role_name = Role::try_from(user.role).ok().map(|r| r.as_str_name());
    if args.client.json {
        let value = json!({ "user": {
            "id": user.id,
            "org_id": user.org_id,
            "email": user.email,
            "role": json_enum(role_name, user.role),
            "created_at": json_time(user.created_at.as_ref()),
        }});
        return output::json(out, &value);
    }
    let mut table = Table::new(&["ID", "EMAIL", "ROLE", "CREATED"]);
    let User {
        id,
        email,
        role,
        created_at,
        ..
    } = user;
    table.row([
        id,
        email,
        human_enum(role_name, "ROLE_", role),
        human_time(created_at.as_ref(), "-"),
    ]);
    table.write(out)?;
    Ok(())
}
