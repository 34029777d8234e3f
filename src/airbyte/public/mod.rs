//! The public API dialect (`/api/public/v1` on a self-managed install, `https://api.airbyte.com/v1`
//! on Airbyte Cloud): REST paths with ids in them, lists paged by `limit` and `offset`, problem
//! objects as errors. One short method per call; bodies and their translation are in `wire.rs`.
//!
//! What the public API cannot do (a dry-run check, a discovery of an unsaved configuration, a
//! connector's spec, a schema diff) is asked of the Config API beside it: `/api/v1` on the same
//! host, Cloud's `https://cloud.airbyte.com/api/v1`, or `AIRBYTE_CONFIG_API_URL`, with the same
//! token. When that API refuses (401, 403, 404), the call is [`Error::Unsupported`], which the
//! client is told as a 501 naming what is missing and the setting that would enable it.
//!
//! Where the public API answers differently from the Config API for the same fact, it is said
//! here in the Config API's terms, so that handlers see one Airbyte: an unknown job id answers 409
//! (`Job is not currently running`) and is a 404 here; a failed discovery is a 500 whose message
//! carries the connector's, and is a failed discovery job here.

mod wire;

use std::collections::HashSet;

use serde_json::value::RawValue;
use serde_json::{json, Value};
use uuid::Uuid;

use super::config::ConfigApi;
use super::exchange::{decode, Call, Exchange, Method};
use super::fields::{ActorCreated, Fields};
use super::model::{
    Actor, Attempt, Check, Connection, ConnectionUpdate, Definition, Discovery, Failure, Job,
    JobQuery, NewConnection, StreamName,
};
use super::{Airbyte, Error, Kind, Timeouts};
use crate::config::AirbyteApi;
use wire::{ActorCreate, ActorPut};

/// Items asked for per page (the most the public API gives).
const PAGE: usize = 100;
/// Pages read at most for one list: 1,000,000 items.
const MAX_PAGES: usize = 10_000;

/// A blocking client for one Airbyte's public API, and the Config API beside it.
pub(super) struct PublicApi {
    exchange: Exchange,
    config_api: ConfigApi,
    timeouts: Timeouts,
}

/// The public API's paths for one kind of actor.
struct Paths {
    /// `sources` / `destinations`.
    collection: &'static str,
    /// `sourceId` / `destinationId`: the id field of its answers.
    id_field: &'static str,
    /// Labels of the calls, for metrics and messages.
    create: &'static str,
    list: &'static str,
    get: &'static str,
    put: &'static str,
    delete: &'static str,
    definitions: &'static str,
}

fn paths(kind: Kind) -> &'static Paths {
    match kind {
        Kind::Source => &Paths {
            collection: "sources",
            id_field: "sourceId",
            create: "POST /sources",
            list: "GET /sources",
            get: "GET /sources/{sourceId}",
            put: "PUT /sources/{sourceId}",
            delete: "DELETE /sources/{sourceId}",
            definitions: "GET /workspaces/{workspaceId}/definitions/sources",
        },
        Kind::Destination => &Paths {
            collection: "destinations",
            id_field: "destinationId",
            create: "POST /destinations",
            list: "GET /destinations",
            get: "GET /destinations/{destinationId}",
            put: "PUT /destinations/{destinationId}",
            delete: "DELETE /destinations/{destinationId}",
            definitions: "GET /workspaces/{workspaceId}/definitions/destinations",
        },
    }
}

/// What the Config API beside the public API is asked for, as a 501 names it.
const CHECK: &str =
    "a dry-run connection check (Config API scheduler/{sources,destinations}/check_connection)";
const CHECK_UPDATE: &str =
    "a check of a changed configuration (Config API {sources,destinations}/check_connection_for_update)";
const DISCOVER_CONFIG: &str =
    "a discovery of an unsaved configuration (Config API scheduler/sources/discover_schema)";
const SPEC: &str =
    "the connector's spec (Config API {source,destination}_definition_specifications/get)";
const SCHEMA_DIFF: &str =
    "a schema refresh with a diff (Config API sources/discover_schema with a connection)";
const ATTEMPTS: &str = "a job's attempts (Config API jobs/get_without_logs)";
const LOGS: &str = "an attempt's log (Config API attempt/get_for_job)";
const CLEAR_STREAMS: &str = "a clear of named streams (Config API connections/clear/stream)";

impl PublicApi {
    pub fn new(exchange: Exchange, config_api: ConfigApi, timeouts: Timeouts) -> PublicApi {
        PublicApi {
            exchange,
            config_api,
            timeouts,
        }
    }

    fn call(&self, method: Method, label: &'static str, path: String) -> Call {
        Call::new(method, label, path, self.timeouts.call)
    }

    /// Every item of a paged list at `path` (a query of its own included, or none), each read
    /// with `read` together with its id: pages by offset until a short or empty page, each item
    /// once.
    fn all_pages<T>(
        &self,
        label: &'static str,
        path: &str,
        read: impl Fn(&Value) -> Result<(Uuid, T), String>,
    ) -> Result<Vec<T>, Error> {
        let join = if path.contains('?') { '&' } else { '?' };
        let mut all = Vec::new();
        let mut seen = HashSet::new();
        for page in 0..MAX_PAGES {
            let path = format!("{path}{join}limit={PAGE}&offset={}", page * PAGE);
            let call = self.call(Method::Get, label, path);
            let items = self.exchange.read(&call, |answer| {
                wire::page(answer)?
                    .iter()
                    .map(&read)
                    .collect::<Result<Vec<_>, String>>()
            })?;
            let size = items.len();
            let before = all.len();
            for (id, item) in items {
                if seen.insert(id) {
                    all.push(item);
                }
            }
            // A short page is the last; a page of nothing new means Airbyte ignores the offset.
            if size < PAGE || all.len() == before {
                break;
            }
        }
        Ok(all)
    }

    /// Asks the Config API beside for `capability`; its refusal (401, 403, 404: not there, or not
    /// open to these credentials) is [`Error::Unsupported`].
    fn beside<T>(
        &self,
        capability: &'static str,
        ask: impl FnOnce(&ConfigApi) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let unsupported = |refusal: String| Error::Unsupported {
            capability,
            config_api: self.config_api.url().to_string(),
            refusal,
        };
        match ask(&self.config_api) {
            Err(Error::Status { status: 404, .. }) => Err(unsupported("HTTP 404".into())),
            Err(Error::CredentialsRefused { status, .. }) => {
                Err(unsupported(format!("HTTP {status}")))
            }
            other => other,
        }
    }

    /// `POST /jobs {connectionId, jobType}`.
    fn start_job(&self, connection: Uuid, job_type: &str) -> Result<Job, Error> {
        let body = json!({ "connectionId": connection, "jobType": job_type });
        let call = self
            .call(Method::Post, "POST /jobs", "jobs".into())
            .with_body(&body);
        self.exchange.read(&call, wire::job)
    }

    /// `GET /jobs` of a connection, newest first, with more of the query in `filter`.
    fn jobs(
        &self,
        connection: Uuid,
        limit: usize,
        offset: usize,
        filter: &str,
    ) -> Result<Vec<Job>, Error> {
        // `|` is not allowed in a URI as it is; `%7C` is its escape.
        let path = format!(
            "jobs?connectionId={connection}&limit={limit}&offset={offset}&orderBy=createdAt%7CDESC{filter}"
        );
        self.exchange
            .read(&self.call(Method::Get, "GET /jobs", path), |answer| {
                wire::page(answer)?.iter().map(wire::job).collect()
            })
    }
}

/// An unknown job id: the public API answers 409 `Job is not currently running` for it.
fn job_not_found(err: Error) -> Error {
    match err {
        Error::Status {
            call,
            status: 409,
            message,
        } => Error::Status {
            call,
            status: 404,
            message,
        },
        other => other,
    }
}

impl Airbyte for PublicApi {
    fn describe(&self) -> String {
        format!(
            "public API at {} (the Config API at {} for checks, previews, specs and schema diffs)",
            self.exchange.base_url,
            self.config_api.url()
        )
    }

    fn api(&self) -> AirbyteApi {
        AirbyteApi::Public
    }

    /// `GET /health`: 200 with a text body when Airbyte is available, 503 when not.
    fn health(&self) -> Result<bool, Error> {
        let call = self.call(Method::Get, "GET /health", "health".into());
        let received = self.exchange.exchange(&call)?;
        match received.status {
            200..=299 => Ok(true),
            503 => Ok(false),
            _ => decode::<serde::de::IgnoredAny>(call.label, received).map(|_| false),
        }
    }

    /// `GET /workspaces`, every page.
    fn workspaces(&self) -> Result<Vec<Uuid>, Error> {
        self.all_pages("GET /workspaces", "workspaces", |item| {
            wire::workspace_id(item).map(|id| (id, id))
        })
    }

    /// `GET /workspaces/{id}/definitions/sources|destinations` (Airbyte 1.6 and later), or where
    /// it is missing `GET /connector_definitions`, which names no docker repository: types are
    /// then matched by name and id only.
    fn definitions(&self, kind: Kind, workspace: Uuid) -> Result<Vec<Definition>, Error> {
        let p = paths(kind);
        let path = format!("workspaces/{workspace}/definitions/{}", p.collection);
        let read = |answer: &Value| -> Result<Vec<Definition>, String> {
            wire::page(answer)?.iter().map(wire::definition).collect()
        };
        match self
            .exchange
            .read(&self.call(Method::Get, p.definitions, path), read)
        {
            Err(Error::Status { status: 404, .. }) => {
                let path = format!(
                    "connector_definitions?type={}&workspaceId={workspace}",
                    kind.noun()
                );
                self.exchange.read(
                    &self.call(Method::Get, "GET /connector_definitions", path),
                    read,
                )
            }
            other => other,
        }
    }

    /// The Config API's spec call: the public API has no connector spec.
    fn spec(&self, kind: Kind, workspace: Uuid, definition: Uuid) -> Result<Option<Value>, Error> {
        self.beside(SPEC, |c| c.spec(kind, workspace, definition))
    }

    /// `POST /sources` / `POST /destinations` (200, not 201).
    fn create_actor(
        &self,
        kind: Kind,
        workspace: Uuid,
        definition: Uuid,
        name: &str,
        config: &RawValue,
    ) -> Result<Actor, Error> {
        let p = paths(kind);
        let body = ActorCreate {
            name,
            definition_id: definition,
            workspace_id: workspace,
            configuration: config,
        };
        let call = self
            .call(Method::Post, p.create, p.collection.to_string())
            .with_body(&body);
        let created: ActorCreated = self.exchange.run(&call)?;
        created.into_actor(call.label, workspace, definition)
    }

    /// `GET /sources/{id}` / `GET /destinations/{id}`.
    fn get_actor(&self, kind: Kind, id: Uuid) -> Result<Actor, Error> {
        let p = paths(kind);
        let call = self.call(Method::Get, p.get, format!("{}/{id}", p.collection));
        self.exchange.read(&call, |a| wire::actor(a, p.id_field))
    }

    /// `PUT /sources/{id}` / `PUT /destinations/{id}`: the whole configuration, so that masked
    /// values keep the stored secrets (`PATCH` would store the mask).
    fn update_actor(
        &self,
        kind: Kind,
        id: Uuid,
        name: &str,
        config: &Value,
    ) -> Result<Actor, Error> {
        let p = paths(kind);
        let body = ActorPut {
            name,
            configuration: config,
        };
        let call = self
            .call(Method::Put, p.put, format!("{}/{id}", p.collection))
            .with_body(&body);
        self.exchange.read(&call, |a| wire::actor(a, p.id_field))
    }

    /// `DELETE /sources/{id}` / `DELETE /destinations/{id}` (204).
    fn delete_actor(&self, kind: Kind, id: Uuid) -> Result<(), Error> {
        let p = paths(kind);
        let call = self.call(Method::Delete, p.delete, format!("{}/{id}", p.collection));
        self.exchange.run::<serde::de::IgnoredAny>(&call).map(drop)
    }

    /// `GET /sources?workspaceIds=` / `GET /destinations?workspaceIds=`, every page.
    fn list_actors(&self, kind: Kind, workspace: Uuid) -> Result<Vec<Actor>, Error> {
        let p = paths(kind);
        let path = format!("{}?workspaceIds={workspace}", p.collection);
        self.all_pages(p.list, &path, |item| {
            wire::actor(item, p.id_field).map(|a| (a.id, a))
        })
    }

    fn check_config(
        &self,
        kind: Kind,
        workspace: Uuid,
        definition: Uuid,
        config: &RawValue,
    ) -> Result<Check, Error> {
        self.beside(CHECK, |c| {
            c.check_config(kind, workspace, definition, config)
        })
    }

    fn check_update(
        &self,
        kind: Kind,
        id: Uuid,
        name: &str,
        config: &Value,
    ) -> Result<Check, Error> {
        self.beside(CHECK_UPDATE, |c| c.check_update(kind, id, name, config))
    }

    fn discover_config(
        &self,
        workspace: Uuid,
        definition: Uuid,
        config: &RawValue,
    ) -> Result<Discovery, Error> {
        self.beside(DISCOVER_CONFIG, |c| {
            c.discover_config(workspace, definition, config)
        })
    }

    /// `GET /streams?sourceId=&destinationId=`: Airbyte discovers the source (from its cache).
    /// A failed discovery is a 500 whose message carries the connector's after `logs:`.
    fn discover_source(&self, source: Uuid, destination: Option<Uuid>) -> Result<Discovery, Error> {
        let mut path = format!("streams?sourceId={source}");
        if let Some(destination) = destination {
            path.push_str(&format!("&destinationId={destination}"));
        }
        let call = Call::new(Method::Get, "GET /streams", path, self.timeouts.discover);
        let streams = match self.exchange.read(&call, wire::streams) {
            Err(Error::Status {
                status: 500,
                message: Some(message),
                ..
            }) if message.contains("logs:") => {
                let reason = message
                    .split_once("logs:")
                    .map(|(_, r)| r.trim().to_string());
                return Err(Error::JobFailed {
                    call: call.label,
                    failure: Failure {
                        failure_origin: Some("source".into()),
                        external_message: reason,
                        ..Failure::default()
                    },
                });
            }
            other => other?,
        };
        Ok(Discovery {
            streams,
            catalog_id: None,
            breaking_change: None,
        })
    }

    fn rediscover_source(&self, source: Uuid, connection: Uuid) -> Result<Discovery, Error> {
        self.beside(SCHEMA_DIFF, |c| c.rediscover_source(source, connection))
    }

    /// `POST /connections`, every chosen stream listed with its sync mode.
    fn create_connection(&self, new: &NewConnection) -> Result<Uuid, Error> {
        let call = self
            .call(Method::Post, "POST /connections", "connections".into())
            .with_body(&wire::connection_create_body(new));
        self.exchange
            .read(&call, |c| Fields::of(c)?.uuid("connectionId"))
    }

    /// `GET /connections/{id}`: its selected streams only.
    fn get_connection(&self, id: Uuid) -> Result<Connection, Error> {
        let call = self.call(
            Method::Get,
            "GET /connections/{connectionId}",
            format!("connections/{id}"),
        );
        self.exchange.read(&call, wire::connection)
    }

    /// `PATCH /connections/{id}`: with streams, the whole catalog is rebuilt from those listed.
    fn update_connection(&self, id: Uuid, update: &ConnectionUpdate) -> Result<Connection, Error> {
        let call = self
            .call(
                Method::Patch,
                "PATCH /connections/{connectionId}",
                format!("connections/{id}"),
            )
            .with_body(&wire::connection_patch_body(update));
        self.exchange.read(&call, wire::connection)
    }

    /// `DELETE /connections/{id}` (204).
    fn delete_connection(&self, id: Uuid) -> Result<(), Error> {
        let call = self.call(
            Method::Delete,
            "DELETE /connections/{connectionId}",
            format!("connections/{id}"),
        );
        self.exchange.run::<serde::de::IgnoredAny>(&call).map(drop)
    }

    /// `GET /jobs?connectionId=&jobType=sync`, the newest.
    fn last_sync_status(&self, connection: Uuid) -> Result<Option<String>, Error> {
        let jobs = self.jobs(connection, 1, 0, "&jobType=sync")?;
        Ok(jobs.into_iter().next().map(|job| job.status))
    }

    /// `POST /jobs {connectionId, jobType: sync}`; 409 `try-again-later` while a sync runs.
    fn sync_connection(&self, connection: Uuid) -> Result<Job, Error> {
        self.start_job(connection, "sync")
    }

    /// `GET /jobs/{id}`.
    fn get_job(&self, id: i64) -> Result<Job, Error> {
        let call = self.call(Method::Get, "GET /jobs/{jobId}", format!("jobs/{id}"));
        self.exchange.read(&call, wire::job).map_err(job_not_found)
    }

    /// `GET /jobs?connectionId=&orderBy=createdAt|DESC` (oldest first without the order).
    fn list_jobs(&self, query: &JobQuery<'_>) -> Result<Vec<Job>, Error> {
        let filter = query
            .status
            .map(|s| format!("&status={s}"))
            .unwrap_or_default();
        self.jobs(query.connection_id, query.limit, query.offset, &filter)
    }

    /// `DELETE /jobs/{id}`: answers the job re-read.
    fn cancel_job(&self, id: i64) -> Result<Job, Error> {
        let call = self.call(Method::Delete, "DELETE /jobs/{jobId}", format!("jobs/{id}"));
        self.exchange.read(&call, wire::job).map_err(job_not_found)
    }

    /// The public API's jobs have no attempts: the Config API beside.
    fn job_attempts(&self, id: i64) -> Result<(Job, Vec<Attempt>), Error> {
        self.beside(ATTEMPTS, |c| c.job_attempts(id))
    }

    /// The public API has no logs: the Config API beside.
    fn attempt_log(&self, job: i64, number: i64) -> Result<Vec<String>, Error> {
        self.beside(LOGS, |c| c.attempt_log(job, number))
    }

    /// `POST /jobs {connectionId, jobType: clear}`, or `reset` where `clear` is refused (400,
    /// 422: releases before it); named streams through the Config API beside, since the public
    /// API clears only whole connections.
    fn clear_connection(&self, connection: Uuid, streams: &[StreamName]) -> Result<Job, Error> {
        if !streams.is_empty() {
            return self.beside(CLEAR_STREAMS, |c| c.clear_connection(connection, streams));
        }
        match self.start_job(connection, "clear") {
            Err(Error::Rejected { .. } | Error::Status { status: 400, .. }) => {
                self.start_job(connection, "reset")
            }
            other => other,
        }
    }
}
