//! Heap allocations per cached Verify call, counted by a global allocator wrapper: the engine
//! alone, the gRPC handler (request validation, engine, decision-to-proto conversion) and the
//! conversion on its own. Allocations are the cost that grows with cores (allocator
//! contention), so this is counted, not timed. Prints one line per path; `cargo bench --bench
//! alloc`.
//!
//! The counter is process-wide: each figure is the smallest of several rounds, so a stray
//! allocation on another thread (a runtime worker waking) does not show up as the call's.

use figment::Figment;
use figment::providers::Serialized;
use futures::executor::block_on;
use gatekey::app::Application;
use gatekey::config::Config;
use gatekey::domain::api_key::{ApiKey, NewKey};
use gatekey::domain::audit::{Actor, AuditContext};
use gatekey::domain::fields::{Email, KeyName, Metadata, Name, Password};
use gatekey::domain::ids::{KeyId, ServiceAccountId};
use gatekey::domain::ip::IpAllowlist;
use gatekey::domain::key_format::{self, Environment, KeyKind};
use gatekey::domain::rate_limit::RateLimitPolicy;
use gatekey::domain::role::Role;
use gatekey::domain::scope::Scopes;
use gatekey::domain::time::UnixMs;
use gatekey::domain::verify::RequiredScopes;
use gatekey::grpc::verify as handler;
use gatekey::proto::v1 as pb;
use gatekey::service::Core;
use gatekey::service::bootstrap::bootstrap;
use gatekey::store::{RateLimitTarget, ServiceAccount};
use gatekey::verify::VerifyInput;
use secrecy::{ExposeSecret, SecretString};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const PEPPER: &str = "gatekey-bench-pepper-for-throwaway-databases-only";
const CALLS: usize = 10_000;
const ROUNDS: usize = 5;

/// One org, one operator service account and one live secret key with two scopes and one
/// metadata entry (the shape of the memory benchmark's keys), on a temporary SQLite file.
async fn build(dir: &tempfile::TempDir) -> anyhow::Result<(Arc<Core>, String)> {
    let config = Config::from_figment(Figment::from(Serialized::defaults(serde_json::json!({
        "grpc_addr": "127.0.0.1:0",
        "http_addr": "127.0.0.1:0",
        "database_url": format!("sqlite://{}", dir.path().join("alloc.db").display()),
        "key_pepper": PEPPER,
        "signing_secret": "gatekey-bench-signing-secret-for-throwaway-databases",
    }))))?;
    let core = Application::build(&config).await?.core();
    let created = bootstrap(
        &core.store,
        &core.clock,
        Name::parse("org", "bench")?,
        Email::parse("email", "bench@bench.test")?,
        Password::new_password("password", "gatekey-bench-password")?,
    )
    .await?;
    let now = core.clock.now();
    let ctx = AuditContext {
        org_id: created.org_id,
        actor: Actor::User(created.user_id),
        client_ip: String::new(),
        now,
    };
    let sa = ServiceAccount {
        id: ServiceAccountId::generate(),
        org_id: created.org_id,
        name: Name::parse("name", "bench")?,
        role: Role::Operator,
        created_at: now,
    };
    core.store.create_service_account(&ctx, &sa).await?;
    let secret = key_format::generate(KeyKind::Secret, Environment::Live);
    let key = ApiKey {
        id: KeyId::generate(),
        org_id: created.org_id,
        service_account_id: sa.id,
        name: KeyName::from_store("deploy".to_owned()),
        kind: KeyKind::Secret,
        environment: Environment::Live,
        prefix: "sk_live_".to_owned(),
        start: secret.secret().expose_secret()[8..12].to_owned(),
        role: Role::Operator,
        scopes: Scopes::parse("scopes", &["cameras.read".to_owned(), "leads.write".to_owned()])?,
        ip_allowlist: IpAllowlist::default(),
        expires_at: None,
        rate_limit: None,
        metadata: Metadata::from_store(BTreeMap::from([("team".to_owned(), "bench".to_owned())])),
        created_at: UnixMs(1_760_000_000_000),
        created_by: Actor::User(created.user_id),
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
        rotated_from: None,
        pair_id: None,
        disabled_at: None,
    };
    let new = NewKey {
        key,
        hash: key_format::keyed_hash(&SecretString::from(PEPPER.to_owned()), secret.secret()),
        pepper_version: 1,
    };
    core.store.insert_key(&ctx, &new).await?;
    let policy = RateLimitPolicy {
        limit: 10_000_000,
        window: Duration::from_secs(1),
        burst: 10_000_000,
    };
    core.store
        .set_rate_limit(&ctx, RateLimitTarget::Org, Some(policy))
        .await?;
    Ok((core, secret.secret().expose_secret().to_owned()))
}

/// Allocations and bytes per call of `call`, the least over `ROUNDS` rounds of `CALLS` calls.
fn per_call(mut call: impl FnMut()) -> (f64, f64) {
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..ROUNDS {
        let region = Region::new(GLOBAL);
        for _ in 0..CALLS {
            call();
        }
        let stats = region.change();
        let n = CALLS as f64;
        let allocs = (stats.allocations + stats.reallocations) as f64 / n;
        let bytes = (stats.bytes_allocated + stats.bytes_reallocated.max(0) as usize) as f64 / n;
        if allocs < best.0 {
            best = (allocs, bytes);
        }
    }
    best
}

fn report(name: &str, (allocs, bytes): (f64, f64)) {
    println!("{name:<58} {allocs:>6.2} allocations {bytes:>8.1} bytes per call");
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let (core, key) = rt.block_on(build(&dir))?;
    let verifier = &core.verifier;
    let request = pb::VerifyRequest {
        credential: key.clone(),
        required_scopes: vec!["cameras.read".to_owned()],
        client_ip: "203.0.113.7".to_owned(),
        cost: 0,
    };
    let input = VerifyInput {
        credential: &key,
        required: RequiredScopes::parse("required_scopes", &["cameras.read".to_owned()])?,
        client_ip: "203.0.113.7".parse().ok(),
        cost: 1,
    };
    // The first call fills the caches from the store (on the runtime: sqlx needs it); the feed
    // is marked fresh because no follower runs here. Cached calls never touch the runtime.
    verifier.mark_synced();
    let decision = rt.block_on(verifier.verify(&input))?;
    anyhow::ensure!(decision.allowed(), "the bench key was refused: {:?}", decision.reason);

    report(
        "Verifier::verify cached key (engine)",
        per_call(|| {
            let _ = black_box(block_on(verifier.verify(black_box(&input))));
        }),
    );
    report(
        "grpc::verify::verify cached key (handler, no transport)",
        per_call(|| {
            let _ = black_box(block_on(handler::verify(verifier, black_box(&request))));
        }),
    );
    report(
        "grpc::verify::response (decision to proto)",
        per_call(|| {
            black_box(handler::response(black_box(&decision)));
        }),
    );
    let response = handler::response(&decision);
    report(
        "VerifyResponse encode_to_vec (tonic reuses its buffer)",
        per_call(|| {
            black_box(prost::Message::encode_to_vec(black_box(&response)));
        }),
    );
    Ok(())
}
