//! `POST /ingestion`: connect a source to a destination with an Airbyte connection that syncs.
//!
//! A connection created without a catalog syncs nothing, so the source's schema is discovered
//! first and the chosen streams are sent as the connection's catalog.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::airbyte::NewConnection;
use crate::app::App;
use crate::error::ApiError;
use crate::http::Reply;
use crate::input;
use crate::text::quote_list;

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
        name: input::optional_string("name", fields.name, 256)?,
        streams: input::string_list("streams", fields.streams, MAX_STREAMS)?,
        cron: input::optional_string("schedule", fields.schedule, 256)?,
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
        .discover_schema(source_id)
        .map_err(|e| ApiError::for_id(e, "source", &source_id))?;
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
        .map_err(|e| ApiError::for_id(e, "destination (sink)", &sink_id))?;

    let now = OffsetDateTime::now_utc();
    let format = |t: Option<OffsetDateTime>| {
        t.unwrap_or(now)
            .format(&Rfc3339)
            .expect("UTC times always format")
    };
    Ok(Reply::json(
        201,
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

/// `GET /ingestion/{id}`: the connection's ends, status, schedule, selected streams, and the
/// status of its latest sync job when Airbyte reports one.
pub fn get(app: &App, id: &str) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    let connection = app
        .airbyte
        .get_connection(id)
        .map_err(|e| ApiError::for_id(e, "connection (ingestion)", &id))?;
    let latest = match app.airbyte.last_sync_status(id) {
        Ok(status) => status,
        Err(e) => {
            log::debug!("no latest sync job for connection {id}: {e}");
            None
        }
    };
    let selected: Vec<&str> = connection
        .sync_catalog
        .streams
        .iter()
        .filter(|s| s.pointer("/config/selected").and_then(Value::as_bool) == Some(true))
        .filter_map(stream_name)
        .collect();
    let cron = connection
        .schedule_data
        .as_ref()
        .and_then(|d| d.pointer("/cron/cronExpression"))
        .cloned();
    Ok(Reply::json(
        200,
        &json!({
            "id": connection.connection_id,
            "name": connection.name,
            "sourceId": connection.source_id,
            "sinkId": connection.destination_id,
            "status": connection.status,
            "schedule": { "type": connection.schedule_type.as_deref().unwrap_or("manual"), "cron": cron },
            "streams": selected,
            "latestSyncJobStatus": latest,
        }),
    ))
}

/// `DELETE /ingestion/{id}`: deletes the connection (the source and sink stay).
pub fn delete(app: &App, id: &str) -> Result<Reply, ApiError> {
    let id = input::path_id(id)?;
    app.airbyte
        .delete_connection(id)
        .map_err(|e| ApiError::for_id(e, "connection (ingestion)", &id))?;
    Ok(Reply::no_content())
}

/// The stream's name, as the client names it: `name`, or `namespace.name` as an alternative.
fn stream_name(item: &Value) -> Option<&str> {
    item.pointer("/stream/name").and_then(Value::as_str)
}

fn matches(item: &Value, wanted: &str) -> bool {
    let Some(name) = stream_name(item) else {
        return false;
    };
    if name == wanted {
        return true;
    }
    let namespace = item.pointer("/stream/namespace").and_then(Value::as_str);
    namespace
        .is_some_and(|ns| wanted.strip_prefix(ns).and_then(|r| r.strip_prefix('.')) == Some(name))
}

/// Marks the chosen streams selected (all of them when `wanted` is `None`) and the rest not,
/// settling each selected stream's sync modes. Returns the catalog and the selected names.
fn select_streams(
    mut streams: Vec<Value>,
    wanted: Option<&[String]>,
) -> Result<(Vec<Value>, Vec<String>), ApiError> {
    if let Some(wanted) = wanted {
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|w| !streams.iter().any(|s| matches(s, w)))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let mut available: Vec<&str> = streams.iter().filter_map(stream_name).collect();
            available.truncate(50);
            return Err(ApiError::unprocessable(format!(
                "the source has no stream named {}; available streams: {}",
                quote_list(&missing),
                if available.is_empty() {
                    "none".to_string()
                } else {
                    quote_list(&available)
                }
            )));
        }
    }
    let mut selected = Vec::new();
    for item in &mut streams {
        let chosen = match wanted {
            Some(wanted) => wanted.iter().any(|w| matches(item, w)),
            None => stream_name(item).is_some(),
        };
        if chosen {
            selected.push(stream_name(item).unwrap_or_default().to_string());
        }
        configure(item, chosen);
    }
    if selected.is_empty() {
        return Err(ApiError::unprocessable(
            "Airbyte discovered no streams in this source, so the connection would sync nothing; check the source's configuration",
        ));
    }
    Ok((streams, selected))
}

/// Sets `config.selected`, and for a selected stream sync modes it supports: Airbyte's suggested
/// pair when it fits the stream, else full refresh / overwrite (or incremental / append for a
/// stream that only supports incremental).
fn configure(item: &mut Value, selected: bool) {
    let stream = item.get("stream").cloned().unwrap_or(Value::Null);
    let Some(item) = item.as_object_mut() else {
        return;
    };
    let config = item.entry("config").or_insert_with(|| json!({}));
    let Some(config) = config.as_object_mut() else {
        return;
    };
    config.insert("selected".into(), json!(selected));
    if !selected {
        config
            .entry("syncMode")
            .or_insert_with(|| json!("full_refresh"));
        config
            .entry("destinationSyncMode")
            .or_insert_with(|| json!("overwrite"));
        return;
    }

    let supported: Vec<&str> = match stream.get("supportedSyncModes").and_then(Value::as_array) {
        Some(modes) if !modes.is_empty() => modes.iter().filter_map(Value::as_str).collect(),
        _ => vec!["full_refresh"],
    };
    let non_empty = |v: Option<&Value>| v.and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let has_cursor = stream.get("sourceDefinedCursor").and_then(Value::as_bool) == Some(true)
        || non_empty(stream.get("defaultCursorField"))
        || non_empty(config.get("cursorField"));
    let has_primary_key =
        non_empty(stream.get("sourceDefinedPrimaryKey")) || non_empty(config.get("primaryKey"));

    let sync = config.get("syncMode").and_then(Value::as_str).unwrap_or("");
    let destination = config
        .get("destinationSyncMode")
        .and_then(Value::as_str)
        .unwrap_or("");
    let fits = supported.contains(&sync)
        && match (sync, destination) {
            ("full_refresh", "overwrite" | "append") => true,
            ("full_refresh", "overwrite_dedup") => has_primary_key,
            ("incremental", "append") => has_cursor,
            ("incremental", "append_dedup") => has_cursor && has_primary_key,
            _ => false,
        };
    if !fits {
        let (sync, destination) = if supported.contains(&"full_refresh") || !has_cursor {
            ("full_refresh", "overwrite")
        } else {
            ("incremental", "append")
        };
        config.insert("syncMode".into(), json!(sync));
        config.insert("destinationSyncMode".into(), json!(destination));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(name: &str, modes: &[&str], config: Value) -> Value {
        json!({ "stream": { "name": name, "jsonSchema": {}, "supportedSyncModes": modes }, "config": config })
    }

    #[test]
    fn selects_all_by_default_and_keeps_fitting_suggestions() {
        let streams = vec![
            stream(
                "users",
                &["full_refresh", "incremental"],
                json!({"syncMode": "full_refresh", "destinationSyncMode": "append", "selected": false}),
            ),
            stream(
                "orders",
                &["full_refresh"],
                json!({"syncMode": "incremental", "destinationSyncMode": "append_dedup"}),
            ),
        ];
        let (catalog, selected) = select_streams(streams, None).unwrap();
        assert_eq!(selected, ["users", "orders"]);
        assert_eq!(
            catalog[0]["config"],
            json!({"syncMode": "full_refresh", "destinationSyncMode": "append", "selected": true})
        );
        assert_eq!(
            catalog[1]["config"],
            json!({"syncMode": "full_refresh", "destinationSyncMode": "overwrite", "selected": true})
        );
    }

    #[test]
    fn incremental_only_streams_need_a_cursor() {
        let mut s = json!({ "stream": { "name": "events", "supportedSyncModes": ["incremental"], "sourceDefinedCursor": true } });
        configure(&mut s, true);
        assert_eq!(
            s["config"],
            json!({"selected": true, "syncMode": "incremental", "destinationSyncMode": "append"})
        );
    }

    #[test]
    fn chosen_streams_only_and_unknown_ones_listed() {
        let streams = || vec![stream("a", &[], json!({})), stream("b", &[], json!({}))];
        let (catalog, selected) = select_streams(streams(), Some(&["b".to_string()])).unwrap();
        assert_eq!(selected, ["b"]);
        assert_eq!(catalog[0]["config"]["selected"], false);
        assert_eq!(catalog[1]["config"]["selected"], true);
        let e = select_streams(streams(), Some(&["c".to_string()])).unwrap_err();
        assert_eq!(e.status, 422);
        assert_eq!(
            e.detail,
            "the source has no stream named 'c'; available streams: 'a', 'b'"
        );
    }

    #[test]
    fn a_source_without_streams_is_refused() {
        let e = select_streams(vec![], None).unwrap_err();
        assert_eq!(e.status, 422);
    }

    #[test]
    fn namespaced_names_match() {
        let s = json!({ "stream": { "name": "users", "namespace": "public" } });
        assert!(matches(&s, "users"));
        assert!(matches(&s, "public.users"));
        assert!(!matches(&s, "other.users"));
    }
}
