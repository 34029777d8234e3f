//! The Airbyte Config API client: one method per Airbyte call, with the serde types it needs.
//!
//! Every call is a blocking `POST` with a JSON body (except `GET /health`), made through one shared
//! `ureq::Agent`. Statuses are handled here, not by ureq, so that each failure becomes an [`Error`]
//! variant that says what happened; `error.rs` decides what the client is told.
//!
//! The contract is Airbyte's published OpenAPI document (`../shared/airbyte` in the development
//! tree): bodies are parsed only as far as the service needs, unknown fields are ignored, and the
//! parts passed back to Airbyte (stream catalogs) are kept as opaque JSON.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::{Credentials, TokenRequest};
use crate::config::{Config, Secret};
use crate::metrics::Metrics;
use crate::transport;

/// The default organization of a self-managed Airbyte install (used to list workspaces on
/// Airbyte 1.7 and later).
pub const DEFAULT_ORGANIZATION_ID: &str = "00000000-0000-0000-0000-000000000000";

/// Largest Airbyte answer read, in bytes. Definition lists of large installs run to megabytes.
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// An Airbyte call that did not produce the answer the service needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No connection could be made (refused, host not found, TLS failure).
    Unreachable { url: String, reason: String },
    /// Airbyte did not answer within the call's timeout.
    Timeout { call: &'static str, after: Duration },
    /// Airbyte answered with a non-2xx status; `message` is its own explanation, when it gave one.
    Status {
        call: &'static str,
        status: u16,
        message: Option<String>,
    },
    /// Airbyte answered 2xx with a body that is not the JSON the contract promises.
    InvalidBody { call: &'static str, reason: String },
    /// A synchronous Airbyte job (discovery) ran and failed.
    JobFailed { call: &'static str, message: String },
    /// Airbyte refused the service's own credentials (401/403, or a refused token request).
    CredentialsRefused { call: &'static str, status: u16 },
}

/// How a call ended, as a metrics label.
fn outcome<T>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(Error::Unreachable { .. }) => "unreachable",
        Err(Error::Timeout { .. }) => "timeout",
        Err(Error::Status {
            status: 400..=499, ..
        }) => "client_error",
        Err(Error::Status { .. }) => "server_error",
        Err(Error::InvalidBody { .. }) => "invalid_body",
        Err(Error::JobFailed { .. }) => "job_failed",
        Err(Error::CredentialsRefused { .. }) => "credentials_refused",
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unreachable { url, reason } => write!(f, "{url} unreachable: {reason}"),
            Error::Timeout { call, after } => write!(f, "{call} timed out after {after:?}"),
            Error::Status { call, status, .. } => write!(f, "{call} answered HTTP {status}"),
            Error::InvalidBody { call, reason } => {
                write!(f, "{call} answered an unreadable body: {reason}")
            }
            Error::JobFailed { call, .. } => write!(f, "{call} job failed"),
            Error::CredentialsRefused { call, status } => {
                write!(f, "{call} refused the credentials (HTTP {status})")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Sources and destinations are both "actors" in Airbyte: the same calls with different names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Source,
    Destination,
}

/// What differs between sources and destinations in Airbyte's API: names, nothing else.
pub struct KindNames {
    /// `source` / `destination`, as in Airbyte's paths and docker repositories.
    pub noun: &'static str,
    /// The docker repository prefix of Airbyte's own connectors of this kind.
    pub repository_prefix: &'static str,
    /// `sourceId` / `destinationId`: the id field of Airbyte's request bodies.
    id_field: &'static str,
    definition_id_field: &'static str,
    definitions_call: &'static str,
    create_call: &'static str,
    get_call: &'static str,
    delete_call: &'static str,
    check_call: &'static str,
    list_call: &'static str,
}

const SOURCE: KindNames = KindNames {
    noun: "source",
    repository_prefix: "airbyte/source-",
    id_field: "sourceId",
    definition_id_field: "sourceDefinitionId",
    definitions_call: "source_definitions/list_for_workspace",
    create_call: "sources/create",
    get_call: "sources/get",
    delete_call: "sources/delete",
    check_call: "sources/check_connection",
    list_call: "sources/list",
};

const DESTINATION: KindNames = KindNames {
    noun: "destination",
    repository_prefix: "airbyte/destination-",
    id_field: "destinationId",
    definition_id_field: "destinationDefinitionId",
    definitions_call: "destination_definitions/list_for_workspace",
    create_call: "destinations/create",
    get_call: "destinations/get",
    delete_call: "destinations/delete",
    check_call: "destinations/check_connection",
    list_call: "destinations/list",
};

impl Kind {
    pub fn names(self) -> &'static KindNames {
        match self {
            Kind::Source => &SOURCE,
            Kind::Destination => &DESTINATION,
        }
    }

    /// `source` / `destination`.
    pub fn noun(self) -> &'static str {
        self.names().noun
    }

    /// `airbyte/source-` / `airbyte/destination-`.
    pub fn repository_prefix(self) -> &'static str {
        self.names().repository_prefix
    }
}

/// A connector definition (`SourceDefinitionRead` / `DestinationDefinitionRead`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Definition {
    #[serde(rename = "sourceDefinitionId", alias = "destinationDefinitionId")]
    pub id: Uuid,
    pub name: String,
    pub docker_repository: String,
}

#[derive(Deserialize)]
struct DefinitionList {
    #[serde(rename = "sourceDefinitions", alias = "destinationDefinitions")]
    definitions: Vec<Definition>,
}

/// A stored source or destination (`SourceRead` / `DestinationRead`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    #[serde(rename = "sourceId", alias = "destinationId")]
    pub id: Uuid,
    pub workspace_id: Uuid,
    #[serde(rename = "sourceDefinitionId", alias = "destinationDefinitionId")]
    pub definition_id: Uuid,
    pub name: String,
    /// The configuration as Airbyte stored it, secrets masked by Airbyte.
    #[serde(rename = "connectionConfiguration")]
    pub config: Value,
}

/// `SourceReadList` / `DestinationReadList`.
#[derive(Deserialize)]
struct ActorList {
    #[serde(rename = "sources", alias = "destinations")]
    actors: Vec<Actor>,
}

/// What `check_connection` found (`CheckConnectionRead`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Check {
    /// `succeeded` or `failed`; absent when the check job did not run.
    pub status: Option<String>,
    pub message: Option<String>,
}

impl Check {
    pub fn succeeded(&self) -> bool {
        self.status.as_deref() == Some("succeeded")
    }
}

/// A stored connection (`ConnectionRead`), as far as the service reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub connection_id: Uuid,
    pub name: String,
    pub source_id: Uuid,
    pub destination_id: Uuid,
    pub status: String,
    pub schedule_type: Option<String>,
    pub schedule_data: Option<Value>,
    pub sync_catalog: Catalog,
}

#[derive(Deserialize)]
struct JobOptionalRead {
    job: Option<JobRead>,
}

#[derive(Deserialize)]
struct JobRead {
    status: String,
}

#[derive(Deserialize)]
struct WorkspaceList {
    workspaces: Vec<Workspace>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Workspace {
    workspace_id: Uuid,
}

/// What `sources/discover_schema` found.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    /// `AirbyteStreamAndConfiguration` items, kept as Airbyte sent them.
    pub streams: Vec<Value>,
    pub catalog_id: Option<Uuid>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DiscoverRead {
    catalog: Option<Catalog>,
    job_info: JobInfo,
    catalog_id: Option<Uuid>,
}

/// A stream catalog (`AirbyteCatalog`); streams kept as Airbyte sent them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Catalog {
    pub streams: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobInfo {
    succeeded: bool,
    failure_reason: Option<FailureReason>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FailureReason {
    external_message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionRead {
    connection_id: Uuid,
}

/// An answer whose body is ignored (204 No Content).
struct Empty;

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Empty)
    }
}

#[derive(Deserialize)]
struct AccessToken {
    access_token: String,
}

#[derive(Deserialize)]
struct HealthRead {
    available: bool,
}

/// The body of `sources/create` / `destinations/create`. The client's configuration is passed
/// through byte for byte, never re-encoded.
struct ActorCreate<'a> {
    kind: Kind,
    workspace_id: Uuid,
    definition_id: Uuid,
    name: &'a str,
    config: &'a RawValue,
}

impl Serialize for ActorCreate<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("workspaceId", &self.workspace_id)?;
        map.serialize_entry(self.kind.names().definition_id_field, &self.definition_id)?;
        map.serialize_entry("name", self.name)?;
        map.serialize_entry("connectionConfiguration", self.config)?;
        map.end()
    }
}

/// What `connections/create` is asked to make.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConnection {
    pub source_id: Uuid,
    pub destination_id: Uuid,
    pub name: Option<String>,
    /// A Quartz cron expression, evaluated in UTC; `None` is a manual schedule.
    pub cron: Option<String>,
    pub streams: Vec<Value>,
    pub source_catalog_id: Option<Uuid>,
}

/// A blocking client for one Airbyte install.
pub struct Client {
    agent: ureq::Agent,
    base_url: String,
    timeout: Duration,
    discover_timeout: Duration,
    credentials: Credentials,
    metrics: Arc<Metrics>,
}

/// The two HTTP methods Airbyte's Config API uses.
#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
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
        let agent = transport::agent(agent_config);
        Client {
            agent,
            base_url: config.airbyte_base_url.trim_end_matches('/').to_string(),
            timeout: config.airbyte_timeout,
            discover_timeout: config.discover_timeout,
            credentials: Credentials::new(config.airbyte_auth.clone()),
            metrics,
        }
    }

    /// `GET /health`: whether Airbyte says it is available.
    pub fn health(&self) -> Result<bool, Error> {
        let health: HealthRead = self.exchange(Method::Get, "health", None, self.timeout)?;
        Ok(health.available)
    }

    /// `POST /workspaces/list` (Airbyte up to 1.6). `Ok(None)` when this Airbyte no longer has the
    /// call (404, Airbyte 1.7 and later).
    pub fn list_workspaces(&self) -> Result<Option<Vec<Uuid>>, Error> {
        match self.post::<WorkspaceList>("workspaces/list", None::<&()>, self.timeout) {
            Ok(list) => Ok(Some(
                list.workspaces
                    .into_iter()
                    .map(|w| w.workspace_id)
                    .collect(),
            )),
            Err(Error::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /workspaces/list_by_organization_id` for the default organization (Airbyte 1.7 and later).
    pub fn list_workspaces_in_default_organization(&self) -> Result<Vec<Uuid>, Error> {
        let body = json!({ "organizationId": DEFAULT_ORGANIZATION_ID });
        let list: WorkspaceList = self.post(
            "workspaces/list_by_organization_id",
            Some(&body),
            self.timeout,
        )?;
        Ok(list
            .workspaces
            .into_iter()
            .map(|w| w.workspace_id)
            .collect())
    }

    /// `POST /{source,destination}_definitions/list_for_workspace`: Airbyte's connectors and the
    /// workspace's custom ones.
    pub fn list_definitions(
        &self,
        kind: Kind,
        workspace_id: Uuid,
    ) -> Result<Vec<Definition>, Error> {
        let body = json!({ "workspaceId": workspace_id });
        let list: DefinitionList =
            self.post(kind.names().definitions_call, Some(&body), self.timeout)?;
        Ok(list.definitions)
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
            name,
            config,
        };
        self.post(kind.names().create_call, Some(&body), self.timeout)
    }

    /// `POST /sources/get` / `POST /destinations/get`.
    pub fn get_actor(&self, kind: Kind, id: Uuid) -> Result<Actor, Error> {
        let body = json!({ kind.names().id_field: id });
        self.post(kind.names().get_call, Some(&body), self.timeout)
    }

    /// `POST /sources/delete` / `POST /destinations/delete` (204, no body).
    pub fn delete_actor(&self, kind: Kind, id: Uuid) -> Result<(), Error> {
        let body = json!({ kind.names().id_field: id });
        self.post::<Empty>(kind.names().delete_call, Some(&body), self.timeout)
            .map(drop)
    }

    /// `POST /sources/check_connection` / `POST /destinations/check_connection`: runs a check
    /// job (with the discovery timeout: it starts the connector). Airbyte answers 200 either
    /// way; the outcome is in [`Check::status`].
    pub fn check_actor(&self, kind: Kind, id: Uuid) -> Result<Check, Error> {
        let body = json!({ kind.names().id_field: id });
        self.post(kind.names().check_call, Some(&body), self.discover_timeout)
    }

    /// `POST /sources/list` / `POST /destinations/list`, page after page (cursor pagination on
    /// current Airbyte; older ones answer everything at once and ignore the paging fields).
    pub fn list_actors(&self, kind: Kind, workspace_id: Uuid) -> Result<Vec<Actor>, Error> {
        const PAGE: usize = 100;
        const MAX_PAGES: usize = 10_000;
        let mut all: Vec<Actor> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut body = json!({ "workspaceId": workspace_id, "pageSize": PAGE });
            if let Some(last) = all.last() {
                body["cursor"] = json!(last.id);
            }
            let page: ActorList = self.post(kind.names().list_call, Some(&body), self.timeout)?;
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
        self.post(
            "connections/get",
            Some(&json!({ "connectionId": id })),
            self.timeout,
        )
    }

    /// `POST /connections/delete` (204, no body).
    pub fn delete_connection(&self, id: Uuid) -> Result<(), Error> {
        self.post::<Empty>(
            "connections/delete",
            Some(&json!({ "connectionId": id })),
            self.timeout,
        )
        .map(drop)
    }

    /// `POST /jobs/get_last_replication_job`: the status of the connection's latest sync job, if
    /// it has had one.
    pub fn last_sync_status(&self, connection_id: Uuid) -> Result<Option<String>, Error> {
        let read: JobOptionalRead = self.post(
            "jobs/get_last_replication_job",
            Some(&json!({ "connectionId": connection_id })),
            self.timeout,
        )?;
        Ok(read.job.map(|job| job.status))
    }

    /// `POST /sources/discover_schema`: runs a discovery job (its own, longer timeout).
    pub fn discover_schema(&self, source_id: Uuid) -> Result<Discovery, Error> {
        let call = "sources/discover_schema";
        let body = json!({ "sourceId": source_id });
        let read: DiscoverRead = self.post(call, Some(&body), self.discover_timeout)?;
        let failed = |message: Option<String>| Error::JobFailed {
            call,
            message: message.unwrap_or_else(|| "Airbyte gave no reason".to_string()),
        };
        let job = read.job_info;
        match read.catalog {
            _ if !job.succeeded => Err(failed(job.failure_reason.and_then(|r| r.external_message))),
            None => Err(failed(None)),
            Some(catalog) => Ok(Discovery {
                streams: catalog.streams,
                catalog_id: read.catalog_id,
            }),
        }
    }

    /// `POST /connections/create`; returns the new connection's id.
    pub fn create_connection(&self, new: &NewConnection) -> Result<Uuid, Error> {
        let mut body = json!({
            "sourceId": new.source_id,
            "destinationId": new.destination_id,
            "status": "active",
            "syncCatalog": { "streams": new.streams },
            "scheduleType": "manual",
        });
        if let Some(name) = &new.name {
            body["name"] = json!(name);
        }
        if let Some(cron) = &new.cron {
            body["scheduleType"] = json!("cron");
            body["scheduleData"] =
                json!({ "cron": { "cronExpression": cron, "cronTimeZone": "UTC" } });
        }
        if let Some(id) = new.source_catalog_id {
            body["sourceCatalogId"] = json!(id);
        }
        let read: ConnectionRead = self.post("connections/create", Some(&body), self.timeout)?;
        Ok(read.connection_id)
    }

    fn url(&self, call: &str) -> String {
        format!("{}/{call}", self.base_url)
    }

    /// One `POST {base}/{call}` with a JSON body (or none), its answer read as `T`.
    fn post<T: DeserializeOwned>(
        &self,
        call: &'static str,
        body: Option<&impl Serialize>,
        timeout: Duration,
    ) -> Result<T, Error> {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("request bodies always serialize"));
        self.exchange(Method::Post, call, bytes.as_deref(), timeout)
    }

    /// One authenticated call, recorded in the metrics. A 401 with a token from client
    /// credentials is retried once with a new token; refused credentials become
    /// [`Error::CredentialsRefused`].
    fn exchange<T: DeserializeOwned>(
        &self,
        method: Method,
        call: &'static str,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<T, Error> {
        self.observed(call, || self.renewing(method, call, body, timeout))
    }

    /// Sends with the current credentials; a 401 to a token from client credentials is retried once
    /// with a new token, and refused credentials become [`Error::CredentialsRefused`].
    fn renewing<T: DeserializeOwned>(
        &self,
        method: Method,
        call: &'static str,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<T, Error> {
        self.authenticated(method, call, body, timeout, None)
            .and_then(|(answer, sent)| match answer {
                Err(Error::Status { status: 401, .. }) if self.credentials.renewable() => self
                    .authenticated(method, call, body, timeout, sent.as_ref())
                    .and_then(|(answer, _)| answer),
                answer => answer,
            })
            .map_err(|e| match e {
                Error::Status {
                    call,
                    status: status @ (401 | 403),
                    ..
                } => Error::CredentialsRefused { call, status },
                other => other,
            })
    }

    /// Runs one call and records its outcome and latency in the metrics.
    fn observed<T>(
        &self,
        call: &'static str,
        run: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        let started = Instant::now();
        let result = run();
        self.metrics
            .observe_airbyte(call, outcome(&result), started.elapsed());
        result
    }

    /// Sends with the current credentials (renewing a `refused` token); returns the answer and the
    /// header that was sent.
    #[allow(clippy::type_complexity)]
    fn authenticated<T: DeserializeOwned>(
        &self,
        method: Method,
        call: &'static str,
        body: Option<&[u8]>,
        timeout: Duration,
        refused: Option<&Secret>,
    ) -> Result<(Result<T, Error>, Option<Secret>), Error> {
        let header = self
            .credentials
            .header(refused.map(Secret::expose), |request| {
                self.fetch_token(request)
            })?;
        let answer = self.send(method, call, body, timeout, header.as_ref());
        Ok((answer, header))
    }

    /// `POST /applications/token`: exchanges the client id and secret for an access token.
    fn fetch_token(&self, request: TokenRequest<'_>) -> Result<String, Error> {
        let call = "applications/token";
        let body =
            json!({ "client_id": request.client_id, "client_secret": request.client_secret });
        let bytes = serde_json::to_vec(&body).expect("request bodies always serialize");
        let token = self.observed(call, || {
            self.send::<AccessToken>(Method::Post, call, Some(&bytes), self.timeout, None)
                .map_err(|e| match e {
                    Error::Status {
                        status: s @ 400..=499,
                        ..
                    } => Error::CredentialsRefused { call, status: s },
                    other => other,
                })
        })?;
        Ok(token.access_token)
    }

    /// One HTTP exchange: the request sent, the answer read as `T`.
    fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        call: &'static str,
        body: Option<&[u8]>,
        timeout: Duration,
        authorization: Option<&Secret>,
    ) -> Result<T, Error> {
        let url = self.url(call);
        // The agent's own timeout is the usual one; only discoveries and checks, whose jobs take
        // longer, pay for a configuration of their own.
        let custom = (timeout != self.timeout).then_some(timeout);
        let sent = match method {
            Method::Get => {
                let mut request = self.agent.get(url);
                if let Some(timeout) = custom {
                    request = request.config().timeout_global(Some(timeout)).build();
                }
                match authorization {
                    Some(value) => request.header("Authorization", value.expose()).call(),
                    None => request.call(),
                }
            }
            Method::Post => {
                let mut request = self.agent.post(url);
                if let Some(timeout) = custom {
                    request = request.config().timeout_global(Some(timeout)).build();
                }
                if let Some(value) = authorization {
                    request = request.header("Authorization", value.expose());
                }
                match body {
                    Some(bytes) => request
                        .header("Content-Type", "application/json")
                        .send(bytes),
                    None => request.send_empty(),
                }
            }
        };
        let response = sent.map_err(|e| self.transport(call, timeout, e))?;
        self.read(call, timeout, response)
    }

    /// Reads an answer: a 2xx body as `T`, anything else as [`Error::Status`].
    fn read<T: DeserializeOwned>(
        &self,
        call: &'static str,
        timeout: Duration,
        mut response: ureq::http::Response<ureq::Body>,
    ) -> Result<T, Error> {
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec();
        if !(200..300).contains(&status) {
            let message = bytes.ok().and_then(|b| error_message(&b));
            return Err(Error::Status {
                call,
                status,
                message,
            });
        }
        let bytes = bytes.map_err(|e| match self.transport(call, timeout, e) {
            timeout @ Error::Timeout { .. } => timeout,
            other => Error::InvalidBody {
                call,
                reason: other.to_string(),
            },
        })?;
        // 204 No Content reads as `null`: fine for calls that expect nothing, an error otherwise.
        let bytes = if status == 204 {
            b"null".to_vec()
        } else {
            bytes
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidBody {
            call,
            reason: e.to_string(),
        })
    }

    fn transport(&self, call: &'static str, timeout: Duration, err: ureq::Error) -> Error {
        use ureq::Error as U;
        match err {
            U::Timeout(_) => Error::Timeout {
                call,
                after: timeout,
            },
            U::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                Error::Timeout {
                    call,
                    after: timeout,
                }
            }
            U::Io(e) if is_connect_failure(&e) => Error::Unreachable {
                url: self.base_url.clone(),
                reason: e.to_string(),
            },
            U::ConnectionFailed | U::HostNotFound | U::Tls(_) | U::Rustls(_) => {
                Error::Unreachable {
                    url: self.base_url.clone(),
                    reason: err.to_string(),
                }
            }
            other => Error::InvalidBody {
                call,
                reason: other.to_string(),
            },
        }
    }
}

fn is_connect_failure(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::NotFound
    )
}

/// Airbyte's own explanation in an error body: `message` (most versions) or `detail` (problem
/// bodies), cut to a readable length.
fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let text = ["message", "detail", "title"]
        .iter()
        .find_map(|k| value.get(*k)?.as_str())?;
    let text = text.trim();
    (!text.is_empty()).then(|| crate::error::truncate(text, 500))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_uses_the_kind_field_names_and_keeps_config_verbatim() {
        let config =
            RawValue::from_string(r#"{"port": 12345678901234567890, "b":1,"a":2}"#.to_string())
                .unwrap();
        let id = Uuid::nil();
        let body = ActorCreate {
            kind: Kind::Destination,
            workspace_id: id,
            definition_id: id,
            name: "s3",
            config: &config,
        };
        let text = serde_json::to_string(&body).unwrap();
        assert_eq!(
            text,
            r#"{"workspaceId":"00000000-0000-0000-0000-000000000000","destinationDefinitionId":"00000000-0000-0000-0000-000000000000","name":"s3","connectionConfiguration":{"port": 12345678901234567890, "b":1,"a":2}}"#
        );
    }

    #[test]
    fn definitions_parse_for_both_kinds() {
        let s: DefinitionList = serde_json::from_str(
            r#"{"sourceDefinitions":[{"sourceDefinitionId":"435bb9a5-7887-4809-aa58-28c27df0d7ad","name":"MySQL","dockerRepository":"airbyte/source-mysql","dockerImageTag":"3.0.0"}]}"#,
        )
        .unwrap();
        assert_eq!(s.definitions[0].docker_repository, "airbyte/source-mysql");
        let d: DefinitionList = serde_json::from_str(
            r#"{"destinationDefinitions":[{"destinationDefinitionId":"4816b78f-1489-44c1-9060-4b19d5fa9362","name":"S3","dockerRepository":"airbyte/destination-s3"}]}"#,
        )
        .unwrap();
        assert_eq!(d.definitions[0].name, "S3");
    }

    #[test]
    fn error_messages_come_from_message_or_detail() {
        assert_eq!(
            error_message(br#"{"message":" bad port "}"#).as_deref(),
            Some("bad port")
        );
        assert_eq!(
            error_message(br#"{"type":"x","detail":"nope"}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(error_message(br#"{"errorId":"1"}"#), None);
        assert_eq!(error_message(b"<html>"), None);
    }
}
