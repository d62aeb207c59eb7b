//! What each scenario sends, how the server must be set up for it, and the target it is
//! held to against the floor.

use crate::call::Workload;
use crate::gatekey::Admin;
use crate::gateway;
use anyhow::Context;
use gatekey::domain::key_format;
use gatekey::proto::v1 as pb;

/// A workload: Verify, or a gateway protocol, with the credential it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// One valid API key, the same on every call.
    CachedKey,
    /// A logged-in user's access token, the same on every call.
    CachedJwt,
    /// More distinct keys than the server's key cache holds, round-robin.
    CacheMiss,
    /// A key whose checksum is broken: refused before any hashing or lookup.
    InvalidChecksum,
    /// A valid key whose org allows one call a day: nearly every call is a 429.
    RateLimited,
    /// Envoy ext_authz `Check` for a route requiring `cameras.read`, with the `cached-key` key.
    ExtAuthz,
    /// HTTP forward-auth (`GET /v1/forward-auth`) with the `cached-key` key, HTTP/1.1.
    ForwardAuth,
    /// Made-up keys with valid checksums, a fresh one per call (`--keys` of them, round-robin),
    /// all from one client address: what the per-client failure budget holds off.
    UnknownKeyFlood,
    /// As `unknown-key-flood`, but each key from an address of its own: only the replica's
    /// lookup cap holds this off.
    UnknownKeySpray,
}

/// The issue's goal for a scenario, relative to the floor measured in the same run.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Target {
    /// Lowest acceptable throughput as a fraction of the floor's.
    pub min_throughput_ratio: f64,
    /// Highest acceptable server CPU per call as a multiple of the floor's.
    pub max_cpu_ratio: Option<f64>,
}

/// Scopes every key carries, and the one each call requires.
const KEY_SCOPES_REQUIRED: &str = "cameras.read";
/// The end client's address the gateway reports (keys have no allowlist, so any passes).
const CLIENT_IP: &str = "203.0.113.7";

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::CachedKey => "cached-key",
            Scenario::CachedJwt => "cached-jwt",
            Scenario::CacheMiss => "cache-miss",
            Scenario::InvalidChecksum => "invalid-checksum",
            Scenario::RateLimited => "rate-limited",
            Scenario::ExtAuthz => "ext-authz",
            Scenario::ForwardAuth => "forward-auth",
            Scenario::UnknownKeyFlood => "unknown-key-flood",
            Scenario::UnknownKeySpray => "unknown-key-spray",
        }
    }

    pub fn target(self) -> Option<Target> {
        match self {
            Scenario::CachedKey | Scenario::ExtAuthz | Scenario::ForwardAuth => Some(Target {
                min_throughput_ratio: 0.90,
                max_cpu_ratio: Some(1.2),
            }),
            Scenario::CachedJwt => Some(Target {
                min_throughput_ratio: 0.85,
                max_cpu_ratio: None,
            }),
            Scenario::InvalidChecksum => Some(Target {
                min_throughput_ratio: 0.95,
                max_cpu_ratio: None,
            }),
            // Held to PostgreSQL's own point-select rate (pgbench -S), not to the floor.
            Scenario::CacheMiss | Scenario::RateLimited => None,
            // Measured for the store lookups they cause, not for speed.
            Scenario::UnknownKeyFlood | Scenario::UnknownKeySpray => None,
        }
    }

    /// The outcome nearly every call should get, as the load loop counts it.
    pub fn expected(self) -> &'static str {
        match self {
            Scenario::CachedKey | Scenario::CachedJwt | Scenario::CacheMiss => pb::VerifyReason::Ok.as_str_name(),
            Scenario::InvalidChecksum | Scenario::UnknownKeyFlood | Scenario::UnknownKeySpray => {
                pb::VerifyReason::InvalidCredential.as_str_name()
            }
            Scenario::RateLimited => pb::VerifyReason::RateLimited.as_str_name(),
            Scenario::ExtAuthz => "check:OK",
            Scenario::ForwardAuth => "http:200",
        }
    }

    /// Whether `outcome` is a right answer: the expected one, or for the floods the
    /// `RATE_LIMITED` of a flood guard.
    pub fn accepts(self, outcome: &str) -> bool {
        let flood = matches!(self, Scenario::UnknownKeyFlood | Scenario::UnknownKeySpray);
        outcome == self.expected() || (flood && outcome == pb::VerifyReason::RateLimited.as_str_name())
    }

    /// The org default: high enough that the limiter runs but never denies, except in
    /// `rate-limited`, where one call a day is allowed.
    fn org_policy(self) -> (u32, i64, u32) {
        match self {
            Scenario::RateLimited => (1, 86_400, 1),
            _ => (10_000_000, 1, 10_000_000),
        }
    }

    /// Sets up the org through `admin` and returns the requests to send, round-robin.
    pub async fn prepare(self, admin: &Admin, keys: usize) -> anyhow::Result<Workload> {
        let (limit, window, burst) = self.org_policy();
        admin.set_org_rate_limit(limit, window, burst).await?;
        let credentials = match self {
            Scenario::CachedJwt => vec![admin.token.clone()],
            Scenario::CachedKey | Scenario::RateLimited | Scenario::ExtAuthz | Scenario::ForwardAuth => {
                issue(admin, 1).await?
            }
            Scenario::CacheMiss => issue(admin, keys).await?,
            Scenario::InvalidChecksum => {
                let key = issue(admin, 1).await?.pop().context("no key issued")?;
                vec![break_checksum(&key)?]
            }
            Scenario::UnknownKeyFlood | Scenario::UnknownKeySpray => made_up(keys),
        };
        let (scopes, ip) = (KEY_SCOPES_REQUIRED, CLIENT_IP);
        Ok(match self {
            Scenario::ExtAuthz => Workload::Check(
                credentials
                    .iter()
                    .map(|key| gateway::check_request(key, ip, scopes))
                    .collect(),
            ),
            Scenario::ForwardAuth => Workload::ForwardAuth(
                credentials
                    .iter()
                    .map(|key| gateway::forward_auth_headers(key, ip, scopes))
                    .collect(),
            ),
            Scenario::CachedKey
            | Scenario::CachedJwt
            | Scenario::CacheMiss
            | Scenario::InvalidChecksum
            | Scenario::RateLimited
            | Scenario::UnknownKeyFlood
            | Scenario::UnknownKeySpray => Workload::Verify(
                credentials
                    .into_iter()
                    .enumerate()
                    .map(|(i, credential)| pb::VerifyRequest {
                        credential,
                        required_scopes: vec![scopes.to_owned()],
                        client_ip: match self {
                            Scenario::UnknownKeySpray => spray_address(i),
                            _ => ip.to_owned(),
                        },
                        cost: 0,
                    })
                    .collect(),
            ),
        })
    }
}

async fn issue(admin: &Admin, n: usize) -> anyhow::Result<Vec<String>> {
    let sa = admin.service_account().await?;
    admin.issue_keys(&sa, n).await
}

/// `n` keys nobody issued, with valid checksums.
fn made_up(n: usize) -> Vec<String> {
    use secrecy::ExposeSecret;
    (0..n)
        .map(|_| {
            let key = key_format::generate(key_format::KeyKind::Secret, key_format::Environment::Live);
            key.secret().expose_secret().to_owned()
        })
        .collect()
}

/// The `i`th address of 10.0.0.0/8: distinct for 16 M calls.
fn spray_address(i: usize) -> String {
    let [_, a, b, c] = u32::try_from(i % (1 << 24)).unwrap_or(0).to_be_bytes();
    format!("10.{a}.{b}.{c}")
}

/// `key` with one character of its random part changed, which the checksum catches.
fn break_checksum(key: &str) -> anyhow::Result<String> {
    let mut bytes = key.as_bytes().to_vec();
    let i = 12.min(bytes.len().saturating_sub(1));
    bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
    let broken = String::from_utf8(bytes)?;
    anyhow::ensure!(
        key_format::looks_like_key(&broken) && key_format::parse(&broken).is_none(),
        "changing one character did not break the checksum"
    );
    Ok(broken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatekey::domain::key_format::{Environment, KeyKind};
    use secrecy::ExposeSecret;

    #[test]
    fn a_broken_checksum_still_looks_like_a_key() {
        let key = key_format::generate(KeyKind::Secret, Environment::Live);
        let broken = break_checksum(key.secret().expose_secret()).expect("breaks");
        assert!(broken.starts_with("sk_live_"));
    }
}
