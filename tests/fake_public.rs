//! The fake Airbyte's public API, driven directly (no service): that it serves
//! `/api/public/v1/` over the same state as the Config API, in the shapes and with the server
//! behaviour of `shared/airbyte/contract_public.txt`, so that the suites that run the service
//! against it test the service and not the fake.

mod support;

use serde_json::{json, Value};
use support::fake_airbyte::{Api, Auth, JobEnd};
use support::{FakeAirbyte, Fault, MASK, MYSQL_DEFINITION_ID, S3_DEFINITION_ID, WORKSPACE_ID};

/// What the fake answered: its status, its `Content-Type`, and its body as JSON (`Value::String`
/// when it is not JSON; `Value::Null` when empty).
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

/// `method` on `url` with `body` (JSON) and an `Authorization` header when given.
fn call(method: &str, url: &str, body: Option<Value>, authorization: Option<&str>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(authorization) = authorization {
        request = request.header("Authorization", authorization);
    }
    let result = match body {
        Some(body) => agent.run(
            request
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .unwrap(),
        ),
        None => agent.run(request.body(()).unwrap()),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let content_type = response
        .headers()
        .get("content-type")
        .map_or("", |v| v.to_str().unwrap_or(""))
        .to_string();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status: response.status().as_u16(),
        content_type,
        body,
    }
}

/// A public API call on `fake`; `path` is below `/api/public/v1/`, its query included.
fn public(fake: &FakeAirbyte, method: &str, path: &str, body: Option<Value>) -> Answer {
    call(method, &format!("{}/{path}", fake.public_url()), body, None)
}

/// A Config API call on `fake` (`sources/get`, ...).
fn config(fake: &FakeAirbyte, path: &str, body: Value) -> Answer {
    call(
        "POST",
        &format!("{}/{path}", fake.base_url()),
        Some(body),
        None,
    )
}

/// Asserts a problem object of `status` and `title`, its constants in place; returns its `data`.
fn problem(answer: &Answer, status: u16, title: &str) -> Value {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(answer.body["status"], status, "{}", answer.body);
    assert_eq!(answer.body["title"], title, "{}", answer.body);
    let kind = answer.body["type"].as_str().unwrap_or("");
    assert!(
        kind.starts_with("https://reference.airbyte.com/reference/errors"),
        "{kind}"
    );
    assert!(answer.body["detail"].is_string(), "{}", answer.body);
    answer.body["data"].clone()
}

/// A MySQL source created through the public API; its id.
fn public_source(fake: &FakeAirbyte) -> String {
    let created = public(
        fake,
        "POST",
        "sources",
        Some(json!({
            "name": "shop", "workspaceId": WORKSPACE_ID, "definitionId": MYSQL_DEFINITION_ID,
            "configuration": { "sourceType": "mysql", "host": "db.internal", "port": 3306, "password": "hunter2" },
        })),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    created.body["sourceId"].as_str().unwrap().to_string()
}

/// An S3 destination created through the public API; its id.
fn public_destination(fake: &FakeAirbyte) -> String {
    let created = public(
        fake,
        "POST",
        "destinations",
        Some(json!({
            "name": "lake", "workspaceId": WORKSPACE_ID, "definitionId": S3_DEFINITION_ID,
            "configuration": { "bucket_name": "b", "bucket_region": "eu-west-1" },
        })),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    created.body["destinationId"].as_str().unwrap().to_string()
}

#[test]
fn a_source_created_on_the_public_api_is_read_on_the_config_api_and_back() {
    let fake = FakeAirbyte::start();
    let created = public(
        &fake,
        "POST",
        "sources",
        Some(json!({
            "name": "shop", "workspaceId": WORKSPACE_ID, "definitionId": MYSQL_DEFINITION_ID,
            "configuration": { "sourceType": "mysql", "host": "db.internal", "port": 3306, "password": "hunter2" },
        })),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["sourceId"].as_str().unwrap();
    assert_eq!(created.body["sourceType"], "mysql");
    assert_eq!(created.body["definitionId"], MYSQL_DEFINITION_ID);
    assert_eq!(
        created.body["configuration"],
        json!({ "host": "db.internal", "port": 3306, "password": MASK }),
        "the type key is removed and the secret masked"
    );
    assert!(created.body["createdAt"].is_i64());

    let read = config(&fake, "sources/get", json!({ "sourceId": id }));
    assert_eq!(read.status, 200);
    assert_eq!(read.body["sourceDefinitionId"], MYSQL_DEFINITION_ID);
    assert_eq!(read.body["connectionConfiguration"]["password"], MASK);
    assert_eq!(fake.stored_config(id)["password"], "hunter2");

    // And a source seeded in the Config shape, through the public API.
    let seeded = fake.seed_source();
    let read = public(&fake, "GET", &format!("sources/{seeded}"), None);
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["sourceType"], "mysql");
    assert_eq!(read.body["configuration"], json!({ "host": "db.internal" }));

    let recorded = fake.requests();
    assert_eq!(recorded[0].call, "POST sources");
    assert_eq!(recorded[0].api, Api::Public);
    assert_eq!(recorded[1].call, "sources/get");
    assert_eq!(recorded[1].api, Api::Config);
    assert_eq!(recorded[2].call, "GET sources/{id}");
    assert_eq!(recorded[2].path, format!("sources/{seeded}"));

    let missing = public(
        &fake,
        "GET",
        "sources/3f1b8a7c-2d4e-4f6a-9b8c-1d2e3f4a5b6c",
        None,
    );
    let data = problem(&missing, 404, "resource-not-found");
    assert_eq!(
        data,
        json!({ "resourceType": "source", "resourceId": "3f1b8a7c-2d4e-4f6a-9b8c-1d2e3f4a5b6c" })
    );
    problem(
        &public(&fake, "GET", "sources/not-a-uuid", None),
        400,
        "bad-request",
    );
}

#[test]
fn creates_are_refused_as_the_server_refuses_them() {
    let fake = FakeAirbyte::start();
    let body = |configuration: Value| json!({ "name": "shop", "workspaceId": WORKSPACE_ID, "definitionId": MYSQL_DEFINITION_ID, "configuration": configuration });

    let no_name = public(
        &fake,
        "POST",
        "sources",
        Some(json!({ "workspaceId": WORKSPACE_ID, "configuration": {} })),
    );
    assert_eq!(no_name.status, 400);
    assert!(no_name.body["errorId"].is_string(), "{}", no_name.body);

    let misfit = public(
        &fake,
        "POST",
        "sources",
        Some(body(json!({ "port": "3306" }))),
    );
    let data = problem(&misfit, 422, "unprocessable-entity");
    assert_eq!(
        data["message"],
        "json schema validation failed when comparing the data to the json schema. \nErrors: $.port: string found, integer expected "
    );

    // Without a definition id, the server names the connector by `sourceType`.
    let mut named = body(json!({ "sourceType": "mysql", "host": "h" }));
    named.as_object_mut().unwrap().remove("definitionId");
    let created = public(&fake, "POST", "sources", Some(named));
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.body["definitionId"], MYSQL_DEFINITION_ID);
    let mut unnamed = body(json!({ "host": "h" }));
    unnamed.as_object_mut().unwrap().remove("definitionId");
    problem(
        &public(&fake, "POST", "sources", Some(unnamed)),
        422,
        "unprocessable-entity",
    );

    fake.fail(
        "POST sources",
        Fault::Status(500, json!({ "message": "boom" })),
    );
    assert_eq!(
        public(&fake, "POST", "sources", Some(body(json!({})))).status,
        500
    );
}

#[test]
fn put_keeps_masked_secrets_and_patch_stores_what_it_is_sent() {
    let fake = FakeAirbyte::start();
    let id = public_source(&fake);

    let put = public(
        &fake,
        "PUT",
        &format!("sources/{id}"),
        Some(
            json!({ "name": "shop", "configuration": { "host": "db2", "port": 3306, "password": MASK } }),
        ),
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(fake.stored_config(&id)["password"], "hunter2");
    assert_eq!(fake.stored_config(&id)["host"], "db2");
    let nothing_behind = public(
        &fake,
        "PUT",
        &format!("sources/{id}"),
        Some(json!({ "name": "shop", "configuration": { "replication": { "sas": MASK } } })),
    );
    problem(&nothing_behind, 400, "bad-request");

    let patched = public(
        &fake,
        "PATCH",
        &format!("sources/{id}"),
        Some(json!({ "configuration": { "database": "orders", "password": MASK } })),
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    let stored = fake.stored_config(&id);
    assert_eq!(stored["host"], "db2", "nothing is removed");
    assert_eq!(stored["database"], "orders");
    assert_eq!(stored["password"], MASK, "the mask is stored as sent");

    let deleted = public(&fake, "DELETE", &format!("sources/{id}"), None);
    assert_eq!(deleted.status, 204);
    assert_eq!(
        config(&fake, "sources/get", json!({ "sourceId": id })).status,
        404
    );
}

#[test]
fn lists_page_by_offset_until_an_empty_page_and_next_is_on_another_host() {
    let fake = FakeAirbyte::start();
    let ids = [
        WORKSPACE_ID,
        "2b7c1d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
        "3c8d2e4f-5a6b-4c7d-9e8f-0a1b2c3d4e5f",
    ];
    fake.set_workspaces(&ids);
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = public(
            &fake,
            "GET",
            &format!("workspaces?limit=2&offset={offset}"),
            None,
        );
        assert_eq!(page.status, 200, "{}", page.body);
        let data = page.body["data"].as_array().unwrap().clone();
        let next = page.body["next"].as_str().unwrap();
        if data.is_empty() {
            assert_eq!(next, "");
            break;
        }
        assert!(
            next.starts_with("https://airbyte.internal:8443/api/public/v1/workspaces?"),
            "{next}"
        );
        for w in &data {
            assert_eq!(w["dataResidency"], "auto");
            seen.push(w["workspaceId"].as_str().unwrap().to_string());
        }
        offset += 2;
    }
    assert_eq!(seen, ids);
    assert_eq!(offset, 4, "a short page still has a next");
    problem(
        &public(&fake, "GET", "workspaces?limit=101", None),
        400,
        "bad-request",
    );
}

#[test]
fn definitions_are_listed_per_workspace_or_as_connector_definitions_before_1_6() {
    let fake = FakeAirbyte::start();
    let listed = public(
        &fake,
        "GET",
        &format!("workspaces/{WORKSPACE_ID}/definitions/sources"),
        None,
    );
    assert_eq!(listed.status, 200, "{}", listed.body);
    let mysql = &listed.body["data"][0];
    assert_eq!(mysql["id"], MYSQL_DEFINITION_ID);
    assert_eq!(mysql["dockerRepository"], "airbyte/source-mysql");
    assert!(mysql["documentationUrl"].is_string());

    fake.set_public_definitions_listing(false);
    let path = format!("workspaces/{WORKSPACE_ID}/definitions/destinations");
    assert_eq!(public(&fake, "GET", &path, None).status, 404);
    let listed = public(
        &fake,
        "GET",
        &format!("connector_definitions?type=destination&workspaceId={WORKSPACE_ID}"),
        None,
    );
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["data"][0]["id"], S3_DEFINITION_ID);
    assert_eq!(
        listed.body["data"][0]["connectorDefinitionType"],
        "destination"
    );
    assert!(listed.body["data"][0].get("dockerRepository").is_none());
    assert_eq!(
        fake.calls(),
        [
            "GET workspaces/{id}/definitions/sources",
            "GET workspaces/{id}/definitions/destinations",
            "GET connector_definitions",
        ]
    );
}

#[test]
fn a_connection_without_streams_selects_only_the_first() {
    let fake = FakeAirbyte::start();
    let (source, destination) = (public_source(&fake), public_destination(&fake));

    let created = public(
        &fake,
        "POST",
        "connections",
        Some(json!({ "sourceId": source, "destinationId": destination })),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(
        created.body["configurations"]["streams"],
        json!([{ "name": "users", "namespace": "shop", "syncMode": "full_refresh_overwrite", "cursorField": [], "primaryKey": [["id"]] }])
    );
    assert_eq!(created.body["namespaceDefinition"], "destination");
    let id = created.body["connectionId"].as_str().unwrap();
    let stored = config(&fake, "connections/get", json!({ "connectionId": id }));
    let selected: Vec<bool> = stored.body["syncCatalog"]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["config"]["selected"].as_bool().unwrap())
        .collect();
    assert_eq!(selected, [true, false]);

    // Listed streams, a cron, and what a later read shows.
    let created = public(
        &fake,
        "POST",
        "connections",
        Some(json!({
            "sourceId": source, "destinationId": destination, "namespaceDefinition": "source",
            "schedule": { "scheduleType": "cron", "cronExpression": "0 0 2 * * ?" },
            "configurations": { "streams": [
                { "name": "users", "syncMode": "incremental_deduped_history", "cursorField": ["id"] },
                { "name": "orders" },
            ] },
        })),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["connectionId"].as_str().unwrap();
    let stored = fake.connection(id);
    assert_eq!(
        stored["syncCatalog"]["streams"][0]["config"]["destinationSyncMode"],
        "append_dedup"
    );
    assert_eq!(
        stored["scheduleData"],
        json!({ "cron": { "cronExpression": "0 0 2 * * ?", "cronTimeZone": "UTC" } })
    );
    let read = public(&fake, "GET", &format!("connections/{id}"), None);
    assert_eq!(read.body["schedule"]["cronExpression"], "0 0 2 * * ? UTC");
    assert_eq!(
        read.body["configurations"]["streams"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let unknown = public(
        &fake,
        "POST",
        "connections",
        Some(json!({ "sourceId": source, "destinationId": destination,
                     "configurations": { "streams": [{ "name": "nope" }] } })),
    );
    let data = problem(&unknown, 400, "bad-request");
    assert!(data["message"]
        .as_str()
        .unwrap()
        .starts_with("No streams found with name [nope]"));
    let unsupported = public(
        &fake,
        "POST",
        "connections",
        Some(json!({ "sourceId": source, "destinationId": destination,
                     "configurations": { "streams": [{ "name": "orders", "syncMode": "incremental_append" }] } })),
    );
    problem(&unsupported, 400, "bad-request");
}

#[test]
fn streams_name_sync_modes_only_towards_a_destination() {
    let fake = FakeAirbyte::start();
    let (source, destination) = (public_source(&fake), public_destination(&fake));
    let alone = public(&fake, "GET", &format!("streams?sourceId={source}"), None);
    assert_eq!(alone.status, 200, "{}", alone.body);
    assert_eq!(alone.body[0]["streamName"], "users");
    assert_eq!(alone.body[0]["syncModes"], Value::Null);
    let paired = public(
        &fake,
        "GET",
        &format!("streams?sourceId={source}&destinationId={destination}"),
        None,
    );
    assert_eq!(
        paired.body[1]["syncModes"],
        json!([
            "full_refresh_overwrite",
            "full_refresh_append",
            "full_refresh_overwrite_deduped"
        ])
    );
    assert_eq!(fake.discoveries(), 2);

    fake.fail_discovery("Access denied for user");
    let failed = public(&fake, "GET", &format!("streams?sourceId={source}"), None);
    let data = problem(&failed, 500, "unexpected-problem");
    assert_eq!(
        data["message"],
        "Something went wrong in the connector. logs:Access denied for user"
    );
}

#[test]
fn jobs_start_list_and_cancel_and_an_unknown_job_is_a_409() {
    let fake = FakeAirbyte::start();
    let (source, destination) = (public_source(&fake), public_destination(&fake));
    let created = public(
        &fake,
        "POST",
        "connections",
        Some(json!({ "sourceId": source, "destinationId": destination })),
    );
    let connection = created.body["connectionId"].as_str().unwrap().to_string();
    let sync = json!({ "connectionId": connection, "jobType": "sync" });

    let first = public(&fake, "POST", "jobs", Some(sync.clone()));
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["status"], "running");
    assert_eq!(first.body["jobType"], "sync");
    assert!(first.body["startTime"].as_str().unwrap().ends_with('Z'));
    assert!(first.body.get("lastUpdatedAt").is_none());
    let first_id = first.body["jobId"].as_i64().unwrap();
    let running = public(&fake, "POST", "jobs", Some(sync.clone()));
    let data = problem(&running, 409, "try-again-later");
    assert_eq!(
        data["message"],
        format!("A sync is already running for: {connection}")
    );

    fake.finish_job(first_id, JobEnd::Succeeded);
    let done = public(&fake, "GET", &format!("jobs/{first_id}"), None);
    assert_eq!(done.body["status"], "succeeded");
    assert_eq!(done.body["rowsSynced"], 120);
    assert!(done.body["lastUpdatedAt"].is_string());
    assert!(done.body["duration"].as_str().unwrap().starts_with("PT"));

    let reset = public(
        &fake,
        "POST",
        "jobs",
        Some(json!({ "connectionId": connection, "jobType": "reset" })),
    );
    assert_eq!(reset.body["jobType"], "reset", "{}", reset.body);
    let cancelled = public(
        &fake,
        "DELETE",
        &format!("jobs/{}", reset.body["jobId"]),
        None,
    );
    assert_eq!(cancelled.body["status"], "cancelled", "{}", cancelled.body);

    let oldest_first = public(
        &fake,
        "GET",
        &format!("jobs?connectionId={connection}"),
        None,
    );
    let ids = |a: &Answer| -> Vec<i64> {
        a.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["jobId"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(&oldest_first), [first_id, first_id + 1]);
    let newest_first = public(
        &fake,
        "GET",
        &format!("jobs?connectionId={connection}&orderBy=createdAt%7CDESC"),
        None,
    );
    assert_eq!(ids(&newest_first), [first_id + 1, first_id]);
    let listed = fake.requests().pop().unwrap();
    assert_eq!(listed.call, "GET jobs");
    assert_eq!(listed.query_value("orderBy"), Some("createdAt|DESC"));

    let refresh = public(
        &fake,
        "POST",
        "jobs",
        Some(json!({ "connectionId": connection, "jobType": "refresh" })),
    );
    problem(&refresh, 422, "unprocessable-entity");
    let unknown = public(&fake, "GET", "jobs/987654", None);
    let data = problem(&unknown, 409, "state-conflict");
    assert_eq!(data["message"], "Job is not currently running");
    assert_eq!(fake.calls().last().unwrap(), "GET jobs/{id}");
    problem(&public(&fake, "GET", "jobs/x", None), 400, "bad-request");
}

#[test]
fn one_token_from_the_public_token_call_serves_both_apis() {
    let fake = FakeAirbyte::start();
    fake.require(Auth::ClientCredentials {
        client_id: "wrapper".into(),
        client_secret: "s3cret".into(),
        lifetime_secs: 900,
    });
    let url = format!("{}/applications/token", fake.public_url());
    let grant = json!({ "client_id": "wrapper", "client_secret": "s3cret", "grant-type": "client_credentials" });
    let issued = call("POST", &url, Some(grant), None);
    assert_eq!(issued.status, 200, "{}", issued.body);
    assert_eq!(issued.body["token_type"], "Bearer");
    assert_eq!(issued.body["expires_in"], 900);
    let bearer = format!("Bearer {}", issued.body["access_token"].as_str().unwrap());

    let health = call("GET", &format!("{}/health", fake.public_url()), None, None);
    assert_eq!(
        (health.status, health.content_type.as_str()),
        (200, "text/plain")
    );
    assert_eq!(health.body, "Successful operation");
    let workspaces = format!("{}/workspaces", fake.public_url());
    assert_eq!(call("GET", &workspaces, None, None).status, 401);
    assert_eq!(call("GET", &workspaces, None, Some(&bearer)).status, 200);
    let listed = call(
        "POST",
        &format!("{}/workspaces/list_by_organization_id", fake.base_url()),
        Some(json!({ "organizationId": "00000000-0000-0000-0000-000000000000" })),
        Some(&bearer),
    );
    assert_eq!(listed.status, 200, "{}", listed.body);

    let wrong_grant =
        json!({ "client_id": "wrapper", "client_secret": "s3cret", "grant_type": "password" });
    assert_eq!(call("POST", &url, Some(wrong_grant), None).status, 400);
    let wrong_secret = json!({ "client_id": "wrapper", "client_secret": "nope", "grant_type": "client_credentials" });
    let refused = call("POST", &url, Some(wrong_secret), None);
    assert_eq!(refused.status, 401);
    assert!(refused.body["errorId"].is_string(), "{}", refused.body);
    assert_eq!(fake.calls()[0], "POST applications/token");

    // An install that opens only the public API.
    fake.config_api_reachable(false);
    assert_eq!(call("GET", &workspaces, None, Some(&bearer)).status, 200);
    let config = format!("{}/health", fake.base_url());
    let hidden = call("GET", &config, None, None);
    assert_eq!(hidden.status, 404);
    assert_eq!(hidden.body, json!({ "message": "Not Found" }));
}
