//! gatekey: an API-key and token authorization service.

pub mod domain;
pub mod proto;
pub mod store;
