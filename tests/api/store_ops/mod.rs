//! Running against real stores in production: TLS to PostgreSQL and Redis, failing fast on a
//! slow or unreachable store, health that follows readiness, and start-up errors that name
//! what failed.

mod fail_fast;
mod health;
mod startup;
mod tls_postgres;
mod tls_redis;
