//! The Airbyte Config API client: one short method per Airbyte call, what a newcomer reads first.
//!
//! Every call is a blocking `POST` with a JSON body (except `GET /health`), made as a `Call`
//! value down one path (`exchange.rs`): sent with the current credentials (`credentials.rs`),
//! renewed once on a 401, decoded, recorded in the metrics. Statuses are handled there, not by
//! ureq, so that each failure becomes an [`Error`] that says what happened; the crate's
//! `error.rs` decides what the client is told. `transport.rs` is how connections reach Airbyte.
//! Adding a call is one method here and its types in `wire.rs`.
//!
//! The contract is Airbyte's published OpenAPI document (`../shared/airbyte` in the development
//! tree).

mod credentials;
mod error;
mod exchange;
mod kind;
mod transport;
mod wire;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{json, Value};
use uuid::Uuid;

pub use error::{CertificateProblem, Error, InvalidInput};
pub use kind::{Kind, KindNames};
pub use wire::{
    Actor, AttemptRead, Catalog, Check, Connection, ConnectionUpdate, Definition, Discovery,
    FailureRead, FailureSummary, Job, JobQuery, JobRead, JobStats, NewConnection,
};

use credentials::Credentials;
use exchange::{Call, Exchange};
use wire::{
    ActorCreate, ActorList, ActorUpdate, CheckRead, ConnectionRead, DefinitionList, DiscoverRead,
    Empty, HealthRead, JobInfoRead, JobOptionalRead, JobReadList, SpecificationRead, WorkspaceList,
};

use crate::config::Config;
use crate::metrics::Metrics;

/// The default organization of a self-managed Airbyte install (used to list workspaces on
/// Airbyte 1.7 and later).
pub const DEFAULT_ORGANIZATION_ID: &str = "00000000-0000-0000-0000-000000000000";

/// A blocking client for one Airbyte install.
pub struct Client {
    exchange: Exchange,
    timeout: Duration,
    discover_timeout: Duration,
}

impl Client {
    /// A client for the Airbyte at `config.airbyte_base_url`, recording its calls in `metrics`.
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Client {
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.airbyte_timeout))
            .max_redirects(0)
            .max_idle_connections(config.workers)
            .max_idle_connections_per_host(config.workers)
            .user_agent(concat!("airbyte-wrapper/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            exchange: Exchange {
                agent: transport::agent(agent_config, &config.airbyte_ca.0),
                base_url: config.airbyte_base_url.trim_end_matches('/').to_string(),
                timeout: config.airbyte_timeout,
                credentials: Credentials::new(config.airbyte_auth.clone()),
                metrics,
            },
            timeout: config.airbyte_timeout,
            discover_timeout: config.discover_timeout,
        }
    }

    /// `GET /health`: whether Airbyte says it is available.
    pub fn health(&self) -> Result<bool, Error> {
        let health: HealthRead = self.exchange.run(&Call::get("health", self.timeout))?;
        Ok(health.available)
    }

    /// `POST /workspaces/list` (Airbyte up to 1.6). `Ok(None)` when this Airbyte no longer has the
    /// call (404, Airbyte 1.7 and later).
    pub fn list_workspaces(&self) -> Result<Option<Vec<Uuid>>, Error> {
        let call = Call::post_empty("workspaces/list", self.timeout);
        match self.exchange.run::<WorkspaceList>(&call) {
            Ok(list) => Ok(Some(list.ids())),
            Err(Error::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /workspaces/list_by_organization_id` for the default organization (Airbyte 1.7 and later).
    pub fn list_workspaces_in_default_organization(&self) -> Result<Vec<Uuid>, Error> {
        let body = json!({ "organizationId": DEFAULT_ORGANIZATION_ID });
        let call = Call::post("workspaces/list_by_organization_id", &body, self.timeout);
        Ok(self.exchange.run::<WorkspaceList>(&call)?.ids())
    }

    /// `POST /{source,destination}_definitions/list_for_workspace`: Airbyte's connectors and the
    /// workspace's custom ones.
    pub fn list_definitions(
        &self,
        kind: Kind,
        workspace_id: Uuid,
    ) -> Result<Vec<Definition>, Error> {
        let body = json!({ "workspaceId": workspace_id });
        let call = Call::post(kind.names().definitions_call, &body, self.timeout);
        Ok(self.exchange.run::<DefinitionList>(&call)?.definitions)
    }

    /// `POST /sources/create` / `POST /destinations/create`.
    pub fn create_actor(
        &self,
        kind: Kind,
        workspace_id: Uuid,
        definition_id: Uuid,
        name: &str,
        config: &RawValue,
    ) -> Result<Actor, Error> {
        let body = ActorCreate {
            kind,
            workspace_id,
            definition_id,
            name: Some(name),
            config,
        };
        let call = Call::post(kind.names().create_call, &body, self.timeout);
        self.exchange.run(&call)
    }

    /// `POST /sources/get` / `POST /destinations/get`.
    pub fn get_actor(&self, kind: Kind, id: Uuid) -> Result<Actor, Error> {
        let body = json!({ kind.names().id_field: id });
        self.exchange
            .run(&Call::post(kind.names().get_call, &body, self.timeout))
    }

    /// `POST /sources/delete` / `POST /destinations/delete` (204, no body).
    pub fn delete_actor(&self, kind: Kind, id: Uuid) -> Result<(), Error> {
        let body = json!({ kind.names().id_field: id });
        let call = Call::post(kind.names().delete_call, &body, self.timeout);
        self.exchange.run::<Empty>(&call).map(drop)
    }

    /// `POST /sources/update` / `POST /destinations/update`: replaces the name and the whole
    /// configuration; Airbyte fills masked values from the stored secrets.
    pub fn update_actor(
        &self,
        kind: Kind,
        id: Uuid,
        name: &str,
        config: &Value,
    ) -> Result<Actor, Error> {
        let body = ActorUpdate {
            kind,
            id,
            name,
            config,
        };
        self.exchange
            .run(&Call::post(kind.names().update_call, &body, self.timeout))
    }

    /// `POST /scheduler/sources/check_connection` / `.../destinations/check_connection`: checks
    /// a configuration without creating anything (with the discovery timeout: Airbyte starts
    /// the connector). [`Error::NotRun`] when Airbyte could not run the check.
    pub fn check_config(
        &self,
        kind: Kind,
        workspace_id: Uuid,
        definition_id: Uuid,
        config: &RawValue,
    ) -> Result<Check, Error> {
        let body = ActorCreate {
            kind,
            workspace_id,
            definition_id,
            name: None,
            config,
        };
        let call = Call::post(
            kind.names().scheduler_check_call,
            &body,
            self.discover_timeout,
        );
        self.exchange.run::<CheckRead>(&call)?.check(call.path)
    }

    /// `POST /sources/check_connection_for_update` / `.../destinations/...`: checks a stored
    /// actor's changed configuration, its masked values filled from the stored secrets; saves
    /// nothing.
    pub fn check_update(
        &self,
        kind: Kind,
        id: Uuid,
        name: &str,
        config: &Value,
    ) -> Result<Check, Error> {
        let body = ActorUpdate {
            kind,
            id,
            name,
            config,
        };
        let call = Call::post(kind.names().check_update_call, &body, self.discover_timeout);
        self.exchange.run::<CheckRead>(&call)?.check(call.path)
    }

    /// `POST /source_definition_specifications/get` / `.../destination_...`: the connector's
    /// configuration spec, a JSON schema (`None` when Airbyte has none for it).
    pub fn get_spec(
        &self,
        kind: Kind,
        workspace_id: Uuid,
        definition_id: Uuid,
    ) -> Result<Option<Value>, Error> {
        let body = json!({
            "workspaceId": workspace_id,
            kind.names().definition_id_field: definition_id,
        });
        let call = Call::post(kind.names().spec_call, &body, self.timeout);
        let read: SpecificationRead = self.exchange.run(&call)?;
        Ok(read.connection_specification)
    }

    /// `POST /sources/list` / `POST /destinations/list`, page after page (cursor pagination on
    /// current Airbyte; older ones answer everything at once and ignore the paging fields).
    pub fn list_actors(&self, kind: Kind, workspace_id: Uuid) -> Result<Vec<Actor>, Error> {
        const PAGE: usize = 100;
        const MAX_PAGES: usize = 10_000;
        let mut all: Vec<Actor> = Vec::new();
        let mut seen = HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut body = json!({ "workspaceId": workspace_id, "pageSize": PAGE });
            if let Some(last) = all.last() {
                body["cursor"] = json!(last.id);
            }
            let call = Call::post(kind.names().list_call, &body, self.timeout);
            let page: ActorList = self.exchange.run(&call)?;
            let size = page.actors.len();
            let before = all.len();
            all.extend(page.actors.into_iter().filter(|a| seen.insert(a.id)));
            if size < PAGE || all.len() == before {
                break;
            }
        }
        Ok(all)
    }

    /// `POST /connections/get`.
    pub fn get_connection(&self, id: Uuid) -> Result<Connection, Error> {
        let body = json!({ "connectionId": id });
        self.exchange
            .run(&Call::post("connections/get", &body, self.timeout))
    }

    /// `POST /connections/delete` (204, no body).
    pub fn delete_connection(&self, id: Uuid) -> Result<(), Error> {
        let body = json!({ "connectionId": id });
        let call = Call::post("connections/delete", &body, self.timeout);
        self.exchange.run::<Empty>(&call).map(drop)
    }

    /// `POST /jobs/get_last_replication_job`: the status of the connection's latest sync job, if
    /// it has had one.
    pub fn last_sync_status(&self, connection_id: Uuid) -> Result<Option<String>, Error> {
        let body = json!({ "connectionId": connection_id });
        let call = Call::post("jobs/get_last_replication_job", &body, self.timeout);
        let read: JobOptionalRead = self.exchange.run(&call)?;
        Ok(read.job.map(|job| job.status))
    }

    /// `POST /sources/discover_schema`: runs a discovery job (its own, longer timeout).
    pub fn discover_schema(&self, source_id: Uuid) -> Result<Discovery, Error> {
        self.discover(json!({ "sourceId": source_id }))
    }

    /// `POST /sources/discover_schema` for a connection's source, bypassing Airbyte's cache
    /// (`disable_cache`): the schema as the source has it now, and Airbyte's verdict on the change.
    pub fn rediscover_schema(
        &self,
        source_id: Uuid,
        connection_id: Uuid,
    ) -> Result<Discovery, Error> {
        self.discover(
            json!({ "sourceId": source_id, "connectionId": connection_id, "disable_cache": true }),
        )
    }

    /// `POST /scheduler/sources/discover_schema`: the streams a source with this configuration
    /// would offer, without creating it.
    pub fn discover_config(
        &self,
        workspace_id: Uuid,
        definition_id: Uuid,
        config: &RawValue,
    ) -> Result<Discovery, Error> {
        let body = ActorCreate {
            kind: Kind::Source,
            workspace_id,
            definition_id,
            name: None,
            config,
        };
        let call = Call::post(
            "scheduler/sources/discover_schema",
            &body,
            self.discover_timeout,
        );
        let read: DiscoverRead = self.exchange.run(&call)?;
        read.discovery(call.path)
    }

    fn discover(&self, body: Value) -> Result<Discovery, Error> {
        let call = Call::post("sources/discover_schema", &body, self.discover_timeout);
        let read: DiscoverRead = self.exchange.run(&call)?;
        read.discovery(call.path)
    }

    /// `POST /connections/sync`: starts a sync now. Airbyte answers 409 when one is running.
    pub fn sync_connection(&self, connection_id: Uuid) -> Result<Job, Error> {
        let body = json!({ "connectionId": connection_id });
        let call = Call::post("connections/sync", &body, self.timeout);
        Ok(self.exchange.run::<JobInfoRead>(&call)?.into())
    }

    /// `POST /jobs/get`.
    pub fn get_job(&self, id: i64) -> Result<Job, Error> {
        let call = Call::post("jobs/get", &json!({ "id": id }), self.timeout);
        Ok(self.exchange.run::<JobInfoRead>(&call)?.into())
    }

    /// `POST /jobs/list`: a page of a connection's jobs, newest first.
    pub fn list_jobs(&self, query: &JobQuery<'_>) -> Result<Vec<Job>, Error> {
        let call = Call::post("jobs/list", &query.body(), self.timeout);
        Ok(self.exchange.run::<JobReadList>(&call)?.jobs())
    }

    /// `POST /jobs/cancel`: the job as Airbyte answers after cancelling it.
    pub fn cancel_job(&self, id: i64) -> Result<Job, Error> {
        let call = Call::post("jobs/cancel", &json!({ "id": id }), self.timeout);
        Ok(self.exchange.run::<JobInfoRead>(&call)?.into())
    }

    /// `POST /connections/update`: changes what `update` names, and answers the connection.
    pub fn update_connection(
        &self,
        id: Uuid,
        update: &ConnectionUpdate,
    ) -> Result<Connection, Error> {
        let call = Call::post("connections/update", &update.body(id), self.timeout);
        self.exchange.run(&call)
    }

    /// `POST /connections/create`; returns the new connection's id.
    pub fn create_connection(&self, new: &NewConnection) -> Result<Uuid, Error> {
        let call = Call::post("connections/create", &new.body(), self.timeout);
        let read: ConnectionRead = self.exchange.run(&call)?;
        Ok(read.connection_id)
    }
}
