//! The engine: API keys and JWTs from cache or store, the rules, the rate limit.

mod limits;
mod lookup;

use super::decision::{Decision, MAX_CREDENTIAL_LEN, Principal, VerifyError, VerifyInput, VerifySettings};
use super::flood::FloodGuard;
use super::metrics::VerifyMetrics;
use super::{cache, tokens, usage};
use crate::domain::credential::Authorization;
use crate::domain::ids::{KeyId, OrgId, SessionId, UserId};
use crate::domain::key_format::{self, KeyHasher};
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::role::Role;
use crate::domain::time::{SharedClock, UnixMs};
use crate::domain::verify::{VerifyReason, check_key};
use crate::ratelimit::{Bucket, Limiter};
use crate::sessions::jwt::{JwtKeys, LEEWAY_SECS, TokenError};
use crate::store::{Change, ChangeKind, StoreError, VerifyStore};
use cache::{KeyCache, Lookup};
use lookup::{Flight, Looked};
use moka::sync::Cache;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokens::{CachedToken, RoleScopes, TokenCache};
use usage::UsageLog;
use uuid::Uuid;

/// The engine. One per replica, shared by every transport.
pub struct Verifier {
    /// Itself, for the lookups that outlive the call that started them (see `lookup`).
    me: Weak<Verifier>,
    /// Readers only (and the batched usage marks): Verify cannot write per call.
    pub(super) store: Arc<dyn VerifyStore>,
    clock: SharedClock,
    jwt: Arc<JwtKeys>,
    hasher: KeyHasher,
    limiter: Limiter,
    keys: KeyCache,
    tokens: TokenCache,
    /// Org defaults; `None` remembers that no such org exists.
    org_limits: Cache<OrgId, Option<RateLimitPolicy>>,
    /// Keys' orgs and own policies by id, for rate-limit-service descriptors naming a key.
    key_limits: Cache<KeyId, (OrgId, Option<RateLimitPolicy>)>,
    pub usage: UsageLog,
    pub settings: VerifySettings,
    /// Bumped by every invalidation. A value read from the store is cached only if no
    /// invalidation ran while it was being read, so a revocation racing a cache miss can never
    /// put the unrevoked copy back.
    generation: AtomicU64,
    /// Store lookups under way, by key hash (see `load_key`).
    inflight: Mutex<HashMap<[u8; 32], Arc<Flight>>>,
    /// Budgets that bound what a flood of made-up credentials costs the store.
    flood: FloodGuard,
    /// When the change feed was last read successfully, in ms since `started` (monotonic:
    /// staleness is about real elapsed time, whatever the wall clock does).
    synced_at: AtomicI64,
    started: Instant,
    metrics: VerifyMetrics,
}

impl Verifier {
    pub fn new(
        store: Arc<dyn VerifyStore>,
        clock: SharedClock,
        jwt: Arc<JwtKeys>,
        hasher: KeyHasher,
        limiter: Limiter,
        settings: VerifySettings,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            started: Instant::now(),
            keys: KeyCache::new(settings.cache),
            tokens: TokenCache::new(settings.max_tokens, settings.token_lifetime),
            org_limits: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            key_limits: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(300))
                .build(),
            usage: UsageLog::default(),
            synced_at: AtomicI64::new(0),
            generation: AtomicU64::new(0),
            inflight: Mutex::new(HashMap::new()),
            metrics: VerifyMetrics::new(),
            flood: FloodGuard::new(settings.flood),
            store,
            clock,
            jwt,
            hasher,
            limiter,
            settings,
        })
    }

    /// Decides one request. Denials are `Ok`; errors mean no answer could be given.
    pub async fn verify(&self, input: &VerifyInput<'_>) -> Result<Decision, VerifyError> {
        let result = self.decide(input).await;
        match &result {
            Ok(d) => self.metrics.count(d.reason),
            Err(VerifyError::Stale) => self.metrics.stale.increment(1),
            Err(VerifyError::Unavailable(e)) if matches!(**e, StoreError::TimedOut(_)) => {
                self.metrics.timed_out.increment(1);
            }
            Err(VerifyError::Unavailable(_)) => self.metrics.unavailable.increment(1),
        }
        result
    }

    async fn decide(&self, input: &VerifyInput<'_>) -> Result<Decision, VerifyError> {
        let raw = strip_bearer(input.credential);
        if raw.is_empty() {
            return Ok(Decision::deny(VerifyReason::MissingCredential));
        }
        if raw.len() > MAX_CREDENTIAL_LEN {
            return Ok(self.invalid(input));
        }
        if key_format::looks_like_key(raw) {
            self.verify_key(raw, input).await
        } else {
            self.verify_token(raw, input).await
        }
    }

    async fn verify_key(&self, raw: &str, input: &VerifyInput<'_>) -> Result<Decision, VerifyError> {
        // Checksum, prefix and length first: a typo or a made-up key costs no hash and no lookup.
        let Some(parsed) = key_format::parse(raw) else {
            return Ok(self.invalid(input));
        };
        let hash = self.hasher.hash(parsed.secret());
        let cached = match self.keys.get(&hash) {
            Lookup::Known(k) => {
                self.metrics.cache_hits.increment(1);
                k
            }
            Lookup::Unknown => {
                self.metrics.cache_hits.increment(1);
                return Ok(self.invalid(input));
            }
            Lookup::Miss => {
                self.metrics.cache_misses.increment(1);
                match self.look_up(hash, input.client_ip).await? {
                    Looked::Found(k) => k,
                    // The client's failure budget was charged before the lookup.
                    Looked::Unknown => return Ok(Decision::deny(VerifyReason::InvalidCredential)),
                    Looked::Throttled(outcome) => return Ok(Decision::throttled(outcome)),
                }
            }
        };
        let now = self.clock.now();
        let key = &cached.key;
        let status = key.status(now);
        if let Err(reason) = check_key(
            status,
            &key.ip_allowlist,
            input.client_ip,
            key.kind,
            &key.scopes,
            &input.required,
        ) {
            // A revoked, expired or disabled key is refused whatever the feed's state; IP and scope
            // denials still name the principal, which gateways log.
            let principal = matches!(reason, VerifyReason::IpNotAllowed | VerifyReason::InsufficientScope)
                .then(|| Principal::Key(cached.clone()));
            return Ok(Decision {
                reason,
                principal,
                rate_limit: None,
                expired_at: (reason == VerifyReason::Expired).then_some(key.expires_at).flatten(),
            });
        }
        self.ensure_fresh()?;
        let (bucket, policy) = match key.rate_limit {
            Some(p) => (Bucket::Key(key.id), p),
            None => (Bucket::Org(key.org_id), self.org_policy(key.org_id).await?),
        };
        let outcome = self.rate_limit(bucket, policy, input.cost, now).await;
        let reason = if outcome.verdict.allowed {
            VerifyReason::Ok
        } else {
            VerifyReason::RateLimited
        };
        if outcome.verdict.allowed {
            self.usage.record(&cached, now);
        }
        Ok(Decision {
            reason,
            principal: Some(Principal::Key(cached)),
            rate_limit: Some(outcome),
            expired_at: None,
        })
    }

    async fn verify_token(&self, raw: &str, input: &VerifyInput<'_>) -> Result<Decision, VerifyError> {
        let token = match self.tokens.tokens.get(raw) {
            Some(t) => {
                self.metrics.cache_hits.increment(1);
                t
            }
            None => {
                self.metrics.cache_misses.increment(1);
                match self.admit_token(raw).await? {
                    Ok(t) => t,
                    Err(VerifyReason::InvalidCredential) => return Ok(self.invalid(input)),
                    Err(reason) => return Ok(Decision::deny(reason)),
                }
            }
        };
        let now = self.clock.now();
        let leeway_ms = i64::try_from(LEEWAY_SECS * 1000).unwrap_or(0);
        if now.0 >= token.expires_at_ms.saturating_add(leeway_ms) {
            return Ok(Decision {
                expired_at: Some(UnixMs(token.expires_at_ms)),
                ..Decision::deny(VerifyReason::Expired)
            });
        }
        if self.tokens.revoked_sessions.contains_key(&token.session) {
            return Ok(Decision::deny(VerifyReason::SessionRevoked));
        }
        let scopes = self.role_scopes(token.org).await?;
        let principal = Principal::User {
            token: token.clone(),
            scopes: scopes.clone(),
        };
        if !input.required.satisfied_by(scopes.of(token.role), None) {
            return Ok(Decision {
                reason: VerifyReason::InsufficientScope,
                principal: Some(principal),
                rate_limit: None,
                expired_at: None,
            });
        }
        self.ensure_fresh()?;
        let policy = self.org_policy(token.org).await?;
        let outcome = self.rate_limit(Bucket::Org(token.org), policy, input.cost, now).await;
        let reason = if outcome.verdict.allowed {
            VerifyReason::Ok
        } else {
            VerifyReason::RateLimited
        };
        Ok(Decision {
            reason,
            principal: Some(principal),
            rate_limit: Some(outcome),
            expired_at: None,
        })
    }

    /// First sight of a token: signature and claims, then its session in the store.
    async fn admit_token(&self, raw: &str) -> Result<Result<Arc<CachedToken>, VerifyReason>, VerifyError> {
        let claims = match self.jwt.verify(raw) {
            Ok(c) => c,
            Err(TokenError::Expired) => return Ok(Err(VerifyReason::Expired)),
            Err(_) => return Ok(Err(VerifyReason::InvalidCredential)),
        };
        let parse = |s: &str| Uuid::parse_str(s).ok();
        let (Some(user), Some(org), Some(sid), Ok(role)) = (
            parse(&claims.sub),
            parse(&claims.org),
            parse(&claims.sid),
            claims.role.parse::<Role>(),
        ) else {
            return Ok(Err(VerifyReason::InvalidCredential));
        };
        let session = SessionId(sid);
        if self.tokens.revoked_sessions.contains_key(&session) {
            return Ok(Err(VerifyReason::SessionRevoked));
        }
        match self.bounded(self.store.get_session(session)).await? {
            Some(s) if s.revoked_at.is_some() => {
                self.tokens.revoked_sessions.insert(session, ());
                return Ok(Err(VerifyReason::SessionRevoked));
            }
            Some(s) if s.user_id.0 == user && s.org_id.0 == org => {}
            _ => return Ok(Err(VerifyReason::InvalidCredential)),
        }
        let token = Arc::new(CachedToken {
            user: UserId(user),
            org: OrgId(org),
            role,
            session,
            expires_at_ms: claims.exp.saturating_mul(1000),
        });
        self.tokens.tokens.insert(raw.to_owned(), token.clone());
        Ok(Ok(token))
    }

    async fn role_scopes(&self, org: OrgId) -> Result<Arc<RoleScopes>, VerifyError> {
        if let Some(s) = self.tokens.role_scopes.get(&org) {
            return Ok(s);
        }
        let generation = self.generation();
        let configured = self.bounded(self.store.role_scopes(org)).await?;
        let scopes = Arc::new(RoleScopes::with(configured));
        self.cache_if_current(
            generation,
            || self.tokens.role_scopes.insert(org, scopes.clone()),
            || self.tokens.role_scopes.invalidate(&org),
        );
        Ok(scopes)
    }

    /// Cached allows are only as good as our view of the change feed.
    fn ensure_fresh(&self) -> Result<(), VerifyError> {
        let synced = self.synced_at.load(Ordering::Relaxed);
        let limit = i64::try_from(self.settings.stale_after.as_millis()).unwrap_or(i64::MAX);
        if self.elapsed_ms().saturating_sub(synced) > limit {
            return Err(VerifyError::Stale);
        }
        Ok(())
    }

    /// Whether cached allows are still served: the change feed was read within the stale
    /// window. Readiness asks this before it pings the store.
    pub fn is_fresh(&self) -> bool {
        self.ensure_fresh().is_ok()
    }

    /// How long ago the change feed was last read (since start, when never).
    pub fn since_synced(&self) -> Duration {
        let ms = self.elapsed_ms().saturating_sub(self.synced_at.load(Ordering::Relaxed));
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// API keys held in the cache.
    pub fn cached_keys(&self) -> u64 {
        self.keys.len()
    }

    /// The change feed was read successfully just now.
    pub fn mark_synced(&self) {
        self.synced_at.fetch_max(self.elapsed_ms(), Ordering::Relaxed);
    }

    /// Applies one change-feed row.
    pub fn apply(&self, change: &Change) {
        let Ok(id) = Uuid::parse_str(&change.subject) else {
            tracing::warn!(seq = change.seq, "change feed row with a malformed subject");
            return;
        };
        match change.kind {
            ChangeKind::Key => self.forget_key(KeyId(id)),
            ChangeKind::Session => self.session_ended(SessionId(id)),
            ChangeKind::Org => self.forget_org(OrgId(id)),
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches what a store read that began at `generation` found, unless an invalidation ran
    /// since. Checked again after the insert: an invalidation that landed between the first
    /// check and the insert dropped entries before this one existed, so it is undone here.
    fn cache_if_current(&self, generation: u64, insert: impl FnOnce(), undo: impl FnOnce()) {
        if generation != self.generation() {
            return;
        }
        insert();
        if generation != self.generation() {
            undo();
        }
    }

    /// Marks an invalidation: bumped before the entry is dropped, so a store read that began
    /// earlier sees the change of generation and does not cache what it read.
    fn invalidating(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The key changed: the next call reads it from the store.
    pub fn forget_key(&self, id: KeyId) {
        self.invalidating();
        self.keys.forget(id);
        self.key_limits.invalidate(&id);
    }

    /// The session is over: its access tokens are refused from the next call.
    pub fn session_ended(&self, id: SessionId) {
        self.invalidating();
        self.tokens.revoked_sessions.insert(id, ());
    }

    /// The org's rate-limit default or role scopes changed.
    pub fn forget_org(&self, org: OrgId) {
        self.invalidating();
        self.org_limits.invalidate(&org);
        self.tokens.role_scopes.invalidate(&org);
    }

    /// Drops everything cached: after a change-feed hole was skipped, some change may have
    /// been missed. Ended sessions are kept (forgetting them would re-admit their tokens);
    /// tokens are re-checked against the store on their next use.
    pub fn forget_everything(&self) {
        self.invalidating();
        self.keys.forget_all();
        self.tokens.tokens.invalidate_all();
        self.tokens.role_scopes.invalidate_all();
        self.org_limits.invalidate_all();
        self.key_limits.invalidate_all();
    }
}

/// `Bearer abc` and `abc` are the same credential; `Bearer` alone is no credential; a value
/// in another scheme is kept whole, to be refused as invalid.
fn strip_bearer(raw: &str) -> &str {
    match Authorization::parse(raw) {
        Authorization::Bearer(t) | Authorization::Bare(t) => t,
        Authorization::Empty => "",
        Authorization::Other => raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_prefix_is_optional() {
        assert_eq!(strip_bearer("Bearer abc"), "abc");
        assert_eq!(strip_bearer("bearer  abc "), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
        assert_eq!(strip_bearer("   "), "");
        assert_eq!(strip_bearer("Bearer "), "");
    }
}
