//! One thin file per proto service: convert, call one use case, convert back.

pub mod admin;
pub mod auth;
pub mod convert;
pub mod ext_authz;
pub mod keys;
pub mod rate_limit_service;
pub mod reply;
pub mod request;
pub mod status;
pub mod verify;

/// Largest request message accepted; bigger ones are refused by tonic before decoding.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
