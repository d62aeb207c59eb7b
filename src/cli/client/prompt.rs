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

/// Asks `question` on the terminal and waits for `y` or `yes`. Without a terminal there is
/// nobody to ask, so that is a usage error naming `flag`, the way to confirm in a script.
pub async fn confirm(question: &str, flag: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(format!(
            "standard input is not a terminal, so nobody can confirm: pass {flag}"
        ))
        .into());
    }
    eprint!("{question} [y/N] ");
    let mut line = String::new();
    tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await
        .context("reading the answer")?;
    Ok(matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Reads the lines of standard input given for `--password-stdin`: exactly `count` non-empty
/// lines, as prompts would have asked.
pub async fn secret_lines(count: usize, what: &str) -> anyhow::Result<Vec<SecretString>> {
    let mut reader = tokio::io::BufReader::new(tokio::io::stdin());
    let mut secrets = Vec::with_capacity(count);
    for _ in 0..count {
        let mut line = String::new();
        let read = reader.read_line(&mut line).await.context("reading standard input");
        let secret = strip_newline(&line).to_owned();
        line.zeroize();
        read?;
        if secret.is_empty() {
            return Err(UsageError(format!("expected {what} on standard input, one per line")).into());
        }
        secrets.push(secret.into());
    }
    Ok(secrets)
}

/// Whether a person can be asked (standard input is a terminal).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// Prompts for a password without echo (on the blocking pool, as the terminal read blocks).
pub async fn typed_password(prompt: &str) -> anyhow::Result<SecretString> {
    let prompt = prompt.to_owned();
    let typed = tokio::task::spawn_blocking(move || rpassword::prompt_password(prompt))
        .await
        .context("reading the password from the terminal")?
        .context("reading the password from the terminal")?;
    if typed.is_empty() {
        return Err(UsageError("no password given".into()).into());
    }
    Ok(typed.into())
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
