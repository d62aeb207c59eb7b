//! `gatekey users ...`: people who log in with a password, and their role in the org.

use super::connect::{Api, ClientArgs};
use super::output::{self, PageArgs, Table, human_role, human_time, json_role, json_time};
use super::parse::RoleArg;
use super::prompt;
use crate::proto::v1::{CreateUserRequest, ListUsersRequest, RemoveUserRequest, Role, SetUserRoleRequest, User};
use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
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
    /// List the members of the caller's org.
    List(ListArgs),
    /// Change a member's role (never above your own, never the org's last owner).
    SetRole(SetRoleArgs),
    /// Remove a member from the org; their sessions end at once.
    Remove(UserIdArgs),
}

impl UsersCommand {
    /// The connection options of whichever command this is.
    pub fn client_args_mut(&mut self) -> &mut ClientArgs {
        match self {
            Self::Create(a) => &mut a.client,
            Self::List(a) => &mut a.client,
            Self::SetRole(a) => &mut a.client,
            Self::Remove(a) => &mut a.client,
        }
    }
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

/// Arguments of `users list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of `users set-role`.
#[derive(Debug, clap::Args)]
pub struct SetRoleArgs {
    /// Id of the user.
    pub user_id: String,
    /// The new role.
    #[arg(value_enum)]
    pub role: RoleArg,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of commands acting on one user.
#[derive(Debug, clap::Args)]
pub struct UserIdArgs {
    /// Id of the user.
    pub user_id: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs one `users` command.
pub async fn run(cmd: UsersCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        UsersCommand::Create(args) => create(args, out).await,
        UsersCommand::List(args) => list(args, out).await,
        UsersCommand::SetRole(args) => set_role(args, out).await,
        UsersCommand::Remove(args) => remove(args, out).await,
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
    write_user(out, args.client.json, &user)
}

async fn list(args: ListArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = ListUsersRequest {
        page_size: args.page.size(),
        page_token: args.page.token(),
    };
    let response = api
        .admin()
        .list_users(api.request(request))
        .await
        .context("listing users")?
        .into_inner();
    if args.client.json {
        let users: Vec<_> = response.users.iter().map(to_json).collect();
        let value = json!({ "users": users, "next_page_token": response.next_page_token });
        return output::json(out, &value);
    }
    table(&response.users).write(out)?;
    output::write_next_page(out, &response.next_page_token)?;
    Ok(())
}

async fn set_role(args: SetRoleArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = SetUserRoleRequest {
        user_id: args.user_id,
        role: Role::from(args.role) as i32,
    };
    let response = api
        .admin()
        .set_user_role(api.request(request))
        .await
        .context("changing the user's role")?
        .into_inner();
    let user = response.user.context("the server's response has no user")?;
    write_user(out, args.client.json, &user)
}

async fn remove(args: UserIdArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = RemoveUserRequest {
        user_id: args.user_id.clone(),
    };
    api.admin()
        .remove_user(api.request(request))
        .await
        .context("removing the user")?;
    if args.client.json {
        return output::json(out, &json!({ "removed_user_id": args.user_id }));
    }
    writeln!(out, "removed user {}", args.user_id)?;
    Ok(())
}

fn write_user(out: &mut impl Write, json: bool, user: &User) -> anyhow::Result<()> {
    if json {
        return output::json(out, &json!({ "user": to_json(user) }));
    }
    table([user]).write(out)?;
    Ok(())
}

fn table<'a>(users: impl IntoIterator<Item = &'a User>) -> Table {
    let mut table = Table::new(&["ID", "EMAIL", "ROLE", "CREATED", "LAST LOGIN"]);
    for user in users {
        table.row([
            user.id.clone(),
            user.email.clone(),
            human_role(user.role),
            human_time(user.created_at.as_ref(), "-"),
            human_time(user.last_login_at.as_ref(), "never"),
        ]);
    }
    table
}

fn to_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "org_id": user.org_id,
        "email": user.email,
        "role": json_role(user.role),
        "created_at": json_time(user.created_at.as_ref()),
        "last_login_at": json_time(user.last_login_at.as_ref()),
    })
}
