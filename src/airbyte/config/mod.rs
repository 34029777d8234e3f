//! The Config API dialect (`/api/v1`): every call a blocking `POST` with a JSON body (except
//! `GET /health`), one short method per call. Its bodies and how they become the service's types
//! are in `wire.rs`.

mod wire;

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::value::RawValue;
use serde_json::{json, Value};
use uuid::Uuid;

use super::exchange::{Call, Exchange};
use super::fields::{ActorCreated, Fields};
use super::model::{
    Actor, Attempt, Check, Connection, ConnectionUpdate, Definition, Discovery, Job, JobQuery,
    NewConnection, StreamName,
};
use super::{Airbyte, Error, Kind, Timeouts};
use crate::config::AirbyteApi;
use crate::sync::lock;
use wire::{ActorCreate, ActorList, ActorRead, ActorUpdate, CheckRead, DefinitionList};

/// The default organization of a self-managed Airbyte install (used to list workspaces on
/// Airbyte 1.7 and later).
pub const DEFAULT_ORGANIZATION_ID: &str = "00000000-0000-0000-0000-000000000000";

/// What differs between sources and destinations in the Config API: names, nothing else.
pub(super) struct KindNames {
    /// `sourceId` / `destinationId`: the id field of Airbyte's request bodies.
    pub id_field: &'static str,
    pub definition_id_field: &'static str,
    pub definitions_call: &'static str,
    pub create_call: &'static str,
    pub get_call: &'static str,
    pub delete_call: &'static str,
    pub list_call: &'static str,
    pub update_call: &'static str,
    /// Checks a configuration no actor has: Airbyte's scheduler runs the connector's check.
    pub scheduler_check_call: &'static str,
    /// Checks a stored actor's changed configuration, its stored secrets filled in.
    pub check_update_call: &'static str,
    pub spec_call: &'static str,
}

const SOURCE: KindNames = KindNames {
    id_field: "sourceId",
    definition_id_field: "sourceDefinitionId",
    definitions_call: "source_definitions/list_for_workspace",
    create_call: "sources/create",
    get_call: "sources/get",
    delete_call: "sources/delete",
    list_call: "sources/list",
    update_call: "sources/update",
    scheduler_check_call: "scheduler/sources/check_connection",
    check_update_call: "sources/check_connection_for_update",
    spec_call: "source_definition_specifications/get",
};

const DESTINATION: KindNames = KindNames {
    id_field: "destinationId",
    definition_id_field: "destinationDefinitionId",
    definitions_call: "destination_definitions/list_for_workspace",
    create_call: "destinations/create",
    get_call: "destinations/get",
    delete_call: "destinations/delete",
    list_call: "destinations/list",
    update_call: "destinations/update",
    scheduler_check_call: "scheduler/destinations/check_connection",
    check_update_call: "destinations/check_connection_for_update",
    spec_call: "destination_definition_specifications/get",
};

pub(super) fn names(kind: Kind) -> &'static KindNames {
    match kind {
        Kind::Source => &SOURCE,
        Kind::Destination => &DESTINATION,
    }
}

/// A blocking client for one Airbyte's Config API.
pub(super) struct ConfigApi {
    exchange: Exchange,
    timeouts: Timeouts,
    /// The calls that came or went with a release that this Airbyte has answered (see
    /// [`ConfigApi::read_if_there`]).
    answered: Mutex<HashSet<&'static str>>,
}

impl ConfigApi {
    pub fn new(exchange: Exchange, timeouts: Timeouts) -> ConfigApi {
        ConfigApi {
            exchange,
            timeouts,
            answered: Mutex::default(),
        }
    }

    /// The base URL, for messages.
    pub fn url(&self) -> &str {
        self.exchange.base_url.as_str()
    }

    fn post(&self, path: &'static str, body: &impl serde::Serialize) -> Call {
        Call::post(path, body, self.timeouts.call)
    }

    /// `POST /workspaces/list` (Airbyte up to 1.6). `Ok(None)` when this Airbyte no longer has the
    /// call (Airbyte 1.7 and later).
    fn list_workspaces(&self) -> Result<Option<Vec<Uuid>>, Error> {
        let call = Call::post_empty("workspaces/list", self.timeouts.call);
        self.read_if_there(&call, wire::workspace_ids)
    }

    /// `POST /workspaces/list_by_organization_id` for the default organization (Airbyte 1.7 and later).
    fn list_workspaces_in_default_organization(&self) -> Result<Vec<Uuid>, Error> {
        let body = json!({ "organizationId": DEFAULT_ORGANIZATION_ID });
        let call = self.post("workspaces/list_by_organization_id", &body);
        self.exchange.read(&call, wire::workspace_ids)
    }

    /// `POST /jobs/get_without_logs` (Airbyte 1.0 and later), which reads the job's figures and
    /// leaves its logs out, or `POST /jobs/get` where it is missing (404). `jobs/get` carries
    /// every attempt's whole log and, from Airbyte 1.6, no figures.
    fn job_info(&self, id: i64) -> Result<(Job, Vec<Attempt>), Error> {
        let body = json!({ "id": id });
        self.read_or("jobs/get_without_logs", "jobs/get", &body, wire::job_info)
    }

    /// Makes `call` and reads its answer with `read`; `None` where this Airbyte does not have
    /// the call (404): a call that came or went with a release. A 404 means a missing call only
    /// until `call` has answered once; from then on it is about what was asked for (an unknown
    /// job), and costs no call to a fallback.
    fn read_if_there<T>(
        &self,
        call: &Call,
        read: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<Option<T>, Error> {
        match self.exchange.read(call, read) {
            Ok(answer) => {
                lock(&self.answered).insert(call.label);
                Ok(Some(answer))
            }
            Err(Error::Status { status: 404, .. })
                if !lock(&self.answered).contains(call.label) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Makes `call`, or `fallback` with the same body where this Airbyte does not have `call`
    /// ([`ConfigApi::read_if_there`]), and reads the answer with `read`: a call of newer
    /// releases and what older ones had instead.
    fn read_or<T>(
        &self,
        call: &'static str,
        fallback: &'static str,
        body: &Value,
        read: fn(&Value) -> Result<T, String>,
    ) -> Result<T, Error> {
        match self.read_if_there(&self.post(call, body), read)? {
            Some(answer) => Ok(answer),
            None => self.exchange.read(&self.post(fallback, body), read),
        }
    }

    /// Runs a discovery `call`: the streams found, or why the discovery job failed.
    fn discovery(&self, call: &Call) -> Result<Discovery, Error> {
        self.exchange
            .read(call, wire::discovery)?
            .map_err(|failure| Error::JobFailed {
                call: call.label,
                failure,
            })
    }

    fn discover(&self, body: Value) -> Result<Discovery, Error> {
        self.discovery(&Call::post(
            "sources/discover_schema",
            &body,
            self.timeouts.discover,
        ))
    }
}

impl Airbyte for ConfigApi {
    fn describe(&self) -> String {
        format!("Config API at {}", self.url())
    }

    fn api(&self) -> AirbyteApi {
        AirbyteApi::Config
    }

    /// `GET /health`.
    fn health(&self) -> Result<bool, Error> {
        let call = Call::get("health", self.timeouts.call);
        self.exchange.read(&call, wire::available)
    }

    /// `POST /workspaces/list`, or `POST /workspaces/list_by_organization_id` where the first is
    /// gone (Airbyte 1.7 and later).
    fn workspaces(&self) -> Result<Vec<Uuid>, Error> {
        match self.list_workspaces()? {
            Some(list) => Ok(list),
            None => self.list_workspaces_in_default_organization(),
        }
    }

    /// `POST /{source,destination}_definitions/list_for_workspace`: Airbyte's connectors and the
    /// workspace's custom ones.
    fn definitions(&self, kind: Kind, workspace: Uuid) -> Result<Vec<Definition>, Error> {
        let body = json!({ "workspaceId": workspace });
        let call = self.post(names(kind).definitions_call, &body);
        let list: DefinitionList = self.exchange.run(&call)?;
        Ok(list.definitions.into_iter().map(Definition::from).collect())
    }

    /// `POST /source_definition_specifications/get` / `.../destination_...`.
    fn spec(&self, kind: Kind, workspace: Uuid, definition: Uuid) -> Result<Option<Value>, Error> {
        let body = json!({
            "workspaceId": workspace,
            names(kind).definition_id_field: definition,
        });
        // Read once per definition and cached (`definitions.rs`): the copy out of the answer is
        // not on a request's path.
        let call = self.post(names(kind).spec_call, &body);
        self.exchange.read(&call, |read| {
            Ok(Fields::of(read)?.value("connectionSpecification").cloned())
        })
    }

    /// `POST /sources/create` / `POST /destinations/create`.
    fn create_actor(
        &self,
        kind: Kind,
        workspace: Uuid,
        definition: Uuid,
        name: &str,
        config: &RawValue,
    ) -> Result<Actor, Error> {
        let body = ActorCreate {
            kind,
            workspace_id: workspace,
            definition_id: definition,
            name: Some(name),
            config,
        };
        let call = self.post(names(kind).create_call, &body);
        let created: ActorCreated = self.exchange.run(&call)?;
        created.into_actor(call.label, workspace, definition)
    }

    /// `POST /sources/get` / `POST /destinations/get`.
    fn get_actor(&self, kind: Kind, id: Uuid) -> Result<Actor, Error> {
        let body = json!({ names(kind).id_field: id });
        let read: ActorRead = self.exchange.run(&self.post(names(kind).get_call, &body))?;
        Ok(read.into())
    }

    /// `POST /sources/update` / `POST /destinations/update`: replaces the name and the whole
    /// configuration; Airbyte fills masked values from the stored secrets.
    fn update_actor(
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
        let read: ActorRead = self
            .exchange
            .run(&self.post(names(kind).update_call, &body))?;
        Ok(read.into())
    }

    /// `POST /sources/delete` / `POST /destinations/delete` (204, no body).
    fn delete_actor(&self, kind: Kind, id: Uuid) -> Result<(), Error> {
        let body = json!({ names(kind).id_field: id });
        let call = self.post(names(kind).delete_call, &body);
        self.exchange.run::<Value>(&call).map(drop)
    }

    /// `POST /sources/list` / `POST /destinations/list`, page after page (cursor pagination on
    /// current Airbyte; older ones answer everything at once and ignore the paging fields).
    fn list_actors(&self, kind: Kind, workspace: Uuid) -> Result<Vec<Actor>, Error> {
        const PAGE: usize = 100;
        const MAX_PAGES: usize = 10_000;
        let mut all: Vec<Actor> = Vec::new();
        let mut seen = HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut body = json!({ "workspaceId": workspace, "pageSize": PAGE });
            if let Some(last) = all.last() {
                body["cursor"] = json!(last.id);
            }
            let page: ActorList = self
                .exchange
                .run(&self.post(names(kind).list_call, &body))?;
            let size = page.actors.len();
            let before = all.len();
            all.extend(
                page.actors
                    .into_iter()
                    .map(Actor::from)
                    .filter(|a| seen.insert(a.id)),
            );
            if size < PAGE || all.len() == before {
                break;
            }
        }
        Ok(all)
    }

    /// `POST /scheduler/sources/check_connection` / `.../destinations/check_connection` (with the
    /// discovery timeout: Airbyte starts the connector).
    fn check_config(
        &self,
        kind: Kind,
        workspace: Uuid,
        definition: Uuid,
        config: &RawValue,
    ) -> Result<Check, Error> {
        let body = ActorCreate {
            kind,
            workspace_id: workspace,
            definition_id: definition,
            name: None,
            config,
        };
        let call = Call::post(
            names(kind).scheduler_check_call,
            &body,
            self.timeouts.discover,
        );
        self.exchange
            .read(&call, CheckRead::read)?
            .check(call.label)
    }

    /// `POST /sources/check_connection_for_update` / `.../destinations/...`.
    fn check_update(
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
        let call = Call::post(names(kind).check_update_call, &body, self.timeouts.discover);
        self.exchange
            .read(&call, CheckRead::read)?
            .check(call.label)
    }

    /// `POST /scheduler/sources/discover_schema`.
    fn discover_config(
        &self,
        workspace: Uuid,
        definition: Uuid,
        config: &RawValue,
    ) -> Result<Discovery, Error> {
        let body = ActorCreate {
            kind: Kind::Source,
            workspace_id: workspace,
            definition_id: definition,
            name: None,
            config,
        };
        self.discovery(&Call::post(
            "scheduler/sources/discover_schema",
            &body,
            self.timeouts.discover,
        ))
    }

    /// `POST /sources/discover_schema`: runs a discovery job. The Config API says a stream's sync
    /// modes whatever the destination.
    fn discover_source(&self, source: Uuid, _: Option<Uuid>) -> Result<Discovery, Error> {
        self.discover(json!({ "sourceId": source }))
    }

    /// `POST /sources/discover_schema` for a connection's source, bypassing Airbyte's cache
    /// (`disable_cache`).
    fn rediscover_source(&self, source: Uuid, connection: Uuid) -> Result<Discovery, Error> {
        self.discover(
            json!({ "sourceId": source, "connectionId": connection, "disable_cache": true }),
        )
    }

    /// `POST /connections/create`.
    fn create_connection(&self, new: &NewConnection) -> Result<Uuid, Error> {
        let call = self.post("connections/create", &wire::connection_create_body(new));
        self.exchange.read(&call, wire::connection_id)
    }

    /// `POST /connections/get`.
    fn get_connection(&self, id: Uuid) -> Result<Connection, Error> {
        let body = json!({ "connectionId": id });
        self.exchange
            .read(&self.post("connections/get", &body), wire::connection)
    }

    /// `POST /connections/update` (patch-style, but a catalog sent replaces the whole catalog).
    fn update_connection(&self, id: Uuid, update: &ConnectionUpdate) -> Result<Connection, Error> {
        let body = wire::connection_update_body(update, id);
        self.exchange
            .read(&self.post("connections/update", &body), wire::connection)
    }

    /// `POST /connections/delete` (204, no body; Airbyte marks the connection `deprecated`).
    fn delete_connection(&self, id: Uuid) -> Result<(), Error> {
        let body = json!({ "connectionId": id });
        let call = self.post("connections/delete", &body);
        self.exchange.run::<Value>(&call).map(drop)
    }

    /// `POST /jobs/get_last_replication_job`.
    fn last_sync_status(&self, connection: Uuid) -> Result<Option<String>, Error> {
        let body = json!({ "connectionId": connection });
        let call = self.post("jobs/get_last_replication_job", &body);
        self.exchange.read(&call, wire::optional_job_status)
    }

    /// `POST /connections/sync`.
    fn sync_connection(&self, connection: Uuid) -> Result<Job, Error> {
        let body = json!({ "connectionId": connection });
        let call = self.post("connections/sync", &body);
        Ok(self.exchange.read(&call, wire::job_info)?.0)
    }

    /// `POST /jobs/get_without_logs` (or `jobs/get`).
    fn get_job(&self, id: i64) -> Result<Job, Error> {
        Ok(self.job_info(id)?.0)
    }

    /// `POST /jobs/list`.
    fn list_jobs(&self, query: &JobQuery<'_>) -> Result<Vec<Job>, Error> {
        let call = self.post("jobs/list", &wire::jobs_list_body(query));
        self.exchange.read(&call, wire::jobs)
    }

    /// `POST /jobs/cancel`.
    fn cancel_job(&self, id: i64) -> Result<Job, Error> {
        let call = self.post("jobs/cancel", &json!({ "id": id }));
        Ok(self.exchange.read(&call, wire::job_info)?.0)
    }

    /// `POST /jobs/get_without_logs` (or `jobs/get`).
    fn job_attempts(&self, id: i64) -> Result<(Job, Vec<Attempt>), Error> {
        self.job_info(id)
    }

    /// `POST /attempt/get_for_job` (Airbyte 0.50.9 and later), or the attempt's log in
    /// `POST /jobs/get` where it is missing.
    fn attempt_log(&self, job: i64, number: i64) -> Result<Vec<String>, Error> {
        let body = json!({ "jobId": job, "attemptNumber": number });
        let call = self.post("attempt/get_for_job", &body);
        if let Some(log) = self.read_if_there(&call, wire::attempt_log)? {
            return Ok(log);
        }
        let call = self.post("jobs/get", &json!({ "id": job }));
        let log = self
            .exchange
            .read(&call, |info| wire::log_of(info, number))?;
        log.ok_or_else(|| Error::Status {
            call: call.label,
            status: 404,
            message: Some(format!("job {job} has no attempt {number}")),
        })
    }

    /// `POST /connections/clear` or `/connections/clear/stream` (Airbyte 0.57.3 and later), or
    /// `/connections/reset` and `/connections/reset/stream` where they are missing.
    fn clear_connection(&self, connection: Uuid, streams: &[StreamName]) -> Result<Job, Error> {
        let (call, fallback, body) = if streams.is_empty() {
            let body = json!({ "connectionId": connection });
            ("connections/clear", "connections/reset", body)
        } else {
            let body = wire::connection_streams_body(connection, streams);
            ("connections/clear/stream", "connections/reset/stream", body)
        };
        Ok(self.read_or(call, fallback, &body, wire::job_info)?.0)
    }
}
