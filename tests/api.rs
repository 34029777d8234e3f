//! The three create routes and the health routes, end to end: the real service against the fake
//! Airbyte, asserting both what the client got and what Airbyte received. The tests that talk to
//! Airbyte run once per API (`config::...`, `public::...`, see `support/dialect.rs`).

mod support;

use serde_json::{json, Value};
use support::fake_airbyte::{
    definition, stream, MYSQL_DEFINITION_ID, S3_DEFINITION_ID, WORKSPACE_ID,
};
use support::{Dialect, FakeAirbyte, Service, MYSQL_SOURCE, S3_SINK};

dialects!(
    datasource_creates_a_source_from_the_seed_example,
    sink_creates_a_destination_from_the_seed_example,
    config_reaches_airbyte_byte_for_byte,
    configured_workspace_skips_the_listing,
    the_first_listed_workspace_is_used,
    type_matches_slug_display_name_repository_and_id,
    unknown_type_is_422_with_suggestions,
    warm_caches_make_a_create_cost_one_airbyte_call,
    an_unknown_type_is_answered_from_a_recent_cache,
    a_connector_added_to_airbyte_is_found_once_the_list_is_fetched_again,
    reading_a_source_of_an_unlisted_definition_does_not_refresh_the_list,
    an_expired_cache_is_fetched_again,
    ingestion_discovers_and_connects_every_stream,
    ingestion_timestamps_default_to_now,
    ingestion_with_chosen_streams_a_name_and_a_schedule,
    ingestion_refuses_unknown_streams_and_lists_the_available_ones,
    ingestion_never_creates_a_connection_that_syncs_nothing,
    ingestion_keeps_suggested_sync_modes_that_fit,
    failed_discovery_is_502_with_airbyte_s_message,
    unknown_source_and_sink_ids_are_404,
    readyz_follows_airbyte_health,
    a_create_names_what_it_created_in_location,
);

fn datasource_creates_a_source_from_the_seed_example(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);

    let answer = service.post("/datasource", MYSQL_SOURCE);

    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.header("Content-Type"), Some("application/json"));
    let body = answer.json();
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert_eq!(body["name"], "mysql_source");
    assert_eq!(body["type"], "mysql");
    assert_eq!(body["workspaceId"], WORKSPACE_ID);
    assert_eq!(body["definitionId"], MYSQL_DEFINITION_ID);
    assert_eq!(
        body["config"],
        json!({"host": "localhost", "port": 3306, "database": "mysql_db", "username": "root", "password": "**********"})
    );
    assert_eq!(
        fake.calls(),
        d.calls(&[
            "workspaces/list",
            "workspaces/list_by_organization_id",
            "source_definitions/list_for_workspace",
            "source_definition_specifications/get",
            "sources/create"
        ])
    );
    match d {
        Dialect::Config => {
            assert_eq!(
                fake.last_body("workspaces/list_by_organization_id"),
                json!({"organizationId": "00000000-0000-0000-0000-000000000000"})
            );
            assert_eq!(
                fake.last_body("source_definitions/list_for_workspace"),
                json!({"workspaceId": WORKSPACE_ID})
            );
        }
        Dialect::Public => {
            let requests = fake.requests();
            assert_eq!(requests[0].query_value("limit"), Some("100"));
            assert_eq!(requests[0].query_value("offset"), Some("0"));
            assert_eq!(
                requests[1].path,
                format!("workspaces/{WORKSPACE_ID}/definitions/sources")
            );
        }
    }
    support::assert_seed_source_created_in(d, &fake);
}

fn sink_creates_a_destination_from_the_seed_example(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);

    let answer = service.post("/sink", S3_SINK);

    assert_eq!(answer.status, 201, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["type"], "s3");
    assert_eq!(body["definitionId"], S3_DEFINITION_ID);
    assert_eq!(body["config"]["secret_access_key"], "**********");
    assert_eq!(
        body["config"]["access_key_id"], "**********",
        "key-like fields are masked even when Airbyte does not"
    );
    assert_eq!(body["config"]["bucket_name"], "my-bucket");
    assert_eq!(
        fake.last_body(&d.call("destinations/create")),
        d.create_body(
            "destination",
            WORKSPACE_ID,
            S3_DEFINITION_ID,
            "s3_sink",
            json!({"bucket_name": "my-bucket", "bucket_region": "us-east-1", "access_key_id": "AKIA...", "secret_access_key": "secret", "path_prefix": "exports/"})
        )
    );
}

fn config_reaches_airbyte_byte_for_byte(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let config = r#"{"z":1,"a":{"big":123456789012345678901234567890,"f":1.50},"port":3306}"#;

    let answer = service.post(
        "/datasource",
        &format!(r#"{{"name":"n","type":"mysql","config":{config}}}"#),
    );

    assert_eq!(answer.status, 201, "{}", answer.text);
    let create = fake
        .requests()
        .into_iter()
        .find(|r| r.call == d.call("sources/create"))
        .unwrap();
    let raw = String::from_utf8(create.raw_body).unwrap();
    assert!(
        raw.contains(&format!(r#""{}":{config}"#, d.config_field())),
        "{raw}"
    );
    // Every call names Airbyte's host and its port (not the scheme's default) in `Host`, once.
    let host = format!("127.0.0.1:{}", fake.port);
    for request in fake.requests() {
        assert_eq!(
            request.host.as_deref(),
            Some(host.as_str()),
            "{}",
            request.call
        );
    }
}

#[test]
fn legacy_airbyte_lists_workspaces_with_workspaces_list() {
    let fake = FakeAirbyte::start_legacy();
    let service = Service::start(&fake, &[]);

    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);

    assert_eq!(
        fake.calls(),
        [
            "workspaces/list",
            "source_definitions/list_for_workspace",
            "source_definition_specifications/get",
            "sources/create"
        ]
    );
    let list = fake.requests().into_iter().next().unwrap();
    assert!(list.raw_body.is_empty(), "workspaces/list takes no body");
}

fn configured_workspace_skips_the_listing(d: Dialect) {
    let fake = FakeAirbyte::start();
    let other = "0b4c5a8e-1d2f-4e3a-9b8c-7d6e5f4a3b2c";
    fake.set_workspaces(&[WORKSPACE_ID, other]);
    let service = d.start(&fake, &[("AIRBYTE_WORKSPACE_ID", other)]);

    let answer = service.post("/sink", S3_SINK);

    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.json()["workspaceId"], other);
    assert_eq!(
        fake.calls(),
        d.calls(&[
            "destination_definitions/list_for_workspace",
            "destination_definition_specifications/get",
            "destinations/create"
        ])
    );
    assert_eq!(
        fake.last_body(&d.call("destinations/create"))["workspaceId"],
        other
    );
}

fn the_first_listed_workspace_is_used(d: Dialect) {
    let fake = FakeAirbyte::start();
    let second = "0b4c5a8e-1d2f-4e3a-9b8c-7d6e5f4a3b2c";
    fake.set_workspaces(&[WORKSPACE_ID, second]);
    let service = d.start(&fake, &[]);

    assert_eq!(
        service.post("/datasource", MYSQL_SOURCE).json()["workspaceId"],
        WORKSPACE_ID
    );
}

fn type_matches_slug_display_name_repository_and_id(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    for type_name in [
        "mysql",
        "MySQL",
        "MYSQL",
        "airbyte/source-mysql",
        MYSQL_DEFINITION_ID,
    ] {
        let body = json!({"name": "n", "type": type_name, "config": {"host": "h"}}).to_string();
        let answer = service.post("/datasource", &body);
        assert_eq!(answer.status, 201, "{type_name}: {}", answer.text);
        assert_eq!(
            answer.json()["definitionId"],
            MYSQL_DEFINITION_ID,
            "{type_name}"
        );
        assert_eq!(
            fake.last_body(&d.call("sources/create"))[d.definition_field("source")],
            MYSQL_DEFINITION_ID,
            "{type_name}"
        );
    }
}

fn unknown_type_is_422_with_suggestions(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);

    let answer = service.post("/datasource", r#"{"name":"n","type":"mysq","config":{}}"#);

    let detail = answer.problem(422);
    assert_eq!(
        detail,
        "unknown source type 'mysq'; closest known types: 'mysql', 'postgres'"
    );
    assert!(!fake.calls().contains(&d.call("sources/create")));
}

fn warm_caches_make_a_create_cost_one_airbyte_call(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);
    assert_eq!(service.post("/sink", S3_SINK).status, 201);
    fake.clear_requests();

    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);
    assert_eq!(fake.calls(), d.calls(&["sources/create"]));
    fake.clear_requests();
    assert_eq!(service.post("/sink", S3_SINK).status, 201);
    assert_eq!(fake.calls(), d.calls(&["destinations/create"]));
}

/// A client sending made-up types used to make Airbyte send its whole definition list once per
/// request (about 430 KB on a real install): a miss refreshes the list at most once per 10 s.
fn an_unknown_type_is_answered_from_a_recent_cache(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);
    fake.clear_requests();

    for _ in 0..3 {
        service
            .post(
                "/datasource",
                r#"{"name":"x","type":"nothing-like-it","config":{}}"#,
            )
            .problem(422);
    }
    assert_eq!(
        fake.calls(),
        Vec::<String>::new(),
        "no list was fetched again"
    );
}

fn a_connector_added_to_airbyte_is_found_once_the_list_is_fetched_again(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[("DEFINITIONS_TTL_SECS", "0")]);
    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);
    let custom = "9a3f7c2e-5b1d-4e8f-a6c4-2d9e7b1f3a5c";
    fake.add_source_definition(definition("source", custom, "Acme CRM", "acme/source-crm"));
    fake.clear_requests();

    let answer = service.post(
        "/datasource",
        r#"{"name":"crm","type":"acme crm","config":{}}"#,
    );

    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.json()["definitionId"], custom);
    assert!(
        fake.calls().ends_with(&d.calls(&[
            "source_definitions/list_for_workspace",
            "source_definition_specifications/get",
            "sources/create"
        ])),
        "{:?}",
        fake.calls()
    );

    fake.clear_requests();
    service
        .post(
            "/datasource",
            r#"{"name":"x","type":"nothing-like-it","config":{}}"#,
        )
        .problem(422);
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| **c == d.call("source_definitions/list_for_workspace"))
            .count(),
        1,
        "a list fetched for this request is not fetched again: {:?}",
        fake.calls()
    );
}

/// Reading a source used to look its definition up as a type, so a definition missing from the
/// list refreshed the list on every read.
fn reading_a_source_of_an_unlisted_definition_does_not_refresh_the_list(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);
    // A source of a connector added to Airbyte after the service cached its list.
    let custom = "9a3f7c2e-5b1d-4e8f-a6c4-2d9e7b1f3a5c";
    fake.add_source_definition(definition("source", custom, "Acme CRM", "acme/source-crm"));
    let body = json!({
        "workspaceId": WORKSPACE_ID, "sourceDefinitionId": custom,
        "name": "crm", "connectionConfiguration": {}
    });
    let created = ureq::post(format!("{}/sources/create", fake.base_url()))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let created: Value = serde_json::from_str(&created).unwrap();
    let id = created["sourceId"].as_str().unwrap();
    fake.clear_requests();

    for _ in 0..2 {
        let answer = service.get(&format!("/datasource/{id}"));
        assert_eq!(answer.status, 200, "{}", answer.text);
        // The definition id while the definition is not in the list, or the type the public
        // API names the source by.
        let named = if d.is_public() {
            "acme/source-crm"
        } else {
            custom
        };
        assert_eq!(answer.json()["type"], named);
    }
    assert_eq!(
        fake.calls(),
        d.calls(&[
            "sources/get",
            "source_definition_specifications/get",
            "sources/get"
        ]),
        "the spec is cached like the definitions"
    );
}

fn an_expired_cache_is_fetched_again(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[("DEFINITIONS_TTL_SECS", "0")]);
    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);
    fake.clear_requests();

    assert_eq!(service.post("/datasource", MYSQL_SOURCE).status, 201);

    assert_eq!(
        fake.calls(),
        d.calls(&[
            "workspaces/list",
            "workspaces/list_by_organization_id",
            "source_definitions/list_for_workspace",
            "source_definition_specifications/get",
            "sources/create"
        ])
    );
}

fn ingestion(
    service: &Service,
    fake: &FakeAirbyte,
    extra: Value,
) -> (String, String, support::Answer) {
    let source = service.create("/datasource", MYSQL_SOURCE);
    let sink = service.create("/sink", S3_SINK);
    fake.clear_requests();
    let mut body = json!({"sourceId": source, "sinkId": sink});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let answer = service.post("/ingestion", &body.to_string());
    (source, sink, answer)
}

fn ingestion_discovers_and_connects_every_stream(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);

    let (source, sink, answer) = ingestion(
        &service,
        &fake,
        json!({"created": "2024-01-01T00:00:00Z", "updated": "2024-01-02T03:04:05+01:00"}),
    );

    assert_eq!(answer.status, 201, "{}", answer.text);
    let body = answer.json();
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert_eq!(body["sourceId"], source);
    assert_eq!(body["sinkId"], sink);
    assert_eq!(body["created"], "2024-01-01T00:00:00Z");
    assert_eq!(body["updated"], "2024-01-02T02:04:05Z");
    assert_eq!(body["streams"], json!(["users", "orders"]));

    assert_eq!(
        fake.calls(),
        d.calls(&["sources/discover_schema", "connections/create"])
    );
    let create = fake.last_body(&d.call("connections/create"));
    assert_eq!(create["sourceId"], source);
    assert_eq!(create["destinationId"], sink);
    assert_eq!(create["status"], "active");
    match d {
        Dialect::Config => {
            assert_eq!(
                fake.last_body("sources/discover_schema"),
                json!({"sourceId": source})
            );
            assert_eq!(create["scheduleType"], "manual");
            assert!(uuid::Uuid::parse_str(create["sourceCatalogId"].as_str().unwrap()).is_ok());
            let streams = create["syncCatalog"]["streams"].as_array().unwrap();
            assert_eq!(streams.len(), 2);
            for s in streams {
                assert_eq!(s["config"]["selected"], true, "{s}");
                assert_eq!(s["config"]["syncMode"], "full_refresh");
                assert_eq!(s["config"]["destinationSyncMode"], "overwrite");
                assert_eq!(
                    s["stream"]["jsonSchema"]["type"], "object",
                    "the discovered stream goes back unchanged"
                );
            }
        }
        Dialect::Public => {
            let streams = fake.requests()[0].clone();
            assert_eq!(streams.query_value("sourceId"), Some(source.as_str()));
            assert_eq!(
                streams.query_value("destinationId"),
                Some(sink.as_str()),
                "sync modes are answered only for a destination"
            );
            assert_eq!(create["schedule"], json!({"scheduleType": "manual"}));
            assert_eq!(
                create["namespaceDefinition"], "source",
                "as the Config API keeps it"
            );
            assert_eq!(
                create["configurations"]["streams"],
                json!([
                    {"name": "users", "namespace": "shop", "syncMode": "full_refresh_overwrite"},
                    {"name": "orders", "namespace": "shop", "syncMode": "full_refresh_overwrite"}
                ]),
                "every stream named: an empty list would make Airbyte choose"
            );
        }
    }
    let stored = service.get(&format!(
        "/ingestion/{}",
        answer.json()["id"].as_str().unwrap()
    ));
    assert_eq!(stored.json()["streams"], json!(["users", "orders"]));
}

fn ingestion_timestamps_default_to_now(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let before = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();

    let (_, _, answer) = ingestion(&service, &fake, json!({}));

    let body = answer.json();
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let (created, updated) = (parse(&body["created"]), parse(&body["updated"]));
    assert!(
        created >= before && created <= time::OffsetDateTime::now_utc(),
        "{created}"
    );
    assert_eq!(created, updated);
    assert!(body["created"].as_str().unwrap().ends_with('Z'));
}

fn ingestion_with_chosen_streams_a_name_and_a_schedule(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);

    let (_, _, answer) = ingestion(
        &service,
        &fake,
        json!({"streams": ["orders"], "name": "nightly", "schedule": "0 0 2 * * ?"}),
    );

    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.json()["streams"], json!(["orders"]));
    let create = fake.last_body(&d.call("connections/create"));
    assert_eq!(create["name"], "nightly");
    match d {
        Dialect::Config => {
            assert_eq!(create["scheduleType"], "cron");
            assert_eq!(
                create["scheduleData"],
                json!({"cron": {"cronExpression": "0 0 2 * * ?", "cronTimeZone": "UTC"}})
            );
            let selected = support::selection(&create["syncCatalog"]["streams"]);
            assert_eq!(selected, [("users", false), ("orders", true)]);
        }
        Dialect::Public => {
            assert_eq!(
                create["schedule"],
                json!({"scheduleType": "cron", "cronExpression": "0 0 2 * * ?"})
            );
            assert_eq!(
                create["configurations"]["streams"],
                json!([{"name": "orders", "namespace": "shop", "syncMode": "full_refresh_overwrite"}])
            );
        }
    }
    let id = answer.json()["id"].as_str().unwrap().to_string();
    let stored = service.get(&format!("/ingestion/{id}")).json();
    assert_eq!(
        stored["schedule"],
        json!({"type": "cron", "cron": "0 0 2 * * ?"}),
        "the same schedule read back on both APIs"
    );
}

fn ingestion_refuses_unknown_streams_and_lists_the_available_ones(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);

    let (_, _, answer) = ingestion(&service, &fake, json!({"streams": ["users", "invoices"]}));

    assert_eq!(
        answer.problem(422),
        "the source has no stream named 'invoices'; available streams: 'users', 'orders'"
    );
    assert_eq!(
        fake.calls(),
        d.calls(&["sources/discover_schema"]),
        "nothing is created"
    );
}

fn ingestion_never_creates_a_connection_that_syncs_nothing(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.set_streams(vec![]);
    let service = d.start(&fake, &[]);

    let (_, _, answer) = ingestion(&service, &fake, json!({}));

    assert!(answer.problem(422).contains("sync nothing"));
    assert_eq!(fake.calls(), d.calls(&["sources/discover_schema"]));
}

/// The Config API suggests sync modes with its discovery; the public API says only which a
/// stream supports towards the destination, so there the first that fits is chosen.
fn ingestion_keeps_suggested_sync_modes_that_fit(d: Dialect) {
    let fake = FakeAirbyte::start();
    let mut incremental = stream("events", &["full_refresh", "incremental"]);
    incremental["stream"]["sourceDefinedCursor"] = json!(true);
    incremental["config"]["syncMode"] = json!("incremental");
    incremental["config"]["destinationSyncMode"] = json!("append_dedup");
    fake.set_streams(vec![incremental]);
    let service = d.start(&fake, &[]);

    let (_, _, answer) = ingestion(&service, &fake, json!({}));

    assert_eq!(answer.status, 201, "{}", answer.text);
    let create = fake.last_body(&d.call("connections/create"));
    match d {
        Dialect::Config => {
            let config = &create["syncCatalog"]["streams"][0]["config"];
            assert_eq!(
                (
                    config["syncMode"].as_str(),
                    config["destinationSyncMode"].as_str()
                ),
                (Some("incremental"), Some("append_dedup"))
            );
        }
        Dialect::Public => assert_eq!(
            create["configurations"]["streams"][0]["syncMode"],
            "full_refresh_overwrite"
        ),
    }
}

fn failed_discovery_is_502_with_airbyte_s_message(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.fail_discovery("Access denied for user 'root'");
    let service = d.start(&fake, &[]);

    let (_, _, answer) = ingestion(&service, &fake, json!({}));

    assert_eq!(
        answer.problem(502),
        format!(
            "Airbyte's {} job failed: Access denied for user 'root'",
            match d {
                Dialect::Config => "sources/discover_schema",
                Dialect::Public => "GET /streams",
            }
        )
    );
    assert_eq!(fake.calls(), d.calls(&["sources/discover_schema"]));
}

fn unknown_source_and_sink_ids_are_404(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let missing = "5d3c2b1a-0f9e-4d8c-b7a6-958473625140";
    let sink = fake.seed_destination();
    let source = fake.seed_source();

    let answer = service.post(
        "/ingestion",
        &json!({"sourceId": missing, "sinkId": sink}).to_string(),
    );
    assert_eq!(
        answer.problem(404),
        format!("Airbyte has no source with id '{missing}'")
    );

    let answer = service.post(
        "/ingestion",
        &json!({"sourceId": source, "sinkId": missing}).to_string(),
    );
    assert_eq!(
        answer.problem(404),
        format!("Airbyte has no destination (sink) with id '{missing}'")
    );
}

/// A 201 names what it created (RFC 9110 §15.3.2); without `Location` it would name the request's
/// own URI, the collection. The path it names serves what was created.
fn a_create_names_what_it_created_in_location(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let source = service.post("/datasource", MYSQL_SOURCE);
    let sink = service.post("/sink", S3_SINK);
    let ids = |a: &support::Answer| a.json()["id"].as_str().unwrap().to_string();
    let body = json!({"sourceId": ids(&source), "sinkId": ids(&sink)});
    let ingestion = service.post("/ingestion", &body.to_string());

    for (collection, created) in [
        ("/datasource", &source),
        ("/sink", &sink),
        ("/ingestion", &ingestion),
    ] {
        assert_eq!(created.status, 201, "{}", created.text);
        let expected = format!("{collection}/{}", ids(created));
        assert_eq!(created.header("Location"), Some(expected.as_str()));
        let stored = service.get(&expected);
        assert_eq!(stored.status, 200, "{expected}: {}", stored.text);
        assert_eq!(stored.json()["id"], created.json()["id"]);
    }
    let failed = service.post("/sink", r#"{"name":"x","type":"s3"}"#);
    assert_eq!(failed.status, 400, "{}", failed.text);
    assert_eq!(failed.header("Location"), None, "nothing was created");
}

#[test]
fn healthz_answers_without_airbyte() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);
    drop(fake);

    let answer = service.get("/healthz");

    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({"status": "ok"}));
}

fn readyz_follows_airbyte_health(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);

    let ready = service.get("/readyz");
    assert_eq!(ready.status, 200);
    assert_eq!(
        ready.json(),
        json!({"status": "ready", "airbyte": "available", "api": if d.is_public() { "public" } else { "config" }})
    );
    assert_eq!(fake.calls(), d.calls(&["health"]));
    assert_eq!(fake.requests()[0].method, "GET");

    fake.set_available(false);
    assert!(service
        .get("/readyz")
        .problem(503)
        .contains("not available"));

    drop(fake);
    let detail = service.get("/readyz").problem(503);
    assert!(detail.contains("unreachable"), "{detail}");
}

#[test]
fn openapi_json_is_served_for_get_and_head() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);

    let answer = service.get("/openapi.json");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("Content-Type"), Some("application/json"));
    let written: Value = serde_json::from_str(include_str!("../src/openapi.json")).unwrap();
    assert_eq!(answer.json(), written, "the document as written, compacted");
    assert_eq!(answer.json()["openapi"], "3.1.0");

    let head = service.request("HEAD", "/openapi.json", None, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.text, "");
    assert!(fake.calls().is_empty());
}

#[test]
fn every_documented_operation_is_routed() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);
    let doc: Value = serde_json::from_str(include_str!("../src/openapi.json")).unwrap();

    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "head", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let method = method.to_ascii_uppercase();
            // A body-less request: a routed POST answers 415, never 404 or 405.
            let answer = service.request(&method, path, None, &[]);
            assert!(
                ![404, 405].contains(&answer.status),
                "{method} {path} is documented but answered {}: {}",
                answer.status,
                answer.text
            );
            operations += 1;
        }
    }
    assert_eq!(operations, 44);
}

#[test]
fn request_ids_are_echoed_or_made_up_and_logged() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);

    let answer = service.request("GET", "/healthz", None, &[("X-Request-Id", "trace-42")]);
    assert_eq!(answer.header("X-Request-Id"), Some("trace-42"));
    let line = service.wait_for_log("id=trace-42");
    // `TIMESTAMP LEVEL TARGET: MESSAGE`: RFC 3339 in UTC to the nanosecond, the level in five
    // columns, then what the request was, its status and how long it took.
    let (time, rest) = line.split_once(' ').unwrap();
    assert_eq!(time.len(), "2026-12-05T12:39:51.626728168Z".len(), "{line}");
    let logged = time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339);
    let age = time::OffsetDateTime::now_utc() - logged.unwrap();
    assert!(age.whole_seconds().abs() < 60, "{line}");
    let rest = rest
        .strip_prefix("INFO  access: GET /healthz 200 ")
        .unwrap_or_else(|| panic!("{line}"));
    let took = rest
        .strip_suffix("ms id=trace-42")
        .unwrap_or_else(|| panic!("{line}"));
    let (whole, tenths) = took.split_once('.').unwrap();
    assert!(whole.parse::<u64>().is_ok() && tenths.len() == 1, "{line}");

    let made_up = service
        .get("/healthz")
        .header("X-Request-Id")
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&made_up).is_ok());
    service.wait_for_log(&format!("id={made_up}"));
}

fn run_binary(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_airbyte-wrapper"));
    command
        .args(args)
        .env_clear()
        .env("LISTEN_ADDR", "127.0.0.1:0");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[test]
fn a_bad_setting_stops_start_up_with_exit_code_2_naming_it() {
    for (variable, value) in [
        ("WORKERS", "zero"),
        ("AIRBYTE_BASE_URL", "localhost:8000"),
        ("AIRBYTE_WORKSPACE_ID", "default"),
    ] {
        let output = run_binary(&[], &[(variable, value)]);
        assert_eq!(output.status.code(), Some(2), "{variable}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("invalid {variable}=")), "{stderr}");
    }
    let output = run_binary(
        &[],
        &[("AIRBYTE_BASE_URL", "http://admin:s3cret@airbyte/api")],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("s3cret"),
        "a password in the URL is not printed"
    );
}

#[test]
fn help_lists_every_variable_with_its_default_and_version_prints_the_version() {
    let output = run_binary(&["--help"], &[]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for (variable, default) in [
        ("AIRBYTE_BASE_URL", "http://localhost:8000/api/v1"),
        ("AIRBYTE_WORKSPACE_ID", "(first workspace"),
        ("LISTEN_ADDR", "127.0.0.1:8080"),
        ("WORKERS", "8"),
        ("AIRBYTE_TIMEOUT_SECS", "30"),
        ("AIRBYTE_DISCOVER_TIMEOUT_SECS", "600"),
        ("DEFINITIONS_TTL_SECS", "300"),
        ("MAX_BODY_BYTES", "1048576"),
        ("RUST_LOG", "info"),
    ] {
        let at = help
            .find(variable)
            .unwrap_or_else(|| panic!("--help lacks {variable}:\n{help}"));
        assert!(
            help[at..]
                .lines()
                .take(2)
                .any(|l| l.contains(&format!("default: {default}"))),
            "{variable}:\n{help}"
        );
    }
    let output = run_binary(&["--version"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("airbyte-wrapper {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(run_binary(&["--bogus"], &[]).status.code(), Some(2));
}

#[test]
fn a_port_in_use_is_a_runtime_failure() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = run_binary(&[], &[("LISTEN_ADDR", &address)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!("cannot listen on {address}"))
    );
}

/// Airbyte before 1.6 has no public call that lists a workspace's definitions with their docker
/// repositories; `GET /connector_definitions` names them, and a type is matched by its name or id.
#[test]
fn without_the_workspace_s_definition_list_the_public_api_s_names_are_matched() {
    let fake = FakeAirbyte::start();
    fake.set_public_definitions_listing(false);
    let service = Dialect::Public.start(&fake, &[]);

    let answer = service.post("/datasource", MYSQL_SOURCE);

    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.json()["definitionId"], MYSQL_DEFINITION_ID);
    assert_eq!(answer.json()["type"], "mysql", "as the public API names it");
    assert_eq!(
        fake.calls(),
        [
            "GET workspaces",
            "GET workspaces/{id}/definitions/sources",
            "GET connector_definitions",
            "source_definition_specifications/get",
            "POST sources"
        ]
    );
    let listed = fake.requests()[2].clone();
    assert_eq!(listed.query_value("type"), Some("source"));
    assert_eq!(listed.query_value("workspaceId"), Some(WORKSPACE_ID));
}

#[test]
fn the_api_is_told_at_start_up_and_airbyte_cloud_needs_a_workspace() {
    let fake = FakeAirbyte::start();
    for (d, says) in [
        (
            Dialect::Config,
            format!("Config API at {}", fake.base_url()),
        ),
        (
            Dialect::Public,
            format!("public API at {}", fake.public_url()),
        ),
    ] {
        let service = d.start(&fake, &[]);
        let line = service.wait_for_log("workers; Airbyte");
        assert!(line.contains(&format!("Airbyte's {says}")), "{line}");
    }
    let output = run_binary(&[], &[("AIRBYTE_BASE_URL", "https://api.airbyte.com/v1")]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid AIRBYTE_WORKSPACE_ID") && stderr.contains("Airbyte Cloud"),
        "{stderr}"
    );
    let output = run_binary(&[], &[("AIRBYTE_API", "graphql")]);
    assert_eq!(output.status.code(), Some(2));
}
