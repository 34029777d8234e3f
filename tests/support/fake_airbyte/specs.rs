//! Connector specs: `source_definition_specifications/get` and its destination twin, and what
//! Airbyte does with a spec's `airbyte_secret` fields: masks them in every configuration it
//! answers, and fills masked values sent back from the stored secrets.

use serde_json::{json, Map, Value};

use super::actors::Kind;
use super::replies::{answer, invalid, not_found, Reply};
use super::{Recorded, State, MYSQL_DEFINITION_ID, POSTGRES_DEFINITION_ID, S3_DEFINITION_ID};

/// What Airbyte shows in place of a secret.
pub const MASK: &str = "**********";

/// The specs of the well-known connectors, shaped like Airbyte's own: MySQL's secrets are its
/// `password`, inside `oneOf` tunnel options, and `replication.sas` (a secret whose name does
/// not look like one); S3's are both keys.
pub(super) fn known_specs() -> Vec<(String, Value)> {
    let tunnel = json!({
        "type": "object",
        "title": "SSH Tunnel Method",
        "oneOf": [
            { "title": "No Tunnel", "properties": { "tunnel_method": { "const": "NO_TUNNEL" } } },
            { "title": "SSH Key Authentication", "properties": {
                "tunnel_method": { "const": "SSH_KEY_AUTH" },
                "tunnel_host": { "type": "string" },
                "ssh_key": { "type": "string", "airbyte_secret": true, "multiline": true }
            } },
            { "title": "Password Authentication", "properties": {
                "tunnel_method": { "const": "SSH_PASSWORD_AUTH" },
                "tunnel_host": { "type": "string" },
                "tunnel_user_password": { "type": "string", "airbyte_secret": true }
            } }
        ]
    });
    let database = |title: &str| {
        json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": title,
            "type": "object",
            "required": ["host", "port", "database", "username"],
            "properties": {
                "host": { "type": "string" },
                "port": { "type": "integer", "minimum": 0, "maximum": 65536 },
                "database": { "type": "string" },
                "username": { "type": "string" },
                "password": { "type": "string", "airbyte_secret": true },
                "replication": { "type": "object", "properties": {
                    "method": { "type": "string" },
                    "sas": { "type": "string", "airbyte_secret": true }
                } },
                "tunnel_method": tunnel
            }
        })
    };
    vec![
        (
            MYSQL_DEFINITION_ID.to_string(),
            database("MySql Source Spec"),
        ),
        (
            POSTGRES_DEFINITION_ID.to_string(),
            database("Postgres Source Spec"),
        ),
        (
            S3_DEFINITION_ID.to_string(),
            json!({
                "title": "S3 Destination Spec",
                "type": "object",
                "required": ["bucket_name", "bucket_region"],
                "properties": {
                    "bucket_name": { "type": "string" },
                    "bucket_region": { "type": "string" },
                    "bucket_path": { "type": "string" },
                    "path_prefix": { "type": "string" },
                    "access_key_id": { "type": "string", "airbyte_secret": true },
                    "secret_access_key": { "type": "string", "airbyte_secret": true }
                }
            }),
        ),
    ]
}

/// The spec of a definition: the one set for it, else one with no fields (a custom connector).
pub(super) fn spec_of(s: &State, definition_id: &str) -> Value {
    s.specs
        .get(definition_id)
        .cloned()
        .unwrap_or_else(|| json!({ "type": "object", "properties": {} }))
}

/// `source_definition_specifications/get`, `destination_definition_specifications/get`.
pub(super) fn get(s: &mut State, request: &Recorded, kind: Kind) -> Reply {
    let (Some(_), Some(definition_id)) = (
        request.uuid_field("workspaceId"),
        request.uuid_field(kind.definition_field()),
    ) else {
        return invalid("workspaceId and the definition id are required");
    };
    if !s
        .definitions(kind)
        .iter()
        .any(|d| d[kind.definition_field()] == definition_id)
    {
        let what = format!("{}_definition", kind.name());
        return not_found(&what, &request.body[kind.definition_field()]);
    }
    s.spec_reads += 1;
    let job = json!({ "id": uuid::Uuid::new_v4(), "configType": "get_spec", "createdAt": 1, "endedAt": 2, "succeeded": true });
    answer(
        200,
        json!({
            kind.definition_field(): definition_id,
            "documentationUrl": "https://docs.airbyte.com/integrations",
            "connectionSpecification": spec_of(s, definition_id),
            "jobInfo": job,
        }),
    )
}

/// `config` as Airbyte answers it: every field `spec` marks `airbyte_secret` masked.
pub(super) fn mask(config: &Value, spec: &Value) -> Value {
    match config {
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, value) in fields {
                let schemas = property(spec, key);
                let secret = schemas
                    .iter()
                    .any(|s| s.get("airbyte_secret") == Some(&json!(true)));
                let shown = match (secret, schemas.first()) {
                    (true, _) if !value.is_null() => json!(MASK),
                    (_, Some(schema)) => mask(value, schema),
                    (_, None) => value.clone(),
                };
                out.insert(key.clone(), shown);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let item = spec.get("items").cloned().unwrap_or(Value::Null);
            Value::Array(items.iter().map(|i| mask(i, &item)).collect())
        }
        other => other.clone(),
    }
}

/// The schemas of property `key` in `spec`, its own and those of its `oneOf` options.
fn property<'s>(spec: &'s Value, key: &str) -> Vec<&'s Value> {
    let own = spec.pointer(&format!("/properties/{key}"));
    let options = spec
        .get("oneOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.pointer(&format!("/properties/{key}")));
    own.into_iter().chain(options).collect()
}

/// `new` with every masked value replaced by what `stored` holds at the same place, as Airbyte
/// fills an update from its secret store; the path of a mask with nothing stored behind it is
/// the error.
pub(super) fn fill(new: &Value, stored: Option<&Value>, path: &str) -> Result<Value, String> {
    match new {
        Value::String(s) if s == MASK => stored
            .filter(|v| !v.is_null())
            .cloned()
            .ok_or_else(|| path.to_string()),
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, value) in fields {
                let below = stored.and_then(|s| s.get(key));
                out.insert(key.clone(), fill(value, below, &format!("{path}.{key}"))?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let below = stored.and_then(|s| s.get(i));
                out.push(fill(item, below, &format!("{path}[{i}]"))?);
            }
            Ok(Value::Array(out))
        }
        other => Ok(other.clone()),
    }
}
