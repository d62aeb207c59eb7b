//! Resident memory per cached key: `n` realistic keys inserted into the Verify key cache
//! in this process, with VmRSS read before and after.

use crate::procfs;
use gatekey::domain::api_key::ApiKey;
use gatekey::domain::audit::Actor;
use gatekey::domain::fields::{KeyName, Metadata};
use gatekey::domain::ids::{KeyId, OrgId, ServiceAccountId, UserId};
use gatekey::domain::ip::IpAllowlist;
use gatekey::domain::key_format::{self, Environment, KeyKind};
use gatekey::domain::role::Role;
use gatekey::domain::scope::Scopes;
use gatekey::domain::time::UnixMs;
use gatekey::verify::cache::{CacheSettings, CachedKey, KeyCache};
use secrecy::SecretString;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Keys per org in the synthetic population.
const KEYS_PER_ORG: usize = 100;

/// What the measurement found.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryReport {
    pub keys: usize,
    /// `cache`: through `KeyCache` (what gatekey holds); `payload`: the `Arc<CachedKey>`s
    /// alone in a `Vec`, to tell the cache's overhead from the keys'.
    pub holder: &'static str,
    pub rss_before: u64,
    pub rss_after: u64,
    pub bytes_per_key: f64,
    pub size_of_cached_key: usize,
    pub entries: u64,
}

/// A key as issued by gatekey: two scopes, one metadata entry, a short name.
pub fn realistic_key(i: usize, org: OrgId, service_account: ServiceAccountId) -> ApiKey {
    let scopes = Scopes::parse("scopes", &["cameras.read".to_owned(), "leads.write".to_owned()]).unwrap_or_default();
    ApiKey {
        id: KeyId::generate(),
        org_id: org,
        service_account_id: service_account,
        name: KeyName::from_store(format!("deploy-{i}")),
        kind: KeyKind::Secret,
        environment: Environment::Live,
        prefix: "sk_live_".to_owned(),
        start: "AbCd".to_owned(),
        role: Role::Operator,
        scopes,
        ip_allowlist: IpAllowlist::default(),
        expires_at: None,
        rate_limit: None,
        metadata: Metadata::from_store(BTreeMap::from([("team".to_owned(), "bench".to_owned())])),
        created_at: UnixMs(1_760_000_000_000),
        created_by: Actor::User(UserId::generate()),
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
        rotated_from: None,
        pair_id: None,
        disabled_at: None,
    }
}

/// Caches `n` keys (`through_cache`) or just holds them, and reports resident bytes per key.
pub fn measure(n: usize, through_cache: bool) -> anyhow::Result<MemoryReport> {
    let pepper = SecretString::from("gatekey-bench-pepper-for-throwaway-databases-only".to_owned());
    let cache = KeyCache::new(CacheSettings {
        max_keys: (n as u64).saturating_mul(2).max(1),
        ..CacheSettings::default()
    });
    let mut held: Vec<Arc<CachedKey>> = Vec::new();
    if !through_cache {
        held.reserve_exact(n);
    }
    let before = procfs::resident_bytes()?;
    let (mut org, mut sa) = (OrgId::generate(), ServiceAccountId::generate());
    for i in 0..n {
        if i % KEYS_PER_ORG == 0 {
            (org, sa) = (OrgId::generate(), ServiceAccountId::generate());
        }
        let key = Arc::new(CachedKey::new(realistic_key(i, org, sa)));
        if through_cache {
            let secret = SecretString::from(format!("sk_live_{i:032}000000"));
            cache.insert(key_format::keyed_hash(&pepper, &secret), key);
        } else {
            held.push(key);
        }
    }
    let entries = if through_cache { cache.len() } else { held.len() as u64 };
    let after = procfs::resident_bytes()?;
    Ok(MemoryReport {
        keys: n,
        holder: if through_cache { "cache" } else { "payload" },
        rss_before: before,
        rss_after: after,
        bytes_per_key: after.saturating_sub(before) as f64 / n.max(1) as f64,
        size_of_cached_key: std::mem::size_of::<CachedKey>(),
        entries,
    })
}

impl MemoryReport {
    pub fn table(&self) -> String {
        format!(
            "{} keys held by {} ({} entries): VmRSS {:.1} MiB -> {:.1} MiB, {:.0} bytes per key \
             (size_of::<CachedKey>() = {}); target <= 1024: {}\n",
            self.keys,
            self.holder,
            self.entries,
            self.rss_before as f64 / 1_048_576.0,
            self.rss_after as f64 / 1_048_576.0,
            self.bytes_per_key,
            self.size_of_cached_key,
            if self.bytes_per_key <= 1024.0 { "met" } else { "MISSED" },
        )
    }
}
