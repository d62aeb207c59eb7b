//! `gatekey keys issue-pair`: a publishable and a secret key issued together.

use super::connect::{Api, ClientArgs};
use super::keys::{KeyTerms, write_secrets_once};
use super::parse::EnvArg;
use super::{key_view, output};
use crate::proto::v1::{Environment, IssueKeyPairRequest};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use std::io::Write;

/// Arguments of `keys issue-pair`.
#[derive(Debug, clap::Args)]
pub struct IssuePairArgs {
    /// Service account both keys act for.
    #[arg(long, value_name = "ID")]
    pub service_account: String,
    /// Name of the pair; the keys are named `<name> (publishable)` and `<name> (secret)`.
    #[arg(long)]
    pub name: String,
    /// Environment of both keys.
    #[arg(long, value_enum, default_value_t = EnvArg::Live)]
    pub env: EnvArg,
    /// Scope of the secret key; repeat for several.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Scope of the publishable key (read scopes only); repeat for several.
    #[arg(long = "publishable-scope", value_name = "SCOPE")]
    pub publishable_scopes: Vec<String>,
    /// Allowlist, expiry, rate limit and metadata, the same for both keys.
    #[command(flatten)]
    pub terms: KeyTerms,
    #[command(flatten)]
    pub client: ClientArgs,
}

fn request(args: &IssuePairArgs, now: DateTime<Utc>) -> anyhow::Result<IssueKeyPairRequest> {
    let terms = args.terms.resolve(now)?;
    Ok(IssueKeyPairRequest {
        service_account_id: args.service_account.clone(),
        name: args.name.clone(),
        environment: Environment::from(args.env) as i32,
        scopes: args.scopes.clone(),
        publishable_scopes: args.publishable_scopes.clone(),
        ip_allowlist: terms.ip_allowlist,
        expires_at: terms.expires_at,
        rate_limit: terms.rate_limit,
        metadata: terms.metadata,
    })
}

/// Issues the pair and prints both keys, then both secrets once: publishable first.
pub async fn issue(args: IssuePairArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let request = request(&args, Utc::now())?;
    let api = Api::connect(&args.client).await?;
    let mut response = api
        .keys()
        .issue_key_pair(api.request(request))
        .await
        .context("issuing the key pair")?
        .into_inner();
    let publishable_secret = SecretString::from(std::mem::take(&mut response.publishable_secret));
    let secret = SecretString::from(std::mem::take(&mut response.secret));
    let publishable = response
        .publishable_key
        .context("the server's response has no publishable key")?;
    let secret_key = response.secret_key.context("the server's response has no secret key")?;
    if args.client.json {
        let value = json!({
            "pair_id": response.pair_id,
            "publishable_key": key_view::to_json(&publishable),
            "publishable_secret": publishable_secret.expose_secret(),
            "secret_key": key_view::to_json(&secret_key),
            "secret": secret.expose_secret(),
        });
        return output::json(out, &value);
    }
    key_view::table([&publishable, &secret_key]).write(out)?;
    write_secrets_once(out, &[&publishable_secret, &secret])
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: IssuePairArgs,
    }

    #[test]
    fn each_key_of_the_pair_gets_its_own_scopes() -> anyhow::Result<()> {
        let cli = Cli::try_parse_from([
            "x",
            "--service-account",
            "sa",
            "--name",
            "web",
            "--scope",
            "orders.write",
            "--publishable-scope",
            "orders.read",
            "--env",
            "test",
        ])?;
        let request = request(&cli.args, Utc::now())?;
        assert_eq!(request.scopes, ["orders.write"]);
        assert_eq!(request.publishable_scopes, ["orders.read"]);
        assert_eq!(request.environment, Environment::Test as i32);
        Ok(())
    }
}
