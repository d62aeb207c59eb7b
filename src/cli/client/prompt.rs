//! Reading a password from the environment, the terminal (without echo) or standard input,
//! never from an argument (arguments are visible to other local users).

use super::error::UsageError;
use anyhow::Context as _;
use secrecy::SecretString;
use std::io::IsTerminal as _;
use tokio::io::AsyncBufReadExt as _;
use zeroize::Zeroize as _;

/// The value of `env_var` if set and non-empty; else, when standard input is a terminal, a
/// line typed after `prompt` without echo; else one line of standard input (for scripts).
pub async fn secret_line(env_var: &str, prompt: &str) -> anyhow::Result<SecretString> {
    if let Some(value) = std::env::var_os(env_var) {
        let value = value
            .into_string()
            .map_err(|_| UsageError(format!("{env_var} is not valid UTF-8")))?;
        if !value.is_empty() {
            return Ok(value.into());
        }
    }
    if std::io::stdin().is_terminal() {
        let prompt = prompt.to_owned();
        let typed = tokio::task::spawn_blocking(move || rpassword::prompt_password(prompt))
            .await
            .context("reading the password from the terminal")?
            .context("reading the password from the terminal")?;
        if typed.is_empty() {
            return Err(UsageError(format!("no password given: type it, or set {env_var}")).into());
        }
        return Ok(typed.into());
    }
    let mut line = String::new();
    let read = tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await
        .context("reading standard input");
    let secret = strip_newline(&line).to_owned();
    line.zeroize();
    read?;
    if secret.is_empty() {
        return Err(UsageError(format!(
            "no password given: set {env_var} or write it on standard input"
        ))
        .into());
    }
    Ok(secret.into())
}

/// Removes one line ending; other whitespace may be part of the password.
fn strip_newline(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_line_ending_is_removed() {
        assert_eq!(strip_newline(" pass word \r\n"), " pass word ");
        assert_eq!(strip_newline("pw\n"), "pw");
        assert_eq!(strip_newline("pw"), "pw");
    }
}
