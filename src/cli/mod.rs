//! Command-line interface: the server commands (`serve`, `migrate`, `bootstrap`,
//! `healthcheck`) and the admin client commands that talk gRPC to a running server.
//!
//! Exit codes: 0 ok, 1 refused (by the server or the store) or failed, 2 usage error.

pub mod client;
mod healthcheck;
mod server;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// gatekey: API keys and tokens for your gateway.
#[derive(Debug, Parser)]
#[command(name = "gatekey", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
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
    /// Create an org and its first owner; prints {"org_id": ..., "user_id": ...}.
    Bootstrap(server::BootstrapArgs),
    /// Probe the local server's HTTP listener (for container health checks); exit 0 when
    /// healthy.
    Healthcheck(healthcheck::HealthcheckArgs),
    #[command(flatten)]
    Client(client::ClientCommand),
}

/// Parses the command line and runs the command on a multi-threaded runtime.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            None => server::serve(cli.serve).await,
            Some(Command::Serve(args)) => server::serve(args).await,
            Some(Command::Migrate(args)) => server::migrate(args).await,
            Some(Command::Bootstrap(args)) => server::bootstrap(args).await,
            Some(Command::Healthcheck(args)) => healthcheck::run(args).await,
            Some(Command::Client(cmd)) => client::run(cmd).await,
        }
    })
}
