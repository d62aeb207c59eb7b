//! `gatekey limits ...`: the org's default rate limit and per-key overrides.

use super::connect::{Api, ClientArgs};
use super::output::{self, human_enum, human_policy, json_enum, json_policy, or_dash, write_fields};
use super::parse;
use crate::proto::v1::{GetRateLimitRequest, RateLimitPolicy, RateLimitSource, SetRateLimitRequest};
use anyhow::Context as _;
use serde_json::json;
use std::io::Write;
use std::time::Duration;

/// Rate-limit commands.
#[derive(Debug, clap::Subcommand)]
pub enum LimitsCommand {
    /// Set the org's default (--org) or one key's override (--key); --clear removes a key's
    /// override so it shares its org's bucket again.
    Set(SetArgs),
    /// Show the policy in force for a key (--key), else the org's default, and where it
    /// comes from.
    Get(GetArgs),
}

impl LimitsCommand {
    /// The connection options of whichever command this is.
    pub fn client_args_mut(&mut self) -> &mut ClientArgs {
        match self {
            Self::Set(a) => &mut a.client,
            Self::Get(a) => &mut a.client,
        }
    }
}

/// Arguments of `limits set`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["org", "key"]))]
pub struct SetArgs {
    /// Set the org's default.
    #[arg(long)]
    pub org: bool,
    /// Set this key's override.
    #[arg(long, value_name = "ID")]
    pub key: Option<String>,
    /// Requests allowed per window.
    #[arg(long, value_name = "N", required_unless_present = "clear", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// Window length: seconds, or a duration such as 1m.
    #[arg(long, value_name = "SECS", required_unless_present = "clear", value_parser = window)]
    pub window: Option<Duration>,
    /// Requests allowed at once. Default: the limit.
    #[arg(long, value_name = "N")]
    pub burst: Option<u32>,
    /// Remove the key's override.
    #[arg(long, requires = "key", conflicts_with_all = ["org", "limit", "window", "burst"])]
    pub clear: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of `limits get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The key whose policy to show. Default: the org's default.
    #[arg(long, value_name = "ID")]
    pub key: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// A window as whole seconds (`60`) or a duration (`1m`).
fn window(text: &str) -> Result<Duration, String> {
    let window = match text.trim().parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => parse::duration(text)?,
    };
    if window.is_zero() {
        return Err("the window must not be zero".into());
    }
    Ok(window)
}

/// Runs one `limits` command.
pub async fn run(cmd: LimitsCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        LimitsCommand::Set(args) => set(args, out).await,
        LimitsCommand::Get(args) => get(args, out).await,
    }
}

fn set_request(args: &SetArgs) -> SetRateLimitRequest {
    let policy = match (args.clear, args.limit, args.window) {
        (false, Some(limit), Some(window)) => Some(RateLimitPolicy {
            limit,
            window: Some(parse::to_proto_duration(window)),
            burst: args.burst.unwrap_or(limit),
        }),
        // clap requires both unless --clear.
        _ => None,
    };
    SetRateLimitRequest {
        key_id: args.key.clone().unwrap_or_default(),
        policy,
    }
}

async fn set(args: SetArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let request = set_request(&args);
    let api = Api::connect(&args.client).await?;
    let response = api
        .admin()
        .set_rate_limit(api.request(request))
        .await
        .context("setting the rate limit")?
        .into_inner();
    if args.client.json {
        let value = json!({ "key_id": args.key, "policy": json_policy(response.policy.as_ref()) });
        return output::json(out, &value);
    }
    write_fields(
        out,
        &[
            ("for", target(args.key.as_deref())),
            ("policy", human_policy(response.policy.as_ref(), "the org's default")),
        ],
    )?;
    Ok(())
}

async fn get(args: GetArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let api = Api::connect(&args.client).await?;
    let request = GetRateLimitRequest {
        key_id: args.key.clone().unwrap_or_default(),
    };
    let response = api
        .admin()
        .get_rate_limit(api.request(request))
        .await
        .context("reading the rate limit")?
        .into_inner();
    let source_name = RateLimitSource::try_from(response.source).ok().map(|s| s.as_str_name());
    if args.client.json {
        let value = json!({
            "key_id": args.key,
            "policy": json_policy(response.policy.as_ref()),
            "source": json_enum(source_name, "RATE_LIMIT_SOURCE_", response.source),
        });
        return output::json(out, &value);
    }
    write_fields(
        out,
        &[
            ("for", target(args.key.as_deref())),
            ("policy", human_policy(response.policy.as_ref(), "-")),
            (
                "source",
                or_dash(human_enum(source_name, "RATE_LIMIT_SOURCE_", response.source)),
            ),
        ],
    )?;
    Ok(())
}

fn target(key: Option<&str>) -> String {
    key.map_or_else(|| "org default".to_owned(), |key| format!("key {key}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: LimitsCommand,
    }

    fn set_args(argv: &str) -> Result<SetArgs, clap::Error> {
        let argv = std::iter::once("gatekey").chain(argv.split(' '));
        match Cli::try_parse_from(argv)?.cmd {
            LimitsCommand::Set(args) => Ok(args),
            LimitsCommand::Get(_) => Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand)),
        }
    }

    #[test]
    fn a_window_is_seconds_or_a_duration() -> anyhow::Result<()> {
        let args = set_args("set --org --limit 100 --window 60")?;
        let policy = set_request(&args).policy.context("no policy")?;
        assert_eq!((policy.limit, policy.burst), (100, 100));
        assert_eq!(policy.window.map(|w| w.seconds), Some(60));
        let args = set_args("set --key k1 --limit 5 --window 1m --burst 2")?;
        let request = set_request(&args);
        assert_eq!(request.key_id, "k1");
        assert_eq!(
            request.policy.map(|p| (p.burst, p.window.map(|w| w.seconds))),
            Some((2, Some(60)))
        );
        Ok(())
    }

    #[test]
    fn clear_removes_a_keys_override_and_nothing_else() -> anyhow::Result<()> {
        let request = set_request(&set_args("set --key k1 --clear")?);
        assert_eq!((request.key_id.as_str(), request.policy), ("k1", None));
        for bad in [
            "set --org --clear",
            "set --key k1 --clear --limit 5",
            "set --limit 5 --window 60",
            "set --org --key k1 --limit 5 --window 60",
            "set --org --limit 5",
            "set --org --limit 0 --window 60",
            "set --org --limit 5 --window 0",
        ] {
            assert!(set_args(bad).is_err_and(|e| e.exit_code() == 2), "{bad}");
        }
        Ok(())
    }
}
