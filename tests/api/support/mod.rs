//! Shared test helpers.

pub mod app;
pub mod db;
pub mod logs;
