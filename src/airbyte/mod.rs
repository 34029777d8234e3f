//! The Airbyte client: one interface in the service's own terms ([`Airbyte`]: sources and
//! destinations, checks, streams, connections, jobs), what a newcomer reads first, and beneath it
//! one module per API that Airbyte has:
//!
//! - `config/`: the Config API (`/api/v1`), every call a `POST` with a JSON body. Airbyte calls it
//!   deprecated for external use, but it is the only one with dry-run checks, previews of an
//!   unsaved configuration, connector specs and schema diffs.
//! - `public/`: the public API (`/api/public/v1`, Airbyte Cloud's `https://api.airbyte.com/v1`),
//!   REST with paged lists and problem objects; for what it cannot do it asks the Config API beside
//!   it, and says [`Error::Unsupported`] when that is refused.
//!
//! Handlers hold an `Arc<dyn Airbyte>` and never learn which API they talk to. Both dialects
//! share how a call goes (`exchange.rs`: sent with the current credentials from
//! `credentials.rs`, renewed once on a 401, decoded, recorded in the metrics), how connections
//! reach Airbyte (`transport.rs`), and how a failure is said ([`Error`]); the crate's `error.rs`
//! decides what the client is told. Adding a call is one method on [`Airbyte`] and one in each
//! dialect, with its wire types beside it.
//!
//! The contract is Airbyte's published OpenAPI documents (`../shared/airbyte` in the development
//! tree).

mod config;
mod credentials;
mod error;
mod exchange;
mod fields;
mod kind;
mod model;
mod public;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::Value;
use uuid::Uuid;

pub use error::{CertificateProblem, Error, InvalidInput};
pub use kind::Kind;
pub use model::{
    Actor, Attempt, Check, Connection, ConnectionUpdate, Definition, Discovery, Failure, Job,
    JobQuery, JobStats, NewConnection, StreamName, StreamStats, ENDED,
};

use credentials::Credentials;
use exchange::{BaseUrl, Exchange, TokenEndpoint};

use crate::config::{AirbyteApi, Config};
use crate::metrics::Metrics;

/// What the service asks of Airbyte, in its own terms; one implementation per API.
pub trait Airbyte: Send + Sync {
    /// Which API this is and where, for the start-up line and `/readyz`: `public API at ...`.
    fn describe(&self) -> String;

    /// `config` or `public`.
    fn api(&self) -> AirbyteApi;

    /// Whether Airbyte says it is available.
    fn health(&self) -> Result<bool, Error>;

    /// The workspaces the service's credentials may use, in Airbyte's order.
    fn workspaces(&self) -> Result<Vec<Uuid>, Error>;

    /// The connector definitions of `kind` a workspace may use: Airbyte's and its custom ones.
    fn definitions(&self, kind: Kind, workspace: Uuid) -> Result<Vec<Definition>, Error>;

    /// The connector's configuration spec, a JSON schema (`None` when Airbyte has none for it).
    fn spec(&self, kind: Kind, workspace: Uuid, definition: Uuid) -> Result<Option<Value>, Error>;

    /// Creates a source or destination; `config` is sent byte for byte.
    fn create_actor(
        &self,
        kind: Kind,
        workspace: Uuid,
        definition: Uuid,
        name: &str,
        config: &RawValue,
    ) -> Result<Actor, Error>;

    fn get_actor(&self, kind: Kind, id: Uuid) -> Result<Actor, Error>;

    /// Replaces the name and the whole configuration; masked values keep the stored secrets.
    fn update_actor(
        &self,
        kind: Kind,
        id: Uuid,
        name: &str,
        config: &Value,
    ) -> Result<Actor, Error>;

    fn delete_actor(&self, kind: Kind, id: Uuid) -> Result<(), Error>;

    /// Every source or destination of the workspace, every page.
    fn list_actors(&self, kind: Kind, workspace: Uuid) -> Result<Vec<Actor>, Error>;

    /// Checks a configuration no actor has, creating nothing. [`Error::NotRun`] when Airbyte could
    /// not run the check.
    fn check_config(
        &self,
        kind: Kind,
        workspace: Uuid,
        definition: Uuid,
        config: &RawValue,
    ) -> Result<Check, Error>;

    /// Checks a stored actor's changed configuration, its masked values filled from the stored
    /// secrets; saves nothing.
    fn check_update(
        &self,
        kind: Kind,
        id: Uuid,
        name: &str,
        config: &Value,
    ) -> Result<Check, Error>;

    /// The streams a source with this configuration would offer, creating nothing.
    fn discover_config(
        &self,
        workspace: Uuid,
        definition: Uuid,
        config: &RawValue,
    ) -> Result<Discovery, Error>;

    /// The streams a stored source offers, each with the sync modes it supports (towards
    /// `destination` when one is named: the public API says them only then).
    fn discover_source(&self, source: Uuid, destination: Option<Uuid>) -> Result<Discovery, Error>;

    /// The stored source's streams as they are now, bypassing Airbyte's cache, with Airbyte's
    /// verdict on the change from `connection`'s catalog.
    fn rediscover_source(&self, source: Uuid, connection: Uuid) -> Result<Discovery, Error>;

    /// Creates an active connection; returns its id.
    fn create_connection(&self, new: &NewConnection) -> Result<Uuid, Error>;

    fn get_connection(&self, id: Uuid) -> Result<Connection, Error>;

    /// Changes what `update` names, and answers the connection.
    fn update_connection(&self, id: Uuid, update: &ConnectionUpdate) -> Result<Connection, Error>;

    fn delete_connection(&self, id: Uuid) -> Result<(), Error>;

    /// The status of the connection's latest sync job, if it has had one.
    fn last_sync_status(&self, connection: Uuid) -> Result<Option<String>, Error>;

    /// Starts a sync now. [`Error::Status`] 409 when one is running.
    fn sync_connection(&self, connection: Uuid) -> Result<Job, Error>;

    /// A job; [`Error::Status`] 404 when Airbyte has none with this id.
    fn get_job(&self, id: i64) -> Result<Job, Error>;

    /// A page of a connection's jobs, newest first.
    fn list_jobs(&self, query: &JobQuery<'_>) -> Result<Vec<Job>, Error>;

    /// Cancels a job; answers it as it then stands.
    fn cancel_job(&self, id: i64) -> Result<Job, Error>;

    /// A job and each of its attempts; [`Error::Status`] 404 when Airbyte has no such job.
    fn job_attempts(&self, id: i64) -> Result<(Job, Vec<Attempt>), Error>;

    /// The log of attempt `number` of job `job`, line by line, as Airbyte keeps it (Airbyte masks
    /// the secrets it knows of); [`Error::Status`] 404 when the job has no such attempt.
    fn attempt_log(&self, job: i64, number: i64) -> Result<Vec<String>, Error>;

    /// Starts a job that deletes what the connection has written, of `streams` or (none named)
    /// of all its streams, and resets their state, so that the next sync starts over.
    /// [`Error::Status`] 409 when Airbyte refuses because a job runs.
    fn clear_connection(&self, connection: Uuid, streams: &[StreamName]) -> Result<Job, Error>;
}

/// The client for the Airbyte that `config` names, in the dialect of its API, recording its
/// calls in `metrics`.
pub fn connect(config: &Config, metrics: Arc<Metrics>) -> Arc<dyn Airbyte> {
    let agent_config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(config.airbyte_timeout))
        .max_redirects(0)
        .max_idle_connections(config.workers)
        .max_idle_connections_per_host(config.workers)
        .user_agent(concat!("airbyte-wrapper/", env!("CARGO_PKG_VERSION")))
        // ureq's `Accept: */*` says what no `Accept` says (RFC 9110 §12.5.1), at the cost of a
        // header made and parsed on every call.
        .accept("")
        .build();
    let (agent, addresses) = transport::agent(agent_config, &config.airbyte_ca.0);
    let base_url = |url: &str| BaseUrl::new(url).expect("the configuration checked the URL");
    let credentials = Arc::new(Credentials::new(config.airbyte_auth.clone()));
    let token = Arc::new(TokenEndpoint {
        base_url: base_url(&config.airbyte_base_url),
        with_grant: config.airbyte_api == AirbyteApi::Public,
    });
    let exchange = |url: &str| Exchange {
        agent: agent.clone(),
        addresses: addresses.clone(),
        base_url: base_url(url),
        timeout: config.airbyte_timeout,
        credentials: credentials.clone(),
        token: token.clone(),
        metrics: metrics.clone(),
    };
    let timeouts = Timeouts {
        call: config.airbyte_timeout,
        discover: config.discover_timeout,
    };
    let config_api = |url: &str| config::ConfigApi::new(exchange(url), timeouts);
    match (config.airbyte_api, &config.config_api_url) {
        (AirbyteApi::Public, Some(beside)) => Arc::new(public::PublicApi::new(
            exchange(&config.airbyte_base_url),
            config_api(beside),
            timeouts,
        )),
        _ => Arc::new(config_api(&config.airbyte_base_url)),
    }
}

/// How long the calls of a dialect wait: most for `call`, those that run a connector (checks,
/// discoveries) for `discover`.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    call: Duration,
    discover: Duration,
}
