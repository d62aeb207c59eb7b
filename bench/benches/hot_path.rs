//! The pure pieces of a Verify call, one at a time: key parsing, keyed hashing, scope
//! matching and the GCRA limiter. Quick enough for `--warm-up-time 1 --measurement-time 2`.

use criterion::{Criterion, criterion_group, criterion_main};
use gatekey::domain::ids::OrgId;
use gatekey::domain::key_format::{self, Environment, KeyKind};
use gatekey::domain::rate_limit::RateLimitPolicy;
use gatekey::domain::scope::Scopes;
use gatekey::domain::verify::RequiredScopes;
use gatekey::ratelimit::gcra::{self, Params};
use gatekey::ratelimit::{Bucket, LocalLimiter};
use secrecy::{ExposeSecret, SecretString};
use std::hint::black_box;
use std::time::Duration;

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| (*x).to_owned()).collect()
}

fn key_parsing(c: &mut Criterion) {
    let raw = key_format::generate(KeyKind::Secret, Environment::Live)
        .secret()
        .expose_secret()
        .to_owned();
    let mut typo = raw.clone().into_bytes();
    typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap_or_default();
    c.bench_function("key_format::parse valid", |b| {
        b.iter(|| key_format::parse(black_box(&raw)))
    });
    c.bench_function("key_format::parse bad checksum", |b| {
        b.iter(|| key_format::parse(black_box(&typo)))
    });
    c.bench_function("key_format::looks_like_key", |b| {
        b.iter(|| key_format::looks_like_key(black_box(&raw)))
    });
}

fn keyed_hashing(c: &mut Criterion) {
    let pepper = SecretString::from("gatekey-bench-pepper-for-throwaway-databases-only".to_owned());
    let key = key_format::generate(KeyKind::Secret, Environment::Live);
    c.bench_function("key_format::keyed_hash", |b| {
        b.iter(|| key_format::keyed_hash(black_box(&pepper), black_box(key.secret())))
    });
}

fn scope_matching(c: &mut Criterion) {
    let held = Scopes::parse(
        "scopes",
        &strings(&[
            "billing:read",
            "cameras.*",
            "leads.lead.write",
            "leads.read",
            "users.read",
        ]),
    )
    .unwrap_or_default();
    let required =
        RequiredScopes::parse("required_scopes", &strings(&["cameras.read", "leads.read"])).unwrap_or_default();
    c.bench_function("Scopes::grants (5 held, hit on a wildcard)", |b| {
        b.iter(|| black_box(&held).grants(black_box("cameras.feed.read")))
    });
    c.bench_function("Scopes::grants (5 held, miss)", |b| {
        b.iter(|| black_box(&held).grants(black_box("payments.write")))
    });
    c.bench_function("RequiredScopes::satisfied_by (2 of 5)", |b| {
        b.iter(|| black_box(&required).satisfied_by(black_box(&held), Some(KeyKind::Secret)))
    });
    c.bench_function("RequiredScopes::parse (2 scopes)", |b| {
        let raw = strings(&["cameras.read", "leads.read"]);
        b.iter(|| RequiredScopes::parse("required_scopes", black_box(&raw)))
    });
}

fn rate_limiting(c: &mut Criterion) {
    let policy = RateLimitPolicy {
        limit: 10_000_000,
        window: Duration::from_secs(1),
        burst: 10_000_000,
    };
    let params = Params::of(&policy);
    c.bench_function("gcra::check", |b| {
        let mut now = 0i64;
        b.iter(|| {
            now += 1_000;
            gcra::check(black_box(params), Some(now), now, 1)
        })
    });
    let limiter = LocalLimiter::default();
    let bucket = Bucket::Org(OrgId::generate());
    c.bench_function("LocalLimiter::check (one bucket)", |b| {
        let mut now = 0i64;
        b.iter(|| {
            now += 1_000;
            limiter.check(black_box(bucket), params, 1, now)
        })
    });
    let many: Vec<Bucket> = (0..10_000).map(|_| Bucket::Org(OrgId::generate())).collect();
    c.bench_function("LocalLimiter::check (10k buckets)", |b| {
        let mut now = 0i64;
        let mut i = 0usize;
        b.iter(|| {
            now += 1_000;
            i = (i + 1) % many.len();
            limiter.check(black_box(many[i]), params, 1, now)
        })
    });
    c.bench_function("ratelimit::header + policy_header", |b| {
        let (verdict, _) = gcra::check(params, None, 0, 1);
        b.iter(|| {
            (
                gatekey::ratelimit::header(black_box(bucket), black_box(&verdict)),
                gatekey::ratelimit::policy_header(black_box(bucket), black_box(&policy)),
            )
        })
    });
}

criterion_group!(benches, key_parsing, keyed_hashing, scope_matching, rate_limiting);
criterion_main!(benches);
