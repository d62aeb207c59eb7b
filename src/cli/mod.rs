//! Command-line interface: the server commands (`serve`, `migrate`, `bootstrap`,
//! `healthcheck`) and the admin client commands that talk gRPC to a running server.
//!
//! Exit codes: 0 ok, 1 refused (by the server or the store), failed or denied (`verify`),
//! 2 usage error. With the global `--json`, results are one JSON object on stdout and an
//! error is one JSON object `{"code", "message", "details"}` on stderr.

pub mod client;
mod healthcheck;
mod server;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// gatekey: API keys and tokens for your gateway.
#[derive(Debug, Parser)]
#[command(name = "gatekey", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Print each result as one JSON object, and an error as one JSON object on stderr.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand, gatekey serves with these flags.
    #[command(flatten)]
    serve: server::ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve gRPC and HTTP (the default with no subcommand).
    Serve(server::ServeArgs),
    /// Apply pending migrations and exit.
    Migrate(server::StoreArgs),
    /// Create an org and its first owner; prints {"org_id", "user_id", "database"}.
    Bootstrap(server::BootstrapArgs),
    /// Probe the local server's HTTP listener (for container health checks); exit 0 when
    /// healthy.
    Healthcheck(healthcheck::HealthcheckArgs),
    #[command(flatten)]
    Client(client::ClientCommand),
}

/// Parses the command line and runs the command on a multi-threaded runtime.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(json_flag_last(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => return client::usage_failure(&e, client::asks_for_json(std::env::args_os())),
    };
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let err = anyhow::Error::new(e).context("cannot start the async runtime");
            return client::report(&err, json);
        }
    };
    runtime.block_on(async move {
        match cli.command {
            None => server::serve(cli.serve, json).await,
            Some(Command::Serve(args)) => server::serve(args, json).await,
            Some(Command::Migrate(args)) => server::migrate(args, json).await,
            Some(Command::Bootstrap(args)) => server::bootstrap(args, json).await,
            Some(Command::Healthcheck(args)) => healthcheck::run(args, json).await,
            Some(Command::Client(mut cmd)) => {
                // The global flag and the command's own `--json` are one flag; either sets it.
                cmd.client_args_mut().json |= json;
                client::run(cmd).await
            }
        }
    })
}

/// The arguments with leading `--json` flags moved after the command, so `gatekey --json keys
/// list` works like `gatekey keys list --json`: a bare `gatekey` takes the serve flags, which
/// makes clap refuse any flag before a subcommand.
fn json_flag_last(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut args: Vec<_> = args.collect();
    let leading = args.iter().skip(1).take_while(|a| *a == "--json").count();
    if leading > 0 && args.len() > leading + 1 {
        args.drain(1..=leading);
        args.push("--json".into());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn a_leading_json_flag_works_like_a_trailing_one() {
        let args = |line: &str| json_flag_last(line.split(' ').map(Into::into));
        let cli = Cli::try_parse_from(args("gatekey --json keys list")).unwrap();
        assert!(cli.json || matches!(cli.command, Some(Command::Client(_))));
        assert_eq!(args("gatekey --json keys list"), args("gatekey keys list --json"));
        assert_eq!(args("gatekey --json"), vec!["gatekey", "--json"]);
    }

    #[test]
    fn the_whole_command_line_is_consistent_with_the_global_json_flag() {
        Cli::command().debug_assert();
        for argv in [
            "gatekey keys list --json",
            "gatekey bootstrap --org a --email a@b.c --json",
            "gatekey verify k --json",
        ] {
            let cli = Cli::try_parse_from(argv.split(' '));
            assert!(
                cli.is_ok_and(|c| c.json || matches!(c.command, Some(Command::Client(_)))),
                "{argv}"
            );
        }
    }
}
