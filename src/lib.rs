//! airbyte-wrapper as a library: the modules the binary (`main.rs`) starts, exposed so that the
//! fuzz targets can drive request parsing and validation directly.
//!
//! The modules form layers; each imports only modules below it (`grep -n "use crate::" src`):
//!
//! 1. `main.rs`: start-up only.
//! 2. [`routes`]: the route table and the one `match` from method and path to a handler; it is
//!    how [`app::App`] serves requests ([`server::Service`]).
//! 3. [`server`] (the HTTP server, generic over what it serves) beside the handlers: [`actors`]
//!    (`/datasource`, `/sink`: create, read, change, delete), [`checks`] and [`streams`] (a
//!    configuration tried out before anything is created; they read it as [`actors`] does),
//!    [`ingestion`] (which shows its jobs through [`jobs`]), [`jobs`], [`attempts`] (a job's
//!    attempts and logs, found through [`jobs`]), [`health`], [`openapi`].
//! 4. [`app`]: what every handler shares.
//! 5. [`definitions`] (the definition and spec cache), [`catalog`] (stream catalogs),
//!    [`idempotency`], [`input`] (body checks), [`auth`] (the inbound token), [`http`] (the
//!    request and reply types).
//! 6. [`secrets`]: which configuration fields are secrets, and masking them.
//! 7. [`error`]: the one error type and the one mapping of failures to statuses.
//! 8. [`airbyte`]: the Airbyte client, with everything only it uses under it.
//! 9. Leaves: [`config`], [`metrics`], [`json`], [`text`], [`sync`].

pub mod actors;
pub mod airbyte;
pub mod app;
pub mod attempts;
pub mod auth;
pub mod catalog;
pub mod checks;
pub mod config;
pub mod definitions;
pub mod error;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod ingestion;
pub mod input;
pub mod jobs;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod secrets;
pub mod server;
pub mod streams;
pub mod sync;
pub mod text;
