//! gatekey: an API-key and token authorization service.
//!
//! `domain` holds pure rules, `store` the storage contract and its backends, `sessions` the
//! password/JWT/refresh machinery, `service` the use cases, `grpc` and `http` the transports,
//! and `app` wires them together. The load generator and benchmarks are a crate of their own
//! (`bench/`, `gatekey-bench`).

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod gateway;
pub mod grpc;
pub mod http;
pub mod proto;
pub mod ratelimit;
pub mod service;
pub mod sessions;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod verify;
