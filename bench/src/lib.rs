//! `gatekey-bench`, the load generator for `AuthService.Verify` and the gateway protocols
//! (ext_authz `Check`, forward-auth) (see BENCHMARKS.md).
//!
//! Servers under test run as child processes so their CPU time is theirs alone: `gatekey`
//! itself (`gatekey`), and the floor (`floor`), a server of the same protocols that does no
//! work. `run` alternates the two; `load` is the redis-benchmark-style loop and `call` one
//! call in each protocol; `gateway` holds the proxies' requests and the floor's canned
//! gateway answers; `memory` measures the key cache in this process. `h2load_run` loads
//! gatekey and a bare no-op floor with nghttp2's h2load instead of our own client (`h2load`).

pub mod call;
pub mod child;
pub mod floor;
pub mod gatekey;
pub mod gateway;
pub mod h2load;
pub mod h2load_run;
pub mod load;
pub mod memory;
pub mod metrics;
pub mod procfs;
pub mod report;
pub mod run;
pub mod scenario;
