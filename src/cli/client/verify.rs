//! `gatekey verify`: asks a running server what it would answer a gateway for a credential.
//!
//! Exit 0 when allowed, 1 when denied (the decision is the output either way), 2 for bad
//! usage. Verify needs no login: gateways call it with the credential alone.

use super::connect::{self, ClientArgs};
use super::error::{Denied, UsageError};
use super::output::{
    self, human_duration, human_enum, human_role, human_time, json_duration, json_enum, json_role, json_time, or_dash,
    write_fields,
};
use super::prompt;
use crate::proto::v1::{
    Environment, Principal, PrincipalType, RateLimitVerdict, VerifyReason, VerifyRequest, VerifyResponse,
    auth_service_client::AuthServiceClient,
};
use anyhow::Context as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use std::io::Write;

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The API key or access token to check (prefer --credential-stdin: arguments are
    /// visible to other local users).
    #[arg(
        value_name = "CREDENTIAL",
        value_parser = secret,
        required_unless_present = "credential_stdin",
        conflicts_with = "credential_stdin"
    )]
    pub credential: Option<SecretString>,
    /// Read the credential from the first line of standard input.
    #[arg(long)]
    pub credential_stdin: bool,
    /// Scope the request needs; repeat for several (all must be granted).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// IP address of the end client (required for keys with an IP allowlist).
    #[arg(long, value_name = "IP")]
    pub client_ip: Option<std::net::IpAddr>,
    /// Rate-limit units the request costs. Default: 1.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub cost: Option<u32>,
    #[command(flatten)]
    pub client: ClientArgs,
}

fn secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(text.into())
}

/// Verifies the credential and prints the decision; a denial ends in [`Denied`].
pub async fn run(args: VerifyArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let credential = match args.credential {
        Some(credential) => credential,
        None => prompt::secret_lines(1, "the credential")
            .await?
            .pop()
            .ok_or_else(|| UsageError("no credential on standard input".into()))?,
    };
    let channel = connect::channel(&args.client.server_or_default(), &args.client.tls()?).await?;
    let request = VerifyRequest {
        credential: credential.expose_secret().to_owned(),
        required_scopes: args.scopes,
        client_ip: args.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        cost: args.cost.unwrap_or(0),
    };
    let response = AuthServiceClient::new(channel)
        .verify(request)
        .await
        .context("verifying the credential")?
        .into_inner();
    if args.client.json {
        output::json(out, &to_json(&response))?;
    } else {
        write_decision(out, &response)?;
    }
    if response.allowed { Ok(()) } else { Err(Denied.into()) }
}

fn reason(response: &VerifyResponse) -> String {
    let name = VerifyReason::try_from(response.reason).ok().map(|r| r.as_str_name());
    human_enum(name, "VERIFY_REASON_", response.reason)
}

fn decision(response: &VerifyResponse) -> &'static str {
    if response.allowed { "allowed" } else { "denied" }
}

fn principal_type(principal: &Principal) -> Option<&'static str> {
    PrincipalType::try_from(principal.r#type).ok().map(|t| t.as_str_name())
}

fn environment(principal: &Principal) -> Option<&'static str> {
    Environment::try_from(principal.environment)
        .ok()
        .map(|e| e.as_str_name())
}

fn write_decision(out: &mut impl Write, response: &VerifyResponse) -> std::io::Result<()> {
    let mut fields = vec![
        ("decision", decision(response).to_owned()),
        ("reason", reason(response)),
        ("http status", response.http_status.to_string()),
    ];
    if let Some(p) = &response.principal {
        fields.extend([
            (
                "principal",
                format!(
                    "{} {}",
                    human_enum(principal_type(p), "PRINCIPAL_TYPE_", p.r#type),
                    p.id
                ),
            ),
            ("org", or_dash(p.org_id.clone())),
            ("role", human_role(p.role)),
            ("scopes", or_dash(p.scopes.join(", "))),
            ("key id", or_dash(p.key_id.clone())),
            ("key", or_dash(p.key_start.clone())),
            ("environment", human_enum(environment(p), "ENVIRONMENT_", p.environment)),
            ("expires", human_time(p.expires_at.as_ref(), "never")),
        ]);
    }
    if let Some(r) = &response.rate_limit {
        fields.push(("rate limit", rate_limit_line(r)));
    }
    write_fields(out, &fields)
}

fn rate_limit_line(r: &RateLimitVerdict) -> String {
    let verdict = if r.limited { "limited" } else { "within limit" };
    let mut line = format!(
        "{verdict} ({} policy {}/{}, {} remaining, resets in {}",
        or_dash(r.policy.clone()),
        r.limit,
        human_duration(r.window.as_ref()),
        r.remaining,
        human_duration(r.reset_after.as_ref())
    );
    if r.limited {
        line.push_str(&format!(", retry in {}", human_duration(r.retry_after.as_ref())));
    }
    line.push(')');
    line
}

fn to_json(response: &VerifyResponse) -> Value {
    let reason_name = VerifyReason::try_from(response.reason).ok().map(|r| r.as_str_name());
    json!({
        "allowed": response.allowed,
        "decision": decision(response),
        "reason": json_enum(reason_name, "VERIFY_REASON_", response.reason),
        "http_status": response.http_status,
        "principal": response.principal.as_ref().map(|p| json!({
            "type": json_enum(principal_type(p), "PRINCIPAL_TYPE_", p.r#type),
            "id": p.id,
            "org_id": p.org_id,
            "role": json_role(p.role),
            "scopes": p.scopes,
            "key_id": p.key_id,
            "key_prefix": p.key_prefix,
            "key_start": p.key_start,
            "environment": json_enum(environment(p), "ENVIRONMENT_", p.environment),
            "expires_at": json_time(p.expires_at.as_ref()),
            "metadata": output::json_map(&p.metadata),
        })),
        "rate_limit": response.rate_limit.as_ref().map(|r| json!({
            "limited": r.limited,
            "policy": r.policy,
            "limit": r.limit,
            "window": json_duration(r.window.as_ref()),
            "remaining": r.remaining,
            "reset_after": json_duration(r.reset_after.as_ref()),
            "retry_after": json_duration(r.retry_after.as_ref()),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_reads_as_lowercase_words() {
        let response = VerifyResponse {
            allowed: false,
            reason: VerifyReason::IpNotAllowed as i32,
            http_status: 403,
            ..VerifyResponse::default()
        };
        let value = to_json(&response);
        assert_eq!(value["decision"], "denied");
        assert_eq!(value["reason"], "ip_not_allowed");
        assert_eq!(value["principal"], Value::Null);
    }
}
