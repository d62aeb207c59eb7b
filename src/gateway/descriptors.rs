//! Envoy's global rate-limit protocol on gatekey's limiter: which bucket and policy a
//! descriptor draws from. Rules come from `[[rate_limit_descriptors]]`; a descriptor that
//! names gatekey's own `org_id` (and `key_id`), as the ext_authz dynamic metadata gives them,
//! uses that org's (or key's) policy and the very bucket Verify uses.

use crate::domain::FieldViolation;
use crate::domain::ids::{KeyId, OrgId};
use crate::domain::rate_limit::RateLimitPolicy;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

/// One `[[rate_limit_descriptors]]` entry as written in the config file.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DescriptorConfig {
    /// The rate-limit filter's `domain`.
    pub domain: String,
    /// A descriptor entry key, e.g. `generic_key`, `remote_address`, `header_match`.
    pub key: String,
    /// The entry's value; absent means any value, each value with a bucket of its own.
    #[serde(default)]
    pub value: Option<String>,
    pub limit: u32,
    #[serde(default = "minute")]
    pub window_secs: u64,
    /// Defaults to `limit`: a full window's worth at once, as a fixed-window service allows.
    #[serde(default)]
    pub burst: Option<u32>,
}

fn minute() -> u64 {
    60
}

#[derive(Debug, Clone)]
struct Rule {
    domain: String,
    key: String,
    value: Option<String>,
    policy: RateLimitPolicy,
}

/// The configured rules, in order: the first that matches an entry of a descriptor wins.
#[derive(Debug, Clone, Default)]
pub struct DescriptorRules(Vec<Rule>);

/// What one descriptor draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A configured rule: its policy and a bucket of the descriptor's own.
    Rule { bucket: u64, policy: RateLimitPolicy },
    /// The org's policy and bucket, as Verify uses them.
    Org(OrgId),
    /// The key's policy and bucket (its override, else its org's).
    Key(OrgId, KeyId),
}

impl DescriptorRules {
    pub fn parse(entries: &[DescriptorConfig]) -> Result<Self, FieldViolation> {
        let mut rules = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let field = format!("rate_limit_descriptors[{i}]");
            if e.domain.trim().is_empty() || e.key.trim().is_empty() {
                return Err(FieldViolation::new(field, "`domain` and `key` must not be empty"));
            }
            let policy = RateLimitPolicy::new(
                &field,
                e.limit,
                Duration::from_secs(e.window_secs),
                e.burst.unwrap_or(e.limit),
            )?;
            rules.push(Rule {
                domain: e.domain.clone(),
                key: e.key.clone(),
                value: e.value.clone(),
                policy,
            });
        }
        Ok(Self(rules))
    }

    /// The target of a descriptor (its entries as key/value pairs), `None` when nothing
    /// limits it. gatekey's own `org_id` / `key_id` entries come first.
    pub fn target<'a>(&self, domain: &str, entries: &[(&'a str, &'a str)]) -> Option<Target> {
        let find = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| Uuid::parse_str(v).ok())
        };
        match (find("org_id"), find("key_id")) {
            (Some(org), Some(key)) => return Some(Target::Key(OrgId(org), KeyId(key))),
            (Some(org), None) => return Some(Target::Org(OrgId(org))),
            _ => {}
        }
        let (index, rule) = self.0.iter().enumerate().find(|(_, r)| {
            r.domain == domain
                && entries
                    .iter()
                    .any(|(k, v)| *k == r.key && r.value.as_deref().is_none_or(|want| want == *v))
        })?;
        Some(Target::Rule {
            bucket: bucket_of(domain, index, entries),
            policy: rule.policy,
        })
    }
}

/// A stable hash (replicas sharing Redis must agree) of what identifies a bucket.
fn bucket_of(domain: &str, rule: usize, entries: &[(&str, &str)]) -> u64 {
    let mut h = Sha256::new();
    h.update(domain.as_bytes());
    h.update(rule.to_le_bytes());
    for (k, v) in entries {
        // Lengths first, so no two lists of entries run together into the same bytes.
        h.update(k.len().to_le_bytes());
        h.update(k.as_bytes());
        h.update(v.len().to_le_bytes());
        h.update(v.as_bytes());
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> DescriptorRules {
        DescriptorRules::parse(&[
            DescriptorConfig {
                domain: "edge".into(),
                key: "generic_key".into(),
                value: Some("limited".into()),
                limit: 5,
                window_secs: 60,
                burst: None,
            },
            DescriptorConfig {
                domain: "edge".into(),
                key: "remote_address".into(),
                value: None,
                limit: 100,
                window_secs: 1,
                burst: Some(10),
            },
        ])
        .expect("valid")
    }

    #[test]
    fn rules_match_by_domain_key_and_value() {
        let r = rules();
        let Some(Target::Rule { policy, .. }) = r.target("edge", &[("generic_key", "limited")]) else {
            panic!("the first rule matches");
        };
        assert_eq!((policy.limit, policy.burst), (5, 5));
        assert!(r.target("edge", &[("generic_key", "other")]).is_none());
        assert!(r.target("elsewhere", &[("generic_key", "limited")]).is_none());
    }

    #[test]
    fn any_value_rules_give_each_value_its_own_bucket() {
        let r = rules();
        let a = r.target("edge", &[("remote_address", "192.0.2.1")]);
        let b = r.target("edge", &[("remote_address", "192.0.2.2")]);
        assert!(matches!(a, Some(Target::Rule { .. })));
        assert_ne!(a, b);
        assert_eq!(a, r.target("edge", &[("remote_address", "192.0.2.1")]));
    }

    #[test]
    fn gatekeys_own_ids_use_its_buckets() {
        let r = rules();
        let org = Uuid::now_v7().to_string();
        let key = Uuid::now_v7().to_string();
        assert!(matches!(r.target("any", &[("org_id", &org)]), Some(Target::Org(_))));
        assert!(matches!(
            r.target("any", &[("org_id", &org), ("key_id", &key)]),
            Some(Target::Key(..))
        ));
        assert!(r.target("any", &[("org_id", "not-a-uuid")]).is_none());
    }

    #[test]
    fn bad_rules_are_refused() {
        let mut bad = DescriptorConfig {
            domain: "edge".into(),
            key: "k".into(),
            value: None,
            limit: 0,
            window_secs: 60,
            burst: None,
        };
        assert!(DescriptorRules::parse(std::slice::from_ref(&bad)).is_err());
        bad.limit = 1;
        bad.key = String::new();
        assert!(DescriptorRules::parse(&[bad]).is_err());
    }
}
