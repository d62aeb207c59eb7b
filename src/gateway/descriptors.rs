//! Envoy's global rate-limit protocol on gatekey's limiter: which bucket and policy a
//! descriptor draws from, by the rules of `[[rate_limit_descriptors]]`. A rule on the key
//! `org_id` opts a domain into gatekey's own buckets: a descriptor naming an existing org (as
//! the ext_authz dynamic metadata gives it), and optionally one of its keys, then draws from
//! the very bucket Verify charges, under that org's (or key's) policy. Without such a rule no
//! caller can charge an org's budget through this protocol.

use crate::domain::FieldViolation;
use crate::domain::ids::{KeyId, OrgId};
use crate::domain::rate_limit::RateLimitPolicy;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

/// Most descriptors one request may carry, and entries one descriptor may have.
pub const MAX_DESCRIPTORS: usize = 64;
pub const MAX_ENTRIES: usize = 16;

/// The descriptor key that opts a domain into gatekey's org (and key) buckets.
pub const ORG_KEY: &str = "org_id";
const KEY_KEY: &str = "key_id";

/// One `[[rate_limit_descriptors]]` entry as written in the config file.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DescriptorConfig {
    /// The rate-limit filter's `domain`.
    pub domain: String,
    /// A descriptor entry key, e.g. `generic_key`, `remote_address`, `header_match`; or
    /// `org_id` for gatekey's own buckets (then no `value`, `limit`, `window_secs`, `burst`).
    pub key: String,
    /// The entry's value; absent means any value, each value with a bucket of its own.
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub window_secs: Option<u64>,
    /// Defaults to `limit`: a full window's worth at once, as a fixed-window service allows.
    #[serde(default)]
    pub burst: Option<u32>,
}

#[derive(Debug, Clone)]
enum Limit {
    Fixed(RateLimitPolicy),
    /// gatekey's own org and key policies.
    Own,
}

#[derive(Debug, Clone)]
struct Rule {
    domain: String,
    key: String,
    value: Option<String>,
    limit: Limit,
}

/// The configured rules, in order: the first that matches an entry of a descriptor wins.
#[derive(Debug, Clone, Default)]
pub struct DescriptorRules(Vec<Rule>);

/// What one descriptor draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A configured rule: its policy and a bucket of the matched entry's own.
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
            let limit = if e.key == ORG_KEY {
                if e.value.is_some() || e.limit.is_some() || e.window_secs.is_some() || e.burst.is_some() {
                    return Err(FieldViolation::new(
                        field,
                        "an `org_id` rule uses the org's own policy: no value, limit, window_secs or burst",
                    ));
                }
                Limit::Own
            } else {
                let limit = e
                    .limit
                    .ok_or_else(|| FieldViolation::new(format!("{field}.limit"), "is required"))?;
                Limit::Fixed(RateLimitPolicy::new(
                    &field,
                    limit,
                    Duration::from_secs(e.window_secs.unwrap_or(60)),
                    e.burst.unwrap_or(limit),
                )?)
            };
            rules.push(Rule {
                domain: e.domain.clone(),
                key: e.key.clone(),
                value: e.value.clone(),
                limit,
            });
        }
        Ok(Self(rules))
    }

    /// The target of a descriptor (its entries as key/value pairs), `None` when nothing
    /// limits it.
    pub fn target(&self, domain: &str, entries: &[(&str, &str)]) -> Option<Target> {
        let (index, rule, value) = self.0.iter().enumerate().find_map(|(i, r)| {
            if r.domain != domain {
                return None;
            }
            entries
                .iter()
                .find(|(k, v)| *k == r.key && r.value.as_deref().is_none_or(|want| want == *v))
                .map(|(_, v)| (i, r, *v))
        })?;
        match rule.limit {
            Limit::Fixed(policy) => Some(Target::Rule {
                bucket: bucket_of(domain, index, value),
                policy,
            }),
            Limit::Own => {
                let org = OrgId(Uuid::parse_str(value).ok()?);
                let key = entries
                    .iter()
                    .find(|(k, _)| *k == KEY_KEY)
                    .and_then(|(_, v)| Uuid::parse_str(v).ok());
                Some(key.map_or(Target::Org(org), |k| Target::Key(org, KeyId(k))))
            }
        }
    }
}

/// A stable hash (replicas sharing Redis must agree) of what identifies a bucket: the rule
/// and the value of the entry it matched, whatever other entries the descriptor carries.
fn bucket_of(domain: &str, rule: usize, value: &str) -> u64 {
    let mut h = Sha256::new();
    // Lengths first, so no two inputs run together into the same bytes.
    h.update(domain.len().to_le_bytes());
    h.update(domain.as_bytes());
    h.update(rule.to_le_bytes());
    h.update(value.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(
        domain: &str,
        key: &str,
        value: Option<&str>,
        limit: u32,
        window_secs: u64,
        burst: Option<u32>,
    ) -> DescriptorConfig {
        DescriptorConfig {
            domain: domain.into(),
            key: key.into(),
            value: value.map(str::to_owned),
            limit: Some(limit),
            window_secs: Some(window_secs),
            burst,
        }
    }

    fn own(domain: &str) -> DescriptorConfig {
        DescriptorConfig {
            domain: domain.into(),
            key: ORG_KEY.into(),
            value: None,
            limit: None,
            window_secs: None,
            burst: None,
        }
    }

    fn rules() -> DescriptorRules {
        DescriptorRules::parse(&[
            fixed("edge", "generic_key", Some("limited"), 5, 60, None),
            fixed("edge", "remote_address", None, 100, 1, Some(10)),
            own("tenants"),
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
    fn the_matched_entry_alone_names_the_bucket() {
        let r = rules();
        let a = r.target("edge", &[("remote_address", "192.0.2.1")]);
        let b = r.target("edge", &[("remote_address", "192.0.2.2")]);
        assert!(matches!(a, Some(Target::Rule { .. })));
        assert_ne!(a, b, "each value of an any-value rule has its own bucket");
        assert_eq!(a, r.target("edge", &[("remote_address", "192.0.2.1")]));
        // Extra entries do not split a fixed rule's bucket (the limit is not multiplied).
        assert_eq!(
            r.target("edge", &[("generic_key", "limited"), ("path", "/a")]),
            r.target("edge", &[("generic_key", "limited"), ("path", "/b")])
        );
    }

    #[test]
    fn gatekeys_own_buckets_only_where_a_rule_opts_in() {
        let r = rules();
        let org = Uuid::now_v7().to_string();
        let key = Uuid::now_v7().to_string();
        assert!(
            r.target("edge", &[("org_id", &org)]).is_none(),
            "no org_id rule in this domain"
        );
        assert!(matches!(r.target("tenants", &[("org_id", &org)]), Some(Target::Org(_))));
        assert!(matches!(
            r.target("tenants", &[("org_id", &org), ("key_id", &key)]),
            Some(Target::Key(..))
        ));
        assert!(r.target("tenants", &[("org_id", "not-a-uuid")]).is_none());
    }

    #[test]
    fn bad_rules_are_refused() {
        let mut bad = fixed("edge", "k", None, 0, 60, None);
        assert!(DescriptorRules::parse(std::slice::from_ref(&bad)).is_err());
        bad.limit = Some(1);
        bad.key = String::new();
        assert!(DescriptorRules::parse(std::slice::from_ref(&bad)).is_err());
        bad.key = "k".into();
        bad.limit = None;
        assert!(
            DescriptorRules::parse(std::slice::from_ref(&bad)).is_err(),
            "a limit is required"
        );
        let mut org = own("d");
        org.limit = Some(5);
        assert!(
            DescriptorRules::parse(&[org]).is_err(),
            "org rules take the org's policy"
        );
    }
}
