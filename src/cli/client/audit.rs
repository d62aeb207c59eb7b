//! `gatekey audit ...`: the org's audit trail.

use super::connect::{Api, ClientArgs};
use super::output::PageArgs;
use super::output::{self, Table, human_map, human_time, json_map, json_time, or_dash};
use crate::proto::v1::{AuditEvent, ListAuditEventsRequest};
use anyhow::Context as _;
use serde_json::{Value, json};
use std::io::Write;

/// Audit commands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// List audit events.
    List(ListArgs),
}

impl AuditCommand {
    /// The connection options of whichever command this is.
    pub fn client_args_mut(&mut self) -> &mut ClientArgs {
        match self {
            Self::List(a) => &mut a.client,
        }
    }
}

/// Arguments of `audit list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only events with exactly this action, e.g. service_account.key_revoked.
    #[arg(long)]
    pub action: Option<String>,
    /// Only events by this user or key (its id).
    #[arg(long, value_name = "ID")]
    pub actor: Option<String>,
    /// Only events on this object (its id: a key, service account, user...).
    #[arg(long, value_name = "ID")]
    pub target: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs one `audit` command.
pub async fn run(cmd: AuditCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::List(args) => list(args, out).await,
    }
}

async fn list(args: ListArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = ListAuditEventsRequest {
        page_size: args.page.size(),
        page_token: args.page.token(),
        action: args.action.unwrap_or_default(),
        actor: args.actor.unwrap_or_default(),
        target: args.target.unwrap_or_default(),
    };
    let response = api
        .admin()
        .list_audit_events(api.request(request))
        .await
        .context("listing audit events")?
        .into_inner();
    if args.client.json {
        let events: Vec<_> = response.events.iter().map(to_json).collect();
        let value = json!({ "events": events, "next_page_token": response.next_page_token });
        return output::json(out, &value);
    }
    let mut table = Table::new(&["TIME", "ACTOR", "ACTION", "TARGET", "KEY", "CLIENT IP", "DETAILS"]);
    for event in &response.events {
        table.row([
            human_time(event.occurred_at.as_ref(), "-"),
            actor(event),
            event.action.clone(),
            or_dash(event.target.clone()),
            or_dash(event.key_prefix.clone()),
            or_dash(event.client_ip.clone()),
            human_map(&event.details),
        ]);
    }
    table.write(out)?;
    output::write_next_page(out, &response.next_page_token)?;
    Ok(())
}

/// Who acted, in words when the server knows them (an email, a key's prefix).
fn actor(event: &AuditEvent) -> String {
    if event.actor_display.is_empty() {
        event.actor.clone()
    } else {
        event.actor_display.clone()
    }
}

fn to_json(event: &AuditEvent) -> Value {
    json!({
        "id": event.id,
        "org_id": event.org_id,
        "actor": event.actor,
        "actor_display": event.actor_display,
        "action": event.action,
        "target": event.target,
        "key_prefix": event.key_prefix,
        "client_ip": event.client_ip,
        "occurred_at": json_time(event.occurred_at.as_ref()),
        "details": json_map(&event.details),
    })
}
