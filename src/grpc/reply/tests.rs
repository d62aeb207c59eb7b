use super::*;
use crate::domain::api_key::ApiKey;
use crate::domain::audit::Actor;
use crate::domain::fields::{KeyName, Metadata};
use crate::domain::ids::{KeyId, OrgId, ServiceAccountId, UserId};
use crate::domain::ip::IpAllowlist;
use crate::domain::key_format::KeyKind;
use crate::domain::rate_limit::RateLimitPolicy;
use crate::domain::role::Role;
use crate::domain::scope::Scopes;
use crate::domain::time::UnixMs;
use crate::ratelimit::{Bucket, Verdict};
use std::collections::BTreeMap;
use std::time::Duration;

fn key() -> Arc<CachedKey> {
    let scopes = Scopes::parse("scopes", &["cameras.read".to_owned(), "leads.*".to_owned()]).unwrap_or_default();
    Arc::new(CachedKey::new(ApiKey {
        id: KeyId::generate(),
        org_id: OrgId::generate(),
        service_account_id: ServiceAccountId::generate(),
        name: KeyName::from_store("deploy".to_owned()),
        kind: KeyKind::Secret,
        environment: Environment::Test,
        prefix: "sk_test_".to_owned(),
        start: "AbCd".to_owned(),
        role: Role::Operator,
        scopes,
        ip_allowlist: IpAllowlist::default(),
        expires_at: Some(UnixMs(1_900_000_000_123)),
        rate_limit: None,
        metadata: Metadata::from_store(BTreeMap::from([
            ("team".to_owned(), "bench".to_owned()),
            ("tier".to_owned(), "gold".to_owned()),
        ])),
        created_at: UnixMs(1_760_000_000_000),
        created_by: Actor::User(UserId::generate()),
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
        rotated_from: None,
        pair_id: None,
        disabled_at: None,
    }))
}

/// What the server sent before `VerifyReply`: the generated message, built field by field.
fn built(reply: &VerifyReply, key: &CachedKey, o: Option<&RateLimitOutcome>) -> pb::VerifyResponse {
    pb::VerifyResponse {
        allowed: reply.allowed,
        reason: reply.reason,
        http_status: reply.http_status,
        principal: Some(key_principal(&key.key)),
        rate_limit: o.map(|o| pb::RateLimitVerdict {
            limited: !o.verdict.allowed,
            policy: o.bucket.policy_name().to_owned(),
            limit: o.policy.limit,
            window: Some(super::super::convert::duration_to(o.policy.window)),
            remaining: o.verdict.remaining,
            reset_after: Some(super::super::convert::duration_to(o.verdict.reset_after)),
            retry_after: Some(super::super::convert::duration_to(o.verdict.retry_after)),
            policy_header: ratelimit::policy_header(o.bucket, &o.policy),
            header: ratelimit::header(o.bucket, &o.verdict),
        }),
    }
}

fn outcome(allowed: bool, remaining: u32) -> RateLimitOutcome {
    RateLimitOutcome {
        bucket: Bucket::Org(OrgId::generate()),
        policy: RateLimitPolicy {
            limit: 1000,
            window: Duration::from_secs(60),
            burst: 1000,
        },
        verdict: Verdict {
            allowed,
            remaining,
            reset_after: Duration::from_millis(1500),
            retry_after: if allowed {
                Duration::ZERO
            } else {
                Duration::from_millis(60)
            },
        },
    }
}

#[test]
fn a_reply_decodes_as_the_response_the_generated_message_would_have_been() -> anyhow::Result<()> {
    let key = key();
    for (allowed, o) in [
        (true, Some(outcome(true, 999))),
        (false, Some(outcome(false, 0))),
        (false, None),
    ] {
        let reply = VerifyReply {
            allowed,
            reason: if allowed { 1 } else { 8 },
            http_status: if allowed { 200 } else { 429 },
            principal: Some(PrincipalField::Key(key.clone())),
            rate_limit: o.map(RateLimitField::new),
        };
        let bytes = reply.encode_to_vec();
        assert_eq!(bytes.len(), reply.encoded_len());
        let decoded = pb::VerifyResponse::decode(bytes.as_slice())?;
        assert_eq!(decoded, built(&reply, &key, o.as_ref()));
    }
    Ok(())
}

#[test]
fn a_bare_deny_is_as_short_as_the_generated_one() -> anyhow::Result<()> {
    let reply = VerifyReply {
        allowed: false,
        reason: 3,
        http_status: 401,
        principal: None,
        rate_limit: None,
    };
    let generated = pb::VerifyResponse {
        reason: 3,
        http_status: 401,
        ..Default::default()
    };
    assert_eq!(reply.encode_to_vec(), generated.encode_to_vec());
    Ok(())
}
