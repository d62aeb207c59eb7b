//! Shared test helpers.

pub mod app;
pub mod certs;
pub mod counting_store;
pub mod db;
pub mod forge;
pub mod logs;
pub mod pg_cluster;
pub mod pki;
pub mod tcp_proxy;
