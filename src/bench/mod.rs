//! `gatekey-bench`, the load generator for `AuthService.Verify` (see BENCHMARKS.md).
//!
//! Servers under test run as child processes so their CPU time is theirs alone: `gatekey`
//! itself (`gatekey`), and the floor (`floor`), a tonic server of the same proto that does no
//! work. `run` alternates the two; `load` is the redis-benchmark-style loop; `memory`
//! measures the key cache in this process.

pub mod child;
pub mod floor;
pub mod gatekey;
pub mod load;
pub mod memory;
pub mod metrics;
pub mod procfs;
pub mod report;
pub mod run;
pub mod scenario;
