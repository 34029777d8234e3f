//! Connector definitions: the lists a workspace sees, and builders for the definitions and
//! catalogues tests set up.

use serde_json::{json, Value};
use uuid::Uuid;

use super::actors::Kind;
use super::replies::{answer, invalid, not_found, Reply};
use super::{Recorded, State, MYSQL_DEFINITION_ID, POSTGRES_DEFINITION_ID, S3_DEFINITION_ID};

/// `source_definitions/list_for_workspace`, `destination_definitions/list_for_workspace`.
pub(super) fn list_for_workspace(s: &State, request: &Recorded, kind: Kind) -> Reply {
    let Some(ws) = request
        .uuid_field("workspaceId")
        .filter(|_| request.has_json_body())
    else {
        return invalid("workspaceId is required");
    };
    if !s.has_workspace(ws) {
        return not_found("workspace", &request.body["workspaceId"]);
    }
    answer(
        200,
        json!({ format!("{}Definitions", kind.name()): s.definitions(kind) }),
    )
}

/// A definition of `kind` (`source` or `destination`) as Airbyte lists it, all fields filled.
pub fn definition(kind: &str, id: &str, name: &str, repository: &str) -> Value {
    let slug = repository.rsplit('/').next().unwrap_or(repository);
    let mut d = json!({
        "name": name,
        "dockerRepository": repository,
        "dockerImageTag": "1.0.0",
        "documentationUrl": format!("https://docs.airbyte.com/integrations/{kind}s/{slug}"),
        "icon": format!("https://connectors.airbyte.com/files/metadata/{repository}/latest/icon.svg"),
        "protocolVersion": "0.2.0",
        "custom": false,
        "enterprise": false,
        "supportLevel": "certified",
        "releaseStage": "generally_available",
        "releaseDate": "2021-07-15",
        "resourceRequirements": {
            "jobSpecific": [{
                "jobType": "sync",
                "resourceRequirements": { "cpu_request": "1", "cpu_limit": "2", "memory_request": "1Gi", "memory_limit": "2Gi" }
            }]
        },
        "lastPublished": "2025-05-20T17:44:08.123Z",
        "cdkVersion": "java:0.48.1",
        "metrics": {
            "all": { "sync_success_rate": "high", "usage": "high", "connector_version": "1.0.0" },
            "cloud": { "sync_success_rate": "high", "usage": "high", "connector_version": "1.0.0" },
            "oss": { "sync_success_rate": "high", "usage": "medium", "connector_version": "1.0.0" }
        },
        "language": "java",
    });
    d[format!("{kind}DefinitionId")] = json!(id);
    if kind == "source" {
        d["sourceType"] = json!("database");
        d["maxSecondsBetweenMessages"] = json!(86400);
    } else {
        d["supportsDataActivation"] = json!(false);
    }
    d
}

/// The well-known definitions every fake lists, with their real ids: MySQL and Postgres sources,
/// the S3 destination.
pub(super) fn known_definitions(kind: &str) -> Vec<Value> {
    if kind == "source" {
        vec![
            definition(kind, MYSQL_DEFINITION_ID, "MySQL", "airbyte/source-mysql"),
            definition(
                kind,
                POSTGRES_DEFINITION_ID,
                "Postgres",
                "airbyte/source-postgres",
            ),
        ]
    } else {
        vec![definition(
            kind,
            S3_DEFINITION_ID,
            "S3",
            "airbyte/destination-s3",
        )]
    }
}

/// A catalogue of `count` definitions of `kind` (`source` or `destination`) as large installs list
/// them: the well-known ones and made-up connectors, ordered by name as Airbyte orders them.
pub fn catalog(kind: &str, count: usize) -> Vec<Value> {
    const WORDS: [&str; 26] = [
        "Acme", "Bolt", "Cobalt", "Delta", "Echo", "Flint", "Gamma", "Helix", "Iris", "Jade",
        "Kite", "Lumen", "Maple", "Nova", "Onyx", "Pike", "Quill", "Raven", "Sable", "Tundra",
        "Umber", "Vega", "Wren", "Xenon", "Yarrow", "Zephyr",
    ];
    let mut definitions = known_definitions(kind);
    definitions.truncate(count);
    for n in 0..count.saturating_sub(definitions.len()) {
        let name = format!("{} {}", WORDS[n % WORDS.len()], n / WORDS.len() + 1);
        let repository = format!(
            "airbyte/{kind}-{}",
            name.to_ascii_lowercase().replace(' ', "-")
        );
        let id = Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 | n as u128);
        definitions.push(definition(kind, &id.to_string(), &name, &repository));
    }
    definitions.sort_by_key(|d| d["name"].as_str().unwrap_or("").to_ascii_lowercase());
    definitions
}
