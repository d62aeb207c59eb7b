//! `gatekey keys ...`: the API-key lifecycle through KeyService.

use super::connect::{Api, ClientArgs};
use super::error::UsageError;
use super::key_pair::{self, IssuePairArgs};
use super::output::PageArgs;
use super::parse::{self, EnvArg, KindArg, RateSpec};
use super::{key_view, output};
use crate::proto::v1::{
    ApiKey, DeleteKeyRequest, DisableKeyRequest, EnableKeyRequest, Environment, GetKeyRequest, IssueKeyRequest,
    KeyKind, ListKeysRequest, RateLimitPolicy, RevokeKeyRequest, RotateKeyRequest,
};
use anyhow::Context as _;
use chrono::{DateTime, SubsecRound as _, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

/// API-key commands.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Issue a key for a service account; its secret is shown this once only.
    Issue(IssueArgs),
    /// List keys, of one service account or of the whole org.
    List(ListArgs),
    /// Show one key.
    Get(KeyIdArgs),
    /// Replace a key by a new one with the same settings; the new secret is shown once.
    Rotate(RotateArgs),
    /// Revoke a key: it is refused from now on but stays listed.
    Revoke(KeyIdArgs),
    /// Delete a key for good.
    Delete(KeyIdArgs),
    /// Suspend a key: refused with DISABLED until it is enabled again.
    Disable(KeyIdArgs),
    /// Lift a suspension.
    Enable(KeyIdArgs),
    /// Issue a publishable (pk_) and a secret (sk_) key together; both secrets are shown
    /// this once only.
    IssuePair(IssuePairArgs),
}

impl KeysCommand {
    /// The connection options of whichever command this is.
    pub fn client_args_mut(&mut self) -> &mut ClientArgs {
        match self {
            Self::Issue(a) => &mut a.client,
            Self::List(a) => &mut a.client,
            Self::Rotate(a) => &mut a.client,
            Self::IssuePair(a) => &mut a.client,
            Self::Get(a) | Self::Revoke(a) | Self::Delete(a) | Self::Disable(a) | Self::Enable(a) => &mut a.client,
        }
    }
}

/// Arguments of `keys issue`.
#[derive(Debug, clap::Args)]
pub struct IssueArgs {
    /// Service account the key acts for.
    #[arg(long, value_name = "ID")]
    pub service_account: String,
    /// Name to recognise the key by.
    #[arg(long)]
    pub name: String,
    /// `publishable` keys may carry read-only scopes only.
    #[arg(long, value_enum, default_value_t = KindArg::Secret)]
    pub kind: KindArg,
    /// Environment the key is for.
    #[arg(long, value_enum, default_value_t = EnvArg::Live)]
    pub env: EnvArg,
    /// Scope granted to the key; repeat for several.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    #[command(flatten)]
    pub terms: KeyTerms,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// What a new key is issued with besides its name, kind and scopes; a pair's two keys share
/// them (`keys issue` and `keys issue-pair`).
#[derive(Debug, clap::Args)]
pub struct KeyTerms {
    /// Client network allowed to use the key; repeat for several. Default: any.
    #[arg(long = "ip", value_name = "CIDR")]
    pub ip_allowlist: Vec<String>,
    /// When the key expires. Default: never.
    #[arg(long, value_name = "RFC3339", value_parser = parse::timestamp, conflicts_with = "expires_in")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Expire the key this long from now, e.g. 90d.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub expires_in: Option<Duration>,
    /// Own rate limit, e.g. 100/1m. Default: the org's.
    #[arg(long, value_name = "LIMIT/WINDOW", value_parser = parse::rate_limit)]
    pub rate_limit: Option<RateSpec>,
    /// Requests allowed at once under --rate-limit. Default: the limit.
    #[arg(long, requires = "rate_limit")]
    pub burst: Option<u32>,
    /// Metadata entry; repeat for several.
    #[arg(long = "metadata", value_name = "KEY=VALUE", value_parser = parse::metadata)]
    pub metadata: Vec<(String, String)>,
}

/// [`KeyTerms`] as the request fields they fill.
pub(super) struct IssueTerms {
    pub ip_allowlist: Vec<String>,
    pub expires_at: Option<prost_types::Timestamp>,
    pub rate_limit: Option<RateLimitPolicy>,
    pub metadata: HashMap<String, String>,
}

impl KeyTerms {
    /// The request fields, an `--expires-in` counted from `now`.
    pub(super) fn resolve(&self, now: DateTime<Utc>) -> anyhow::Result<IssueTerms> {
        Ok(IssueTerms {
            ip_allowlist: self.ip_allowlist.clone(),
            expires_at: expiry(self.expires_at, self.expires_in, now)?.map(parse::to_proto_timestamp),
            rate_limit: policy(self.rate_limit, self.burst),
            metadata: metadata_map(&self.metadata)?,
        })
    }
}

/// Arguments of `keys list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only keys of this service account.
    #[arg(long, value_name = "ID")]
    pub service_account: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of commands acting on one key.
#[derive(Debug, clap::Args)]
pub struct KeyIdArgs {
    /// Id of the key.
    pub key_id: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of `keys rotate`.
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// Id of the key to replace.
    pub key_id: String,
    /// Keep the old key working this long, e.g. 1h. Default: revoke it at once.
    #[arg(long, value_name = "DURATION", value_parser = parse::duration)]
    pub grace: Option<Duration>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs one `keys` command.
pub async fn run(cmd: KeysCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Issue(args) => issue(args, out).await,
        KeysCommand::List(args) => list(args, out).await,
        KeysCommand::Get(args) => get(args, out).await,
        KeysCommand::Rotate(args) => rotate(args, out).await,
        KeysCommand::Revoke(args) => revoke(args, out).await,
        KeysCommand::Delete(args) => delete(args, out).await,
        KeysCommand::Disable(args) => disable(args, out).await,
        KeysCommand::Enable(args) => enable(args, out).await,
        KeysCommand::IssuePair(args) => key_pair::issue(args, out).await,
    }
}

/// The expiry asked for by `--expires-at` or `--expires-in` (counted from `now`).
fn expiry(
    at: Option<DateTime<Utc>>,
    after: Option<Duration>,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    Ok(match (at, after) {
        (Some(at), _) => Some(at),
        // Whole seconds: sub-second precision in an expiry only looks like noise.
        (None, Some(after)) => Some(now.trunc_subsecs(0) + chrono::Duration::from_std(after)?),
        (None, None) => None,
    })
}

/// The `--metadata` entries as a map; a key given twice is a usage error.
fn metadata_map(entries: &[(String, String)]) -> anyhow::Result<HashMap<String, String>> {
    let mut metadata = HashMap::new();
    for (key, value) in entries {
        if metadata.insert(key.clone(), value.clone()).is_some() {
            return Err(UsageError(format!("--metadata {key} is given twice")).into());
        }
    }
    Ok(metadata)
}

/// The policy of `--rate-limit` and `--burst`; the burst defaults to the whole limit.
fn policy(spec: Option<RateSpec>, burst: Option<u32>) -> Option<RateLimitPolicy> {
    spec.map(|spec| RateLimitPolicy {
        limit: spec.limit,
        window: Some(parse::to_proto_duration(spec.window)),
        burst: burst.unwrap_or(spec.limit),
    })
}

fn issue_request(args: &IssueArgs, now: DateTime<Utc>) -> anyhow::Result<IssueKeyRequest> {
    let terms = args.terms.resolve(now)?;
    Ok(IssueKeyRequest {
        service_account_id: args.service_account.clone(),
        name: args.name.clone(),
        kind: KeyKind::from(args.kind) as i32,
        environment: Environment::from(args.env) as i32,
        scopes: args.scopes.clone(),
        ip_allowlist: terms.ip_allowlist,
        expires_at: terms.expires_at,
        rate_limit: terms.rate_limit,
        metadata: terms.metadata,
    })
}

async fn issue(args: IssueArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let request = issue_request(&args, Utc::now())?;
    let api = Api::connect(&args.client).await?;
    let mut response = api
        .keys()
        .issue_key(api.request(request))
        .await
        .context("issuing the key")?
        .into_inner();
    let secret = SecretString::from(std::mem::take(&mut response.secret));
    let key = response.key.context("the server's response has no key")?;
    if args.client.json {
        let value = json!({ "key": key_view::to_json(&key), "secret": secret.expose_secret() });
        return output::json(out, &value);
    }
    key_view::table([&key]).write(out)?;
    write_secret_once(out, &secret)
}

/// The secret on its own line, after a warning on stderr (so `| tail -n1` captures it).
fn write_secret_once(out: &mut impl Write, secret: &SecretString) -> anyhow::Result<()> {
    write_secrets_once(out, &[secret])
}

/// Each secret on its own line, after one warning on stderr.
pub(super) fn write_secrets_once(out: &mut impl Write, secrets: &[&SecretString]) -> anyhow::Result<()> {
    let what = if secrets.len() == 1 {
        "the secret below"
    } else {
        "the secrets below"
    };
    // A closed stderr must not stop the secret from being printed.
    let _ = writeln!(
        std::io::stderr(),
        "\nwarning: {what} will not be shown again; store it somewhere safe now"
    );
    for secret in secrets {
        writeln!(out, "{}", secret.expose_secret())?;
    }
    Ok(())
}

async fn list(args: ListArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = ListKeysRequest {
        service_account_id: args.service_account.unwrap_or_default(),
        page_size: args.page.size(),
        page_token: args.page.token(),
    };
    let response = api
        .keys()
        .list_keys(api.request(request))
        .await
        .context("listing keys")?
        .into_inner();
    if args.client.json {
        let keys: Vec<_> = response.keys.iter().map(key_view::to_json).collect();
        let value = json!({ "keys": keys, "next_page_token": response.next_page_token });
        return output::json(out, &value);
    }
    key_view::table(&response.keys).write(out)?;
    output::write_next_page(out, &response.next_page_token)?;
    Ok(())
}

async fn get(args: KeyIdArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = GetKeyRequest { key_id: args.key_id };
    let response = api
        .keys()
        .get_key(api.request(request))
        .await
        .context("getting the key")?
        .into_inner();
    let key = response.key.context("the server's response has no key")?;
    if args.client.json {
        return output::json(out, &json!({ "key": key_view::to_json(&key) }));
    }
    key_view::write_details(out, &key)?;
    Ok(())
}

async fn rotate(args: RotateArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = RotateKeyRequest {
        key_id: args.key_id,
        grace_period: args.grace.map(parse::to_proto_duration),
    };
    let mut response = api
        .keys()
        .rotate_key(api.request(request))
        .await
        .context("rotating the key")?
        .into_inner();
    let secret = SecretString::from(std::mem::take(&mut response.secret));
    let paired_secret = SecretString::from(std::mem::take(&mut response.paired_secret));
    let new_key = response.new_key.context("the server's response has no new key")?;
    let old_key = response.old_key.context("the server's response has no old key")?;
    // A key of a pair rotates with its partner; both new secrets are shown this once.
    let paired = response.paired_new_key.zip(response.paired_old_key);
    if args.client.json {
        let (paired_new, paired_old) = paired.as_ref().map_or((None, None), |(new, old)| {
            (Some(key_view::to_json(new)), Some(key_view::to_json(old)))
        });
        let value = json!({
            "new_key": key_view::to_json(&new_key),
            "secret": secret.expose_secret(),
            "old_key": key_view::to_json(&old_key),
            "paired_new_key": paired_new,
            "paired_secret": paired.as_ref().map(|_| paired_secret.expose_secret()),
            "paired_old_key": paired_old,
        });
        return output::json(out, &value);
    }
    match &paired {
        Some((paired_new, paired_old)) => {
            key_view::table([&new_key, paired_new, &old_key, paired_old]).write(out)?;
            write_secrets_once(out, &[&secret, &paired_secret])
        }
        None => {
            key_view::table([&new_key, &old_key]).write(out)?;
            write_secret_once(out, &secret)
        }
    }
}

async fn revoke(args: KeyIdArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = RevokeKeyRequest { key_id: args.key_id };
    let response = api
        .keys()
        .revoke_key(api.request(request))
        .await
        .context("revoking the key")?
        .into_inner();
    let key = response.key.context("the server's response has no key")?;
    write_key(out, args.client.json, &key)
}

async fn disable(args: KeyIdArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = DisableKeyRequest { key_id: args.key_id };
    let response = api
        .keys()
        .disable_key(api.request(request))
        .await
        .context("disabling the key")?
        .into_inner();
    let key = response.key.context("the server's response has no key")?;
    write_key(out, args.client.json, &key)
}

async fn enable(args: KeyIdArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = EnableKeyRequest { key_id: args.key_id };
    let response = api
        .keys()
        .enable_key(api.request(request))
        .await
        .context("enabling the key")?
        .into_inner();
    let key = response.key.context("the server's response has no key")?;
    write_key(out, args.client.json, &key)
}

fn write_key(out: &mut impl Write, json: bool, key: &ApiKey) -> anyhow::Result<()> {
    if json {
        return output::json(out, &json!({ "key": key_view::to_json(key) }));
    }
    key_view::table([key]).write(out)?;
    Ok(())
}

async fn delete(args: KeyIdArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = DeleteKeyRequest {
        key_id: args.key_id.clone(),
    };
    api.keys()
        .delete_key(api.request(request))
        .await
        .context("deleting the key")?;
    if args.client.json {
        return output::json(out, &json!({ "deleted_key_id": args.key_id }));
    }
    writeln!(out, "deleted key {}", args.key_id)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: KeysCommand,
    }

    fn issue_args(argv: &[&str]) -> anyhow::Result<IssueArgs> {
        let base = ["gatekey", "issue", "--service-account", "sa1", "--name", "n"];
        match Cli::try_parse_from(base.iter().chain(argv))?.cmd {
            KeysCommand::Issue(args) => Ok(args),
            _ => anyhow::bail!("not an issue command"),
        }
    }

    #[test]
    fn a_rate_limit_without_burst_allows_the_whole_limit_at_once() -> anyhow::Result<()> {
        let args = issue_args(&["--rate-limit", "100/1m", "--metadata", "team=billing"])?;
        let request = issue_request(&args, Utc::now())?;
        let policy = request.rate_limit.context("no policy")?;
        assert_eq!((policy.limit, policy.burst), (100, 100));
        assert_eq!(policy.window.map(|w| w.seconds), Some(60));
        assert_eq!(request.metadata.get("team").map(String::as_str), Some("billing"));
        Ok(())
    }

    #[test]
    fn expires_in_counts_from_now() -> anyhow::Result<()> {
        let now = Utc::now();
        let request = issue_request(&issue_args(&["--expires-in", "1h"])?, now)?;
        let expected = now.timestamp() + 3_600;
        assert_eq!(request.expires_at.map(|t| t.seconds), Some(expected));
        Ok(())
    }

    #[test]
    fn conflicting_or_repeated_values_are_usage_errors() -> anyhow::Result<()> {
        assert!(issue_args(&["--expires-in", "1h", "--expires-at", "2030-01-01T00:00:00Z"]).is_err());
        assert!(issue_args(&["--burst", "5"]).is_err());
        assert!(issue_args(&["--expires-in", "soon"]).is_err());
        let twice = issue_args(&["--metadata", "a=1", "--metadata", "a=2"])?;
        let err = issue_request(&twice, Utc::now()).err().context("accepted")?;
        assert!(err.is::<UsageError>());
        Ok(())
    }
}
