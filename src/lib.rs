//! airbyte-wrapper as a library: the modules the binary (`main.rs`) starts, exposed so that the
//! fuzz target can drive request parsing and validation directly.

pub mod actors;
pub mod airbyte;
pub mod app;
pub mod auth;
pub mod config;
pub mod definitions;
pub mod error;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod ingestion;
pub mod input;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod server;
pub mod sync;
pub mod text;
