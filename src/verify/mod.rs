//! The Verify hot path, independent of any transport: gRPC, Envoy ext_authz and HTTP
//! forward-auth adapters all call [`Verifier::verify`].
//!
//! A cached credential costs one keyed hash (or one token lookup), a few comparisons and a
//! rate-limit check; nothing is written to the store (usage is coalesced, see `usage`).

pub mod cache;
mod decision;
mod engine;
pub mod feed;
pub mod flood;
mod metrics;
mod tasks;
pub mod tokens;
pub mod usage;

pub use decision::{
    Decision, MAX_CREDENTIAL_LEN, Principal, RateLimitOutcome, VerifyError, VerifyInput, VerifySettings,
};
pub use engine::Verifier;
pub use flood::FloodSettings;
pub use tasks::VerifierTasks;
