//! `gatekey service-accounts ...`: the machine identities that own API keys.

use super::connect::{Api, ClientArgs};
use super::error::UsageError;
use super::output::PageArgs;
use super::output::{self, Table, human_enum, human_time, json_enum, json_time};
use super::parse::RoleArg;
use super::prompt;
use crate::proto::v1::{
    CreateServiceAccountRequest, DeleteServiceAccountRequest, ListServiceAccountsRequest, Role, ServiceAccount,
};
use anyhow::Context as _;
use serde_json::{Value, json};
use std::io::Write;

/// Service-account commands.
#[derive(Debug, clap::Subcommand)]
pub enum ServiceAccountsCommand {
    /// Create a service account.
    Create(CreateArgs),
    /// List the org's service accounts.
    List(ListArgs),
    /// Delete a service account and revoke its keys; asks first unless --yes.
    Delete(DeleteArgs),
}

impl ServiceAccountsCommand {
    /// The connection options of whichever command this is.
    pub fn client_args_mut(&mut self) -> &mut ClientArgs {
        match self {
            Self::Create(a) => &mut a.client,
            Self::List(a) => &mut a.client,
            Self::Delete(a) => &mut a.client,
        }
    }
}

/// Arguments of `service-accounts delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// Id of the service account.
    pub service_account_id: String,
    /// Delete without asking (required when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of `service-accounts create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Name to recognise the account by.
    #[arg(long)]
    pub name: String,
    /// Role its keys act with.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of `service-accounts list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs one `service-accounts` command.
pub async fn run(cmd: ServiceAccountsCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        ServiceAccountsCommand::Create(args) => create(args, out).await,
        ServiceAccountsCommand::List(args) => list(args, out).await,
        ServiceAccountsCommand::Delete(args) => delete(args, out).await,
    }
}

async fn delete(args: DeleteArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let id = args.service_account_id;
    // Its keys stop working everywhere at once: ask before doing that by accident.
    if !args.yes {
        let question = format!("Delete service account {id} and revoke all its keys?");
        if !prompt::confirm(&question, "--yes").await? {
            return Err(UsageError("not confirmed; nothing was deleted".into()).into());
        }
    }
    let api = Api::connect(&args.client).await?;
    let request = DeleteServiceAccountRequest {
        service_account_id: id.clone(),
    };
    let response = api
        .admin()
        .delete_service_account(api.request(request))
        .await
        .context("deleting the service account")?
        .into_inner();
    if args.client.json {
        let value = json!({ "service_account_id": id, "revoked_keys": response.revoked_keys });
        return output::json(out, &value);
    }
    writeln!(
        out,
        "deleted service account {id}; {} active key(s) revoked",
        response.revoked_keys
    )?;
    Ok(())
}

async fn create(args: CreateArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = CreateServiceAccountRequest {
        name: args.name,
        role: Role::from(args.role) as i32,
    };
    let response = api
        .admin()
        .create_service_account(api.request(request))
        .await
        .context("creating the service account")?
        .into_inner();
    let account = response
        .service_account
        .context("the server's response has no service account")?;
    if args.client.json {
        return output::json(out, &json!({ "service_account": to_json(&account) }));
    }
    table([&account]).write(out)?;
    Ok(())
}

async fn list(args: ListArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = ListServiceAccountsRequest {
        page_size: args.page.size(),
        page_token: args.page.token(),
    };
    let response = api
        .admin()
        .list_service_accounts(api.request(request))
        .await
        .context("listing service accounts")?
        .into_inner();
    if args.client.json {
        let accounts: Vec<_> = response.service_accounts.iter().map(to_json).collect();
        let value = json!({
            "service_accounts": accounts,
            "next_page_token": response.next_page_token,
        });
        return output::json(out, &value);
    }
    table(&response.service_accounts).write(out)?;
    output::write_next_page(out, &response.next_page_token)?;
    Ok(())
}

fn role_name(account: &ServiceAccount) -> Option<&'static str> {
    Role::try_from(account.role).ok().map(|r| r.as_str_name())
}

fn table<'a>(accounts: impl IntoIterator<Item = &'a ServiceAccount>) -> Table {
    let mut table = Table::new(&["ID", "NAME", "ROLE", "CREATED"]);
    for account in accounts {
        table.row([
            account.id.clone(),
            account.name.clone(),
            human_enum(role_name(account), "ROLE_", account.role),
            human_time(account.created_at.as_ref(), "-"),
        ]);
    }
    table
}

fn to_json(account: &ServiceAccount) -> Value {
    json!({
        "id": account.id,
        "org_id": account.org_id,
        "name": account.name,
        "role": json_enum(role_name(account), "ROLE_", account.role),
        "created_at": json_time(account.created_at.as_ref()),
    })
}
