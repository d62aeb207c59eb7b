//! `gatekey roles ...`: which scopes each role grants the org's users.

use super::connect::{Api, ClientArgs};
use super::output::{self, Table, human_role, json_role, or_dash};
use super::parse::RoleArg;
use crate::proto::v1::{ListRoleScopesRequest, Role, SetRoleScopesRequest};
use anyhow::Context as _;
use serde_json::json;
use std::io::Write;

/// Role commands.
#[derive(Debug, clap::Subcommand)]
pub enum RolesCommand {
    /// Set the scopes a role grants (replacing the ones it had); none at all clears them.
    SetScopes(SetScopesArgs),
    /// Show the scopes each role grants.
    List(ListArgs),
}

impl RolesCommand {
    /// The connection options of whichever command this is.
    pub fn client_args_mut(&mut self) -> &mut ClientArgs {
        match self {
            Self::SetScopes(a) => &mut a.client,
            Self::List(a) => &mut a.client,
        }
    }
}

/// Arguments of `roles set-scopes`.
#[derive(Debug, clap::Args)]
pub struct SetScopesArgs {
    /// The role.
    #[arg(value_enum)]
    pub role: RoleArg,
    /// The scopes it grants, e.g. invoices.read.
    pub scopes: Vec<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of `roles list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs one `roles` command.
pub async fn run(cmd: RolesCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        RolesCommand::SetScopes(args) => set_scopes(args, out).await,
        RolesCommand::List(args) => list(args, out).await,
    }
}

async fn set_scopes(args: SetScopesArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = SetRoleScopesRequest {
        role: Role::from(args.role) as i32,
        scopes: args.scopes,
    };
    let response = api
        .admin()
        .set_role_scopes(api.request(request))
        .await
        .context("setting the role's scopes")?
        .into_inner();
    if args.client.json {
        let value = json!({ "role": json_role(response.role), "scopes": response.scopes });
        return output::json(out, &value);
    }
    write_table(out, [(response.role, &response.scopes)])
}

async fn list(args: ListArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let response = api
        .admin()
        .list_role_scopes(api.request(ListRoleScopesRequest {}))
        .await
        .context("listing role scopes")?
        .into_inner();
    if args.client.json {
        let roles: Vec<_> = response
            .roles
            .iter()
            .map(|r| json!({ "role": json_role(r.role), "scopes": r.scopes }))
            .collect();
        return output::json(out, &json!({ "roles": roles }));
    }
    write_table(out, response.roles.iter().map(|r| (r.role, &r.scopes)))
}

fn write_table<'a>(
    out: &mut impl Write,
    roles: impl IntoIterator<Item = (i32, &'a Vec<String>)>,
) -> anyhow::Result<()> {
    let mut table = Table::new(&["ROLE", "SCOPES"]);
    for (role, scopes) in roles {
        table.row([human_role(role), or_dash(scopes.join(","))]);
    }
    table.write(out)?;
    Ok(())
}
