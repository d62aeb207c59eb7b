//! The admin client: `gatekey login`, `logout`, `service-accounts`, `keys`, `users` and
//! `audit`, talking to a running server over gRPC.
//!
//! Exit codes: 0 success; 1 the server refused or could not be reached; 2 bad usage,
//! including values this side rejects and "not logged in".

mod audit;
mod auth;
mod connect;
mod error;
mod key_view;
mod keys;
mod output;
mod parse;
pub(crate) mod prompt;
mod service_accounts;
mod session;
mod tls;
mod users;

pub use audit::AuditCommand;
pub use auth::{LoginArgs, LogoutArgs, PASSWORD_ENV};
pub use connect::{ClientArgs, DEFAULT_SERVER, USER_AGENT};
pub use error::{EXIT_REFUSED, EXIT_USAGE, UsageError, describe, exit_code};
pub use keys::KeysCommand;
pub use service_accounts::ServiceAccountsCommand;
pub use users::{NEW_USER_PASSWORD_ENV, UsersCommand};

use std::io::Write;
use std::process::ExitCode;

/// Commands that act on a gatekey server as a client.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Log in with email and password (from GATEKEY_PASSWORD, else typed without echo on a
    /// terminal, else one line of standard input) and save the session.
    Login(LoginArgs),
    /// End the saved session on the server and delete it here.
    Logout(LogoutArgs),
    /// Create and list service accounts.
    #[command(subcommand)]
    ServiceAccounts(ServiceAccountsCommand),
    /// Issue, inspect, rotate, revoke and delete API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// Runs `cmd`, printing results on stdout and errors on stderr.
pub async fn run(cmd: ClientCommand) -> ExitCode {
    match run_with(cmd, &mut std::io::stdout()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = exit_code(&err);
            if code != 0 {
                let _ = writeln!(std::io::stderr(), "{}", describe(&err));
            }
            ExitCode::from(code)
        }
    }
}

/// Runs `cmd`, writing results to `out`. Warnings and prompts still go to stderr. Use
/// [`exit_code`] and [`describe`] to turn an error into what [`run`] would report.
pub async fn run_with(cmd: ClientCommand, out: &mut impl Write) -> anyhow::Result<()> {
    let result = match cmd {
        ClientCommand::Login(args) => auth::login(args, out).await,
        ClientCommand::Logout(args) => auth::logout(args, out).await,
        ClientCommand::ServiceAccounts(cmd) => service_accounts::run(cmd, out).await,
        ClientCommand::Keys(cmd) => keys::run(cmd, out).await,
        ClientCommand::Users(cmd) => users::run(cmd, out).await,
        ClientCommand::Audit(cmd) => audit::run(cmd, out).await,
    };
    out.flush()?;
    result
}

/// Parses client arguments as they follow the program name, e.g.
/// `["gatekey", "keys", "list", "--json"]`; for tests that run commands in-process.
pub fn parse_from<I, T>(args: I) -> Result<ClientCommand, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: ClientCommand,
    }
    <Cli as clap::Parser>::try_parse_from(args).map(|cli| cli.cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_surface_is_consistent() {
        use clap::CommandFactory as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(subcommand)]
            cmd: ClientCommand,
        }
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_parses() {
        for argv in [
            "login --email a@b.c --remember-me --print",
            "logout --json",
            "service-accounts create --name ci --role operator",
            "service-accounts list --page-size 10 --page-token t",
            "keys issue --service-account sa --name n --kind publishable --env test --scope a.read --ip 10.0.0.0/8 --expires-in 30d --rate-limit 100/1m --burst 10 --metadata k=v",
            "keys list --service-account sa --page-size 5",
            "keys get k1 --server http://h:1",
            "keys rotate k1 --grace 1h",
            "keys revoke k1",
            "keys delete k1 --json",
            "users create --email a@b.c --role admin",
            "audit list --action service_account.key_revoked --page-size 20",
        ] {
            let parsed = parse_from(std::iter::once("gatekey").chain(argv.split(' ')));
            assert!(parsed.is_ok(), "{argv}: {parsed:?}");
        }
    }

    #[test]
    fn bad_values_are_rejected_with_exit_code_2() {
        for argv in [
            "keys rotate k1 --grace forever",
            "keys issue --service-account sa --name n --rate-limit lots",
            "service-accounts create --name ci --role god",
        ] {
            let parsed = parse_from(std::iter::once("gatekey").chain(argv.split(' ')));
            assert!(parsed.is_err_and(|e| e.exit_code() == 2), "{argv}");
        }
    }
}
