//! The Verify engine in process, without transport: `Verifier::verify` on a cached key, a
//! cached JWT and a broken checksum, and the gRPC handler's own share (request validation,
//! decision-to-proto conversion, encoding). What the load generator measures above these
//! is tonic, HTTP/2 and the kernel.

use criterion::{Criterion, criterion_group, criterion_main};
use figment::Figment;
use figment::providers::Serialized;
use futures::executor::block_on;
use gatekey::app::Application;
use gatekey::config::Config;
use gatekey::domain::api_key::NewKey;
use gatekey::domain::audit::{Actor, AuditContext};
use gatekey::domain::fields::{Email, Name, Password};
use gatekey::domain::ids::ServiceAccountId;
use gatekey::domain::key_format::{self, Environment, KeyKind};
use gatekey::domain::rate_limit::RateLimitPolicy;
use gatekey::domain::role::Role;
use gatekey::domain::verify::RequiredScopes;
use gatekey::grpc::verify as handler;
use gatekey::proto::v1 as pb;
use gatekey::service::Core;
use gatekey::service::auth::LoginInput;
use gatekey::service::bootstrap::bootstrap;
use gatekey::store::{RateLimitTarget, ServiceAccount};
use gatekey::verify::VerifyInput;
use gatekey_bench::memory::realistic_key;
use secrecy::{ExposeSecret, SecretString};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

const PEPPER: &str = "gatekey-bench-pepper-for-throwaway-databases-only";
const PASSWORD: &str = "gatekey-bench-password";

/// A built (not serving) gatekey on a temporary SQLite file, with one org, one cached key
/// and its owner's access token.
struct Fixture {
    core: Arc<Core>,
    key: String,
    jwt: String,
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

async fn build(dir: &tempfile::TempDir) -> anyhow::Result<(Arc<Core>, String, String)> {
    let config = Config::from_figment(Figment::from(Serialized::defaults(serde_json::json!({
        "grpc_addr": "127.0.0.1:0",
        "http_addr": "127.0.0.1:0",
        "database_url": format!("sqlite://{}", dir.path().join("bench.db").display()),
        "key_pepper": PEPPER,
        "signing_secret": "gatekey-bench-signing-secret-for-throwaway-databases",
    }))))?;
    let core = Application::build(&config).await?.core();
    let email = Email::parse("email", "bench@bench.test")?;
    let created = bootstrap(
        &core.store,
        &core.clock,
        Name::parse("org", "bench")?,
        email.clone(),
        Password::new_password("password", PASSWORD)?,
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
    let key = NewKey {
        key: realistic_key(0, created.org_id, sa.id),
        hash: key_format::keyed_hash(&SecretString::from(PEPPER.to_owned()), secret.secret()),
        pepper_version: 1,
    };
    core.store.insert_key(&ctx, &key).await?;
    let policy = RateLimitPolicy {
        limit: 10_000_000,
        window: Duration::from_secs(1),
        burst: 10_000_000,
    };
    core.store
        .set_rate_limit(&ctx, RateLimitTarget::Org, Some(policy))
        .await?;
    let tokens = core
        .login(LoginInput {
            email,
            password: Password::presented("password", PASSWORD)?,
            remember_me: false,
            user_agent: "gatekey-bench".to_owned(),
            client_ip: String::new(),
        })
        .await?;
    Ok((core, secret.secret().expose_secret().to_owned(), tokens.access_token))
}

fn fixture() -> anyhow::Result<Fixture> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let (core, key, jwt) = rt.block_on(build(&dir))?;
    Ok(Fixture {
        core,
        key,
        jwt,
        _dir: dir,
        rt,
    })
}

fn request(credential: &str) -> pb::VerifyRequest {
    pb::VerifyRequest {
        credential: credential.to_owned(),
        required_scopes: vec!["cameras.read".to_owned()],
        client_ip: "203.0.113.7".to_owned(),
        cost: 0,
    }
}

fn engine(c: &mut Criterion) {
    let f = match fixture() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("engine benches skipped: {e:#}");
            return;
        }
    };
    let verifier = &f.core.verifier;
    let required = RequiredScopes::parse("required_scopes", &["cameras.read".to_owned()]).unwrap_or_default();
    let broken = {
        let mut b = f.key.clone().into_bytes();
        b[12] = if b[12] == b'a' { b'b' } else { b'a' };
        String::from_utf8(b).unwrap_or_default()
    };
    for (name, credential) in [
        ("Verifier::verify cached key", f.key.as_str()),
        ("Verifier::verify cached jwt", f.jwt.as_str()),
        ("Verifier::verify invalid checksum", broken.as_str()),
    ] {
        let input = VerifyInput {
            credential,
            required: required.clone(),
            client_ip: "203.0.113.7".parse().ok(),
            cost: 1,
        };
        // The first call fills the caches from the store (on the runtime: sqlx needs it); the
        // feed is marked fresh because no follower runs here. Cached calls never touch the
        // runtime, so the loop polls them on this thread.
        verifier.mark_synced();
        if let Ok(d) = f.rt.block_on(verifier.verify(&input)) {
            eprintln!("{name}: {:?}", d.reason);
        }
        c.bench_function(name, |b| b.iter(|| block_on(verifier.verify(black_box(&input)))));
    }

    let key_request = request(&f.key);
    verifier.mark_synced();
    c.bench_function("grpc::verify::verify cached key (handler, no transport)", |b| {
        b.iter(|| block_on(handler::verify(verifier, black_box(&key_request))))
    });
    c.bench_function("grpc::verify::input", |b| {
        b.iter(|| handler::input(black_box(&key_request)))
    });
    let input = VerifyInput {
        credential: &f.key,
        required: required.clone(),
        client_ip: None,
        cost: 1,
    };
    verifier.mark_synced();
    if let Ok(decision) = f.rt.block_on(verifier.verify(&input)) {
        c.bench_function("grpc::verify::response (cached key)", |b| {
            b.iter(|| handler::response(black_box(&decision)))
        });
        let response = handler::response(&decision);
        c.bench_function("VerifyResponse encode (cached key)", |b| {
            b.iter(|| prost::Message::encode_to_vec(black_box(&response)))
        });
    }
}

/// What `trace_fn` in `app.rs` costs per call: an `info` span with the method path, under
/// the fmt subscriber gatekey installs (its `info` default enables the span, and the fmt
/// layer formats its fields on creation).
fn request_span(c: &mut Criterion) {
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .finish();
    let path = "/gatekey.v1.AuthService/Verify";
    tracing::subscriber::with_default(subscriber, || {
        c.bench_function(
            "trace_fn info span, created and entered (fmt subscriber at info)",
            |b| {
                b.iter(|| {
                    let span = tracing::info_span!("grpc", method = %black_box(path));
                    let _entered = span.enter();
                })
            },
        );
    });
    let quiet = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(quiet, || {
        c.bench_function(
            "trace_fn info span, created and entered (fmt subscriber at warn)",
            |b| {
                b.iter(|| {
                    let span = tracing::info_span!("grpc", method = %black_box(path));
                    let _entered = span.enter();
                })
            },
        );
    });
}

criterion_group!(benches, engine, request_span);
criterion_main!(benches);
