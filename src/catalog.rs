//! A connection's stream catalog: which streams it syncs and how. Airbyte discovers a source's
//! streams with suggested sync modes; here streams are chosen by name, each chosen stream gets
//! sync modes it supports, and two catalogs are compared and merged when a source's schema
//! changes. Streams are kept as the JSON Airbyte sent (`AirbyteStreamAndConfiguration`), since
//! they go back to it.

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::text::quote_list;

/// The stream's name, as the client names it: `name`, or `namespace.name` as an alternative.
pub fn stream_name(item: &Value) -> Option<&str> {
    item.pointer("/stream/name").and_then(Value::as_str)
}

/// The stream's namespace, when it has one (an empty one is none).
pub fn stream_namespace(item: &Value) -> Option<&str> {
    item.pointer("/stream/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

/// A stream as a client previews it: `{name, namespace, syncModes, primaryKey, cursorField}`,
/// with `null` for a namespace, primary key or cursor field the source does not define.
pub fn summary(item: &Value) -> Value {
    let stream = item.get("stream").unwrap_or(&Value::Null);
    let defined = |field: &str| {
        stream
            .get(field)
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
            .cloned()
            .unwrap_or(Value::Null)
    };
    json!({
        "name": stream_name(item),
        "namespace": stream_namespace(item),
        "syncModes": stream.get("supportedSyncModes").filter(|m| m.is_array()).cloned().unwrap_or_else(|| json!([])),
        "primaryKey": defined("sourceDefinedPrimaryKey"),
        "cursorField": defined("defaultCursorField"),
    })
}

pub fn matches(item: &Value, wanted: &str) -> bool {
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

/// The 422 for streams a client named that are not there: `lacks` says where (`the source has no
/// stream named`), then the missing names, then (up to 50 of) the streams there are.
pub fn unknown_streams(lacks: &str, missing: &[&str], mut available: Vec<&str>) -> ApiError {
    available.truncate(50);
    ApiError::unprocessable(format!(
        "{lacks} {}; available streams: {}",
        quote_list(missing),
        if available.is_empty() {
            "none".to_string()
        } else {
            quote_list(&available)
        }
    ))
}

/// Marks the chosen streams selected (all of them when `wanted` is `None`) and the rest not,
/// settling each selected stream's sync modes. Returns the catalog and the selected names.
pub fn select_streams(
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
            let available = streams.iter().filter_map(stream_name).collect();
            return Err(unknown_streams(
                "the source has no stream named",
                &missing,
                available,
            ));
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

    // A stream whose supported modes Airbyte did not say (a connection's stream on the public
    // API) supports at least the mode it has.
    let supported: Vec<&str> = match stream.get("supportedSyncModes").and_then(Value::as_array) {
        Some(modes) if !modes.is_empty() => modes.iter().filter_map(Value::as_str).collect(),
        _ => vec![config
            .get("syncMode")
            .and_then(Value::as_str)
            .unwrap_or("full_refresh")],
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

/// A stream's identity across two discoveries: its namespace and name.
fn key(item: &Value) -> (Option<&str>, Option<&str>) {
    (
        item.pointer("/stream/namespace").and_then(Value::as_str),
        stream_name(item),
    )
}

pub fn is_selected(item: &Value) -> bool {
    item.pointer("/config/selected").and_then(Value::as_bool) == Some(true)
}

/// The names of the streams a catalog syncs.
pub fn selected_names(streams: &[Value]) -> Vec<&str> {
    streams
        .iter()
        .filter(|s| is_selected(s))
        .filter_map(stream_name)
        .collect()
}

/// How a source's streams changed from a connection's catalog to a new discovery.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff<'a> {
    pub added: Vec<&'a str>,
    pub removed: Vec<&'a str>,
    /// In both, with another schema, sync modes, cursor or primary key.
    pub changed: Vec<&'a str>,
}

impl Diff<'_> {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// What changed from `old` (a connection's catalog) to `new` (a discovery). A stream has changed
/// when something its old description says (schema, sync modes, cursor, primary key) is
/// different now; what only the new one says (a connection's stream on the public API is its name
/// and namespace alone) is no change.
pub fn diff<'a>(old: &'a [Value], new: &'a [Value]) -> Diff<'a> {
    let find = |items: &'a [Value], item: &Value| items.iter().find(|o| key(o) == key(item));
    let differs = |before: &Value, now: &Value| match (before.get("stream"), now.get("stream")) {
        (Some(Value::Object(was)), Some(is)) => was.iter().any(|(k, v)| is.get(k) != Some(v)),
        (was, is) => was != is,
    };
    let mut diff = Diff::default();
    for item in new {
        match find(old, item) {
            None => diff.added.extend(stream_name(item)),
            Some(before) if differs(before, item) => diff.changed.extend(stream_name(item)),
            Some(_) => {}
        }
    }
    for item in old {
        if find(new, item).is_none() {
            diff.removed.extend(stream_name(item));
        }
    }
    diff
}

/// `new` with the configuration (selection, sync modes) of the streams of `old` it also has; the
/// others as discovered.
pub fn merge_kept(old: &[Value], mut new: Vec<Value>) -> Vec<Value> {
    for item in &mut new {
        let before = old.iter().find(|o| key(o) == key(item));
        if let (Some(config), Some(item)) =
            (before.and_then(|b| b.get("config")), item.as_object_mut())
        {
            item.insert("config".into(), config.clone());
        }
    }
    new
}

/// `new` as a connection's catalog: streams that stay keep their selection and sync modes (as far
/// as the stream still supports them), removed ones go, new ones are selected only with
/// `select_new`. 422 when that would leave nothing selected.
pub fn merge(old: &[Value], new: Vec<Value>, select_new: bool) -> Result<Vec<Value>, ApiError> {
    let mut new = merge_kept(old, new);
    for item in &mut new {
        let selected = match old.iter().find(|o| key(o) == key(item)) {
            Some(before) => is_selected(before),
            None => select_new,
        };
        configure(item, selected);
    }
    if selected_names(&new).is_empty() {
        return Err(ApiError::unprocessable(
            "after the refresh the ingestion would sync no stream; apply it with ?selectNew=true, or choose streams with PATCH",
        ));
    }
    Ok(new)
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

    #[test]
    fn diffs_name_what_was_added_removed_and_changed() {
        let old = vec![
            stream("a", &["full_refresh"], json!({"selected": true})),
            stream("b", &[], json!({})),
        ];
        let new = vec![
            stream("a", &["full_refresh", "incremental"], json!({})),
            stream("c", &[], json!({})),
        ];
        let d = diff(&old, &new);
        assert_eq!(
            d,
            Diff {
                added: vec!["c"],
                removed: vec!["b"],
                changed: vec!["a"]
            }
        );
        assert!(diff(&old, &old).is_empty());
    }

    #[test]
    fn merging_keeps_what_stays_and_selects_new_streams_only_when_asked() {
        let old = vec![
            stream(
                "a",
                &["full_refresh"],
                json!({"selected": true, "syncMode": "full_refresh", "destinationSyncMode": "append"}),
            ),
            stream("gone", &["full_refresh"], json!({"selected": true})),
        ];
        let new = || {
            vec![
                stream("a", &["full_refresh"], json!({})),
                stream("c", &["full_refresh"], json!({})),
            ]
        };
        let merged = merge(&old, new(), false).unwrap();
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0]["config"]["destinationSyncMode"], "append", "kept");
        assert_eq!(merged[0]["config"]["selected"], true);
        assert_eq!(merged[1]["config"]["selected"], false);
        assert_eq!(
            merge(&old, new(), true).unwrap()[1]["config"]["selected"],
            true
        );
        let only_new = vec![stream("c", &[], json!({}))];
        assert_eq!(merge(&old, only_new, false).unwrap_err().status, 422);
    }

    /// A connection's stream on the public API is its name, namespace and configuration alone.
    #[test]
    fn a_stream_known_only_by_name_keeps_its_mode_and_is_no_change() {
        let mut kept = json!({"stream": {"name": "events"}, "config": {"selected": true, "syncMode": "incremental", "destinationSyncMode": "append", "cursorField": ["at"]}});
        configure(&mut kept, true);
        assert_eq!(kept["config"]["syncMode"], "incremental");
        let old = vec![json!({"stream": {"name": "a", "namespace": "n"}})];
        let new = vec![stream("a", &["full_refresh"], json!({}))];
        let mut new_ns = new.clone();
        new_ns[0]["stream"]["namespace"] = json!("n");
        assert!(diff(&old, &new_ns).changed.is_empty());
        let moved = vec![json!({"stream": {"name": "a", "namespace": "m"}})];
        assert_eq!(diff(&moved, &new_ns).added, ["a"]);
    }
}
