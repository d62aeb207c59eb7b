//! argon2id password hashing on the blocking pool, with OWASP's parameters.

use crate::domain::fields::Password;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// OWASP's argon2id recommendation: m=19456 KiB, t=2, p=1.
fn argon2() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(19_456, 2, 1, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// How long a login waits for an argon2 slot before it is told to retry.
const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// No argon2 slot came free in time.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("too many password hashes in progress")]
pub struct Busy;

/// Hashes passwords and checks them in constant work, known user or not.
#[derive(Clone)]
pub struct PasswordHasher {
    /// A hash of a random password, verified against when the email is unknown so that an
    /// unknown email costs the same as a wrong password.
    dummy: String,
    /// Each hash holds 19 MiB for its duration; unbounded, a login flood (random emails pass
    /// the per-email throttle) would exhaust memory. Two slots per core keep the cores busy.
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHasher")
    }
}

impl PasswordHasher {
    pub async fn new() -> anyhow::Result<Self> {
        let random = crate::sessions::refresh::random_token("dummy_");
        let pw = Password::presented("password", &random).map_err(|e| anyhow::anyhow!("{e}"))?;
        let dummy = hash(&pw).await?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            dummy,
            slots: Arc::new(Semaphore::new(cores * 2)),
        })
    }

    async fn slot(&self) -> Result<OwnedSemaphorePermit, Busy> {
        match tokio::time::timeout(QUEUE_WAIT, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Busy),
        }
    }

    /// The PHC string of a new password.
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let _slot = self.slot().await?;
        hash(password).await
    }

    /// Whether `password` matches `stored`; with no stored hash it does the same work and
    /// returns false. `Busy` when no slot came free in time.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<bool, Busy> {
        let _slot = self.slot().await?;
        let (phc, known) = match stored {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy.clone(), false),
        };
        let candidate = password.secret().clone();
        let span = tracing::Span::current();
        let matched = tokio::task::spawn_blocking(move || {
            let _guard = span.enter();
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            let Ok(argon) = argon2() else { return false };
            argon
                .verify_password(candidate.expose_secret().as_bytes(), &parsed)
                .is_ok()
        })
        .await
        .unwrap_or(false);
        Ok(matched && known)
    }
}

async fn hash(password: &Password) -> anyhow::Result<String> {
    let secret = password.secret().clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _guard = span.enter();
        let salt = SaltString::generate(&mut OsRng);
        argon2()?
            .hash_password(secret.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_the_right_password_only() {
        let hasher = PasswordHasher::new().await.expect("hasher");
        let pw = Password::presented("password", "correct horse").expect("valid");
        let phc = hasher.hash(&pw).await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify(&pw, Some(&phc)).await.expect("a slot"));
        let wrong = Password::presented("password", "battery staple").expect("valid");
        assert!(!hasher.verify(&wrong, Some(&phc)).await.expect("a slot"));
        assert!(
            !hasher.verify(&pw, None).await.expect("a slot"),
            "an unknown user never matches"
        );
    }
}
