//! Interactive sessions: passwords, JWT signing keys, refresh tokens, login throttling.

pub mod jwt;
pub mod password;
pub mod refresh;
pub mod throttle;
