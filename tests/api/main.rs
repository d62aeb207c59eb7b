//! The one integration-test binary (as zero2prod and kanidm do): every test module drives
//! real code, the gRPC ones a real server on port 0.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod admin;
pub(crate) mod cli;
mod console;
mod faults;
mod flood;
mod gateways;
mod http_api;
mod key_lifecycle;
mod key_pairs;
mod keys;
mod members;
mod permissions;
mod properties;
mod ratelimit_redis;
mod replicas;
mod secrecy;
mod sessions;
mod store_conformance;
mod store_ops;
mod support;
mod telemetry;
mod tls;
mod verify;
