//! The admin client: `gatekey login`, `logout`, `verify`, `service-accounts`, `keys`,
//! `users`, `roles`, `limits`, `password` and `audit`, talking to a running server over gRPC.
//!
//! Exit codes: 0 success; 1 the server refused or could not be reached, or `verify` was
//! denied; 2 bad usage, including values this side rejects and "not logged in".

mod audit;
mod auth;
mod connect;
mod error;
mod key_pair;
mod key_view;
mod keys;
mod limits;
mod output;
mod parse;
mod password;
pub(crate) mod prompt;
mod roles;
mod service_accounts;
mod session;
mod tls;
mod users;
mod verify;

pub use audit::AuditCommand;
pub use auth::{LoginArgs, LogoutArgs, PASSWORD_ENV};
pub use connect::{ClientArgs, DEFAULT_SERVER, USER_AGENT};
pub use error::{EXIT_REFUSED, EXIT_USAGE, UsageError, asks_for_json, describe, exit_code, report, usage_failure};
pub use keys::KeysCommand;
pub use limits::LimitsCommand;
pub use password::PasswordCommand;
pub use roles::RolesCommand;
pub use service_accounts::ServiceAccountsCommand;
pub use users::{NEW_USER_PASSWORD_ENV, UsersCommand};
pub use verify::VerifyArgs;

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
    /// Check a credential against the server as a gateway would, and print the decision;
    /// exit 0 when allowed, 1 when denied.
    Verify(VerifyArgs),
    /// Create, list and delete service accounts.
    #[command(subcommand)]
    ServiceAccounts(ServiceAccountsCommand),
    /// Issue, inspect, rotate, disable, enable, revoke and delete API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create, list and remove users, and change their roles.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The scopes each role grants to users.
    #[command(subcommand)]
    Roles(RolesCommand),
    /// The org's default rate limit and per-key overrides.
    #[command(subcommand)]
    Limits(LimitsCommand),
    /// Change your own password.
    #[command(subcommand)]
    Password(PasswordCommand),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

impl ClientCommand {
    /// The connection and output options of whichever command this is.
    pub fn client_args_mut(&mut self) -> &mut ClientArgs {
        match self {
            Self::Login(a) => &mut a.client,
            Self::Logout(a) => &mut a.client,
            Self::Verify(a) => &mut a.client,
            Self::ServiceAccounts(c) => c.client_args_mut(),
            Self::Keys(c) => c.client_args_mut(),
            Self::Users(c) => c.client_args_mut(),
            Self::Roles(c) => c.client_args_mut(),
            Self::Limits(c) => c.client_args_mut(),
            Self::Password(c) => c.client_args_mut(),
            Self::Audit(c) => c.client_args_mut(),
        }
    }
}

/// Runs `cmd`, printing results on stdout and an error once on stderr (as JSON with
/// `--json`).
pub async fn run(mut cmd: ClientCommand) -> ExitCode {
    let json = cmd.client_args_mut().json;
    match run_with(cmd, &mut std::io::stdout()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err, json),
    }
}

/// Runs `cmd`, writing results to `out`. Warnings and prompts still go to stderr. Use
/// [`exit_code`] and [`describe`] to turn an error into what [`run`] would report.
pub async fn run_with(cmd: ClientCommand, out: &mut impl Write) -> anyhow::Result<()> {
    let result = match cmd {
        ClientCommand::Login(args) => auth::login(args, out).await,
        ClientCommand::Logout(args) => auth::logout(args, out).await,
        ClientCommand::Verify(args) => verify::run(args, out).await,
        ClientCommand::Roles(cmd) => roles::run(cmd, out).await,
        ClientCommand::Limits(cmd) => limits::run(cmd, out).await,
        ClientCommand::Password(cmd) => password::run(cmd, out).await,
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
            "users list --page-size 10",
            "users set-role u1 operator",
            "users remove u1 --json",
            "keys disable k1",
            "keys enable k1 --json",
            "keys issue-pair --service-account sa --name web --scope a.write --publishable-scope a.read --env test",
            "service-accounts delete sa --yes",
            "roles set-scopes operator keys.read keys.write",
            "roles set-scopes member",
            "roles list --json",
            "limits set --org --limit 100 --window 60 --burst 10",
            "limits set --key k1 --clear",
            "limits get --key k1",
            "limits get",
            "password change --password-stdin",
            "verify sk_live_x --scope a.read --client-ip 10.0.0.1 --cost 2",
            "verify --credential-stdin --json",
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
            "verify",
            "verify sk_live_x --credential-stdin",
            "verify sk_live_x --client-ip nowhere",
            "users set-role u1 god",
            "limits get --org",
        ] {
            let parsed = parse_from(std::iter::once("gatekey").chain(argv.split(' ')));
            assert!(parsed.is_err_and(|e| e.exit_code() == 2), "{argv}");
        }
    }
}
