//! `/ingestion`: connect a source to a destination with an Airbyte connection that syncs, read,
//! change (`PATCH`: name, pause and resume, schedule, streams) and delete it, and refresh its
//! schema from the source.
//!
//! A connection created without a catalog syncs nothing, so the source's schema is discovered
//! first and the chosen streams are sent as the connection's catalog (`catalog.rs`).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::airbyte::{self, Connection, ConnectionUpdate, Kind, NewConnection};
use crate::app::App;
use crate::catalog::{self, select_streams};
use crate::error::ApiError;
use crate::http::{Incoming, Reply};
use crate::input;
use crate::jobs::{self, stored_ingestion, JobAnswer, INGESTION};

/// What a client's sink is in Airbyte, for messages about an id.
const SINK: &str = "destination (sink)";

/// Most streams a request may name; larger sources are synced whole by leaving `streams` out.
pub const MAX_STREAMS: usize = 10_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody<'a> {
    #[serde(borrow)]
    source_id: Option<&'a RawValue>,
    #[serde(borrow)]
    sink_id: Option<&'a RawValue>,
    #[serde(borrow)]
    created: Option<&'a RawValue>,
    #[serde(borrow)]
    updated: Option<&'a RawValue>,
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    streams: Option<&'a RawValue>,
    #[serde(borrow)]
    schedule: Option<&'a RawValue>,
}

/// A checked `/ingestion` body.
#[derive(Debug)]
pub struct NewIngestion {
    pub source_id: Uuid,
    pub sink_id: Uuid,
    pub created: Option<OffsetDateTime>,
    pub updated: Option<OffsetDateTime>,
    pub name: Option<String>,
    /// Stream names to sync; `None` for all.
    pub streams: Option<Vec<String>>,
    /// A Quartz cron expression; `None` for a manual schedule.
    pub cron: Option<String>,
}

/// Checks an `/ingestion` body; every rejection is a 400 that names the field.
pub fn parse(body: &[u8]) -> Result<NewIngestion, ApiError> {
    let fields: CreateBody = input::parse_object(body)?;
    let parsed = NewIngestion {
        source_id: input::uuid("sourceId", fields.source_id)?,
        sink_id: input::uuid("sinkId", fields.sink_id)?,
        created: input::timestamp("created", fields.created)?,
        updated: input::timestamp("updated", fields.updated)?,
        name: input::optional_string("name", fields.name, 256)?.map(Cow::into_owned),
        streams: input::string_list("streams", fields.streams, MAX_STREAMS)?,
        cron: input::optional_string("schedule", fields.schedule, 256)?.map(Cow::into_owned),
    };
    if let (Some(created), Some(updated)) = (parsed.created, parsed.updated) {
        if updated < created {
            return Err(ApiError::invalid(
                "field 'updated' must not be earlier than 'created'",
            ));
        }
    }
    Ok(parsed)
}

pub fn create(app: &App, body: &[u8]) -> Result<Reply, ApiError> {
    let NewIngestion {
        source_id,
        sink_id,
        created,
        updated,
        name,
        streams: wanted,
        cron,
    } = parse(body)?;

    let discovery = app
        .airbyte
        .discover_source(source_id, Some(sink_id))
        .map_err(|e| unknown_end(app, e, source_id, sink_id))?;
    let (streams, selected) = select_streams(discovery.streams, wanted.as_deref())?;

    let new = NewConnection {
        source_id,
        destination_id: sink_id,
        name,
        cron,
        streams,
        source_catalog_id: discovery.catalog_id,
    };
    let connection_id = app
        .airbyte
        .create_connection(&new)
        .map_err(|e| ApiError::for_id(e, SINK, &sink_id))?;

    let now = OffsetDateTime::now_utc();
    let format = |t: Option<OffsetDateTime>| {
        t.unwrap_or(now)
            .format(&Rfc3339)
            .expect("UTC times always format")
    };
    Ok(Reply::created(
        "/ingestion",
        connection_id,
        &json!({
            "id": connection_id,
            "sourceId": source_id,
            "sinkId": sink_id,
            "created": format(created),
            "updated": format(updated),
            "streams": selected,
        }),
    ))
}

/// A discovery's failure for the client: a 404 means the source is unknown, or, where Airbyte
/// discovers towards the destination too (the public API), perhaps the sink: the source is asked
/// for to tell which.
fn unknown_end(app: &App, err: airbyte::Error, source: Uuid, sink: Uuid) -> ApiError {
    let not_found = matches!(err, airbyte::Error::Status { status: 404, .. });
    if not_found && app.airbyte.get_actor(Kind::Source, source).is_ok() {
        return ApiError::unknown_id(SINK, &sink.to_string());
    }
    ApiError::for_id(err, "source", &source)
}

/// `GET /ingestion/{id}`: the connection's ends, status, schedule, selected streams, its latest
/// job, and the status of its latest sync job when Airbyte reports one.
pub fn get(app: &App, id: &str) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    let connection = stored_ingestion(app, id)?;
    Ok(Reply::json(200, &view(app, &connection)))
}

/// The `GET` shape of a connection.
fn view(app: &App, connection: &Connection) -> Value {
    let id = connection.connection_id;
    let latest_sync = match app.airbyte.last_sync_status(id) {
        Ok(status) => status,
        Err(e) => {
            log::debug!("no latest sync job for connection {id}: {e}");
            None
        }
    };
    let latest_job: Option<JobAnswer> = jobs::latest(app, id);
    json!({
        "id": id,
        "name": connection.name,
        "sourceId": connection.source_id,
        "sinkId": connection.destination_id,
        "status": connection.status,
        "schedule": { "type": connection.schedule_type, "cron": connection.cron },
        "streams": catalog::selected_names(&connection.streams),
        "latestJob": latest_job,
        "latestSyncJobStatus": latest_sync,
    })
}

/// `DELETE /ingestion/{id}`: deletes the connection (the source and sink stay).
pub fn delete(app: &App, id: &str) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    stored_ingestion(app, id)?;
    app.airbyte
        .delete_connection(id)
        .map_err(|e| ApiError::for_id(e, INGESTION, &id))?;
    Ok(Reply::no_content())
}

/// A `PATCH /ingestion/{id}` body: each field present is a change. `schedule: null` is a change
/// too (to a manual schedule), hence `present`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody<'a> {
    #[serde(borrow, default, deserialize_with = "input::present")]
    name: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "input::present")]
    status: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "input::present")]
    schedule: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "input::present")]
    streams: Option<&'a RawValue>,
}

/// A checked `PATCH /ingestion/{id}` body.
#[derive(Debug, Default, PartialEq)]
pub struct Change {
    pub name: Option<String>,
    pub status: Option<String>,
    /// `Some(None)`: manual; `Some(Some(cron))`: a Quartz cron expression in UTC.
    pub schedule: Option<Option<String>>,
    /// May be empty here: that is refused with 422 once the catalog is known.
    pub streams: Option<Vec<String>>,
}

/// Checks a `PATCH` body; every rejection is a 400 that names the field.
pub fn parse_change(body: &[u8]) -> Result<Change, ApiError> {
    let fields: PatchBody = input::parse_object(body)?;
    let status = input::optional_string("status", fields.status, 16)?.map(Cow::into_owned);
    if status
        .as_deref()
        .is_some_and(|s| !matches!(s, "active" | "inactive"))
    {
        return Err(ApiError::invalid(
            "field 'status' must be 'active' (syncing on its schedule) or 'inactive' (paused)",
        ));
    }
    let schedule = match fields.schedule {
        None => None,
        Some(raw) if raw.get() == "null" => Some(None),
        raw => Some(input::optional_string("schedule", raw, 256)?.map(Cow::into_owned)),
    };
    let change = Change {
        name: input::optional_string("name", fields.name, 256)?.map(Cow::into_owned),
        status,
        schedule,
        streams: input::string_list_or_empty("streams", fields.streams, MAX_STREAMS)?,
    };
    if change == Change::default() {
        return Err(ApiError::invalid(
            "the request body changes nothing; send one or more of 'name', 'status', 'schedule', 'streams'",
        ));
    }
    Ok(change)
}

/// `PATCH /ingestion/{id}`: renames, pauses or resumes, reschedules, or chooses the streams of
/// the connection; what is not sent stays as it is. Answers the `GET` shape.
pub fn patch(app: &App, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    let change = parse_change(body)?;
    let connection = stored_ingestion(app, id)?;
    let streams = match &change.streams {
        None => None,
        Some(wanted) if wanted.is_empty() => {
            return Err(ApiError::unprocessable(
                "field 'streams' names no stream, so the ingestion would sync nothing; name at least one",
            ))
        }
        Some(wanted) => Some(select_streams(catalog_with(app, &connection, wanted)?, Some(wanted))?.0),
    };
    let update = ConnectionUpdate {
        name: change.name,
        status: change.status,
        schedule: change.schedule,
        streams,
        source_catalog_id: None,
    };
    let updated = app
        .airbyte
        .update_connection(id, &update)
        .map_err(|e| ApiError::for_id(e, INGESTION, &id))?;
    Ok(Reply::json(200, &view(app, &updated)))
}

/// The connection's catalog, with every stream in `wanted` if the source has it: a stored catalog
/// may list only the selected streams (the public API's does), so a stream it lacks is looked for
/// in a discovery, the stored streams keeping their sync modes.
fn catalog_with(
    app: &App,
    connection: &Connection,
    wanted: &[String],
) -> Result<Vec<Value>, ApiError> {
    let stored = &connection.streams;
    if wanted
        .iter()
        .all(|w| stored.iter().any(|s| catalog::matches(s, w)))
    {
        return Ok(stored.clone());
    }
    let source = connection.source_id;
    let discovery = app
        .airbyte
        .discover_source(source, Some(connection.destination_id))
        .map_err(|e| ApiError::for_id(e, "source", &source))?;
    Ok(catalog::merge_kept(stored, discovery.streams))
}

/// `POST /ingestion/{id}/refresh?apply=&selectNew=`: discovers the source's schema again,
/// bypassing Airbyte's cache, and says what changed from the connection's catalog; with
/// `apply`, saves it as the connection's catalog (see [`catalog::merge`]).
pub fn refresh(app: &App, request: &Incoming<'_>, id: &str) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    let apply = input::flag("apply", request.query("apply"))?;
    let select_new = input::flag("selectNew", request.query("selectNew"))?;
    let connection = stored_ingestion(app, id)?;
    let discovery = app
        .airbyte
        .rediscover_source(connection.source_id, id)
        .map_err(|e| ApiError::for_id(e, "source", &connection.source_id))?;
    let old = &connection.streams;
    let diff = catalog::diff(old, &discovery.streams);
    let breaking = discovery
        .breaking_change
        .unwrap_or(!diff.removed.is_empty());
    let applied = apply && !diff.is_empty();
    let answer = json!({
        "added": diff.added,
        "removed": diff.removed,
        "changed": diff.changed,
        "breaking": breaking,
        "applied": applied,
    });
    if applied {
        let streams = catalog::merge(old, discovery.streams.clone(), select_new)?;
        let update = ConnectionUpdate {
            streams: Some(streams),
            source_catalog_id: discovery.catalog_id,
            ..ConnectionUpdate::default()
        };
        app.airbyte
            .update_connection(id, &update)
            .map_err(|e| ApiError::for_id(e, INGESTION, &id))?;
    }
    Ok(Reply::json(200, &answer))
}
