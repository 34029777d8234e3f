//! Configurations tried before and changed after creating: dry-run checks, stream previews,
//! changes by merge patch, and masking exactly the secrets the connector's spec marks; once per
//! Airbyte API (`config::...`, `public::...`: the public API asks the Config API beside it for
//! checks, previews and specs).

mod support;

use serde_json::{json, Value};
use support::fake_airbyte::stream;
use support::{
    CheckEnd, Dialect, FakeAirbyte, Fault, Service, MASK, MYSQL_DEFINITION_ID, MYSQL_SOURCE,
    S3_DEFINITION_ID, S3_SINK, WORKSPACE_ID,
};

dialects!(
    a_passing_check_creates_nothing_and_says_so,
    a_failed_check_is_an_answer_that_keeps_the_host_and_masks_the_password,
    a_check_airbyte_could_not_run_is_a_502_with_its_reason,
    checks_refuse_what_a_create_refuses,
    a_masked_value_is_refused_on_create_check_and_preview,
    answers_mask_exactly_what_the_spec_marks_secret,
    airbyte_s_messages_keep_the_host_and_lose_the_secrets,
    a_field_airbyte_s_spec_validation_rejects_is_named,
    without_the_spec_masking_errs_on_the_safe_side,
    streams_are_previewed_without_creating_the_source,
    a_discovery_the_configuration_fails_is_422_any_other_502,
    a_patch_merges_into_the_stored_configuration_and_keeps_masked_secrets,
    a_patch_with_check_saves_only_what_passes,
    a_patch_is_refused_for_what_it_cannot_mean,
    a_patch_honours_idempotency_keys,
);

/// A MySQL configuration whose secrets are a password, a tunnel password inside a `oneOf`
/// option and `replication.sas` (which the spec marks, though its name does not look secret).
const SECRET_PASSWORD: &str = "hunter2-very-secret";
const TUNNEL_PASSWORD: &str = "tunnel-pass-7731";
const SAS: &str = "sv=2024-sig-9f8e7d";

fn mysql(extra: Value) -> String {
    let mut body = json!({
        "name": "orders db",
        "type": "mysql",
        "config": {
            "host": "db.internal",
            "port": 3306,
            "database": "shop",
            "username": "reporter",
            "password": SECRET_PASSWORD,
            "replication": { "method": "STANDARD", "sas": SAS },
            "tunnel_method": { "tunnel_method": "SSH_PASSWORD_AUTH", "tunnel_host": "bastion.internal", "tunnel_user_password": TUNNEL_PASSWORD }
        }
    });
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            body["config"][k] = v;
        }
    }
    body.to_string()
}

/// Asserts no secret of [`mysql`] appears in the service's logs (which run at `trace`).
fn assert_no_secret_logged(service: &Service) {
    let logs = service.logs().join("\n");
    for secret in [SECRET_PASSWORD, TUNNEL_PASSWORD, SAS] {
        assert!(!logs.contains(secret), "a secret was logged:\n{logs}");
    }
}

/// Whether Airbyte was asked to create, change or delete a source or destination.
fn created_anything(d: Dialect, fake: &FakeAirbyte) -> bool {
    let writes = d.calls(&[
        "sources/create",
        "sources/update",
        "sources/delete",
        "destinations/create",
        "destinations/update",
        "destinations/delete",
    ]);
    fake.calls().iter().any(|c| writes.contains(c))
}

fn a_passing_check_creates_nothing_and_says_so(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);

    let answer = service.post("/datasource/check", &mysql(json!({})));

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.json(),
        json!({ "status": "succeeded", "message": "", "failure": null })
    );
    let sent = fake.last_body("scheduler/sources/check_connection");
    assert_eq!(sent["sourceDefinitionId"], MYSQL_DEFINITION_ID);
    assert_eq!(sent["workspaceId"], WORKSPACE_ID);
    assert_eq!(sent["connectionConfiguration"]["password"], SECRET_PASSWORD);
    assert!(
        sent.get("name").is_none(),
        "the name is not Airbyte's to see"
    );
    assert!(!created_anything(d, &fake));
    assert_eq!(fake.actor_count(), (0, 0));

    // Without a name too, for a destination.
    let body =
        json!({ "type": "s3", "config": { "bucket_name": "b", "bucket_region": "eu-west-1" } });
    let answer = service.post("/sink/check", &body.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["status"], "succeeded");
    assert_eq!(
        fake.last_body("scheduler/destinations/check_connection")["destinationDefinitionId"],
        S3_DEFINITION_ID
    );
}

fn a_failed_check_is_an_answer_that_keeps_the_host_and_masks_the_password(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.end_checks(CheckEnd::FailedQuotingConfig);
    let service = d.start(&fake, &[]);

    let answer = service.post("/datasource/check", &mysql(json!({})));

    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    let expected = format!(
        "Could not connect to db.internal:3306 with user 'reporter' and password '{MASK}': access denied"
    );
    assert_eq!(
        body,
        json!({
            "status": "failed",
            "message": expected,
            "failure": { "type": "config_error", "origin": "source", "message": expected, "retryable": false }
        })
    );
    assert!(!answer.text.contains(SECRET_PASSWORD));
    assert!(!answer.text.contains("java.sql"), "no internal message");
    assert_no_secret_logged(&service);
}

fn a_check_airbyte_could_not_run_is_a_502_with_its_reason(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.end_checks(CheckEnd::NotRun(
        "the check workload did not start in time".into(),
    ));
    let service = d.start(&fake, &[]);

    let detail = service.post("/sink/check", S3_SINK).problem(502);

    assert_eq!(
        detail,
        "Airbyte could not run the scheduler/destinations/check_connection job: the check workload did not start in time"
    );
    assert!(!detail.contains("temporal"), "no internal message");
}

fn checks_refuse_what_a_create_refuses(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);

    let detail = service
        .post("/datasource/check", r#"{"type":"mysq","config":{}}"#)
        .problem(422);
    assert!(detail.starts_with("unknown source type 'mysq'"), "{detail}");
    let detail = service.post("/sink/check", r#"{"type":"s3"}"#).problem(400);
    assert_eq!(detail, "field 'config' is required");
    // Found by Schemathesis: a null name was taken for an absent one.
    for path in ["/sink/check", "/sink"] {
        let detail = service
            .post(path, r#"{"name":null,"type":"s3","config":{}}"#)
            .problem(400);
        assert_eq!(detail, "field 'name' must be a non-empty string, got null");
    }
    let detail = service
        .post(
            "/datasource/check",
            r#"{"type":"mysql","config":{},"extra":1}"#,
        )
        .status;
    assert_eq!(detail, 200, "unknown members are ignored, as on create");
    assert!(!created_anything(d, &fake));
}

/// A client that sends back what a read showed it would have Airbyte store the mask as the
/// secret (the seed's own example did exactly this).
fn a_masked_value_is_refused_on_create_check_and_preview(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let masked =
        mysql(json!({ "tunnel_method": { "tunnel_method": "SSH_KEY_AUTH", "ssh_key": MASK } }));

    for path in ["/datasource", "/datasource/check", "/datasource/streams"] {
        let detail = service.post(path, &masked).problem(400);
        assert!(
            detail.starts_with(&format!(
                "field 'config.tunnel_method.ssh_key' is Airbyte's mask '{MASK}'"
            )),
            "{path}: {detail}"
        );
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

fn answers_mask_exactly_what_the_spec_marks_secret(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);

    let answer = service.post("/datasource", &mysql(json!({ "primary_key": "id" })));

    assert_eq!(answer.status, 201, "{}", answer.text);
    let config = &answer.json()["config"];
    assert_eq!(config["host"], "db.internal");
    assert_eq!(config["username"], "reporter");
    assert_eq!(config["password"], MASK);
    assert_eq!(
        config["replication"],
        json!({ "method": "STANDARD", "sas": MASK })
    );
    assert_eq!(
        config["tunnel_method"],
        json!({ "tunnel_method": "SSH_PASSWORD_AUTH", "tunnel_host": "bastion.internal", "tunnel_user_password": MASK })
    );
    assert_eq!(
        config["primary_key"], MASK,
        "a key that looks secret, still"
    );
    let id = answer.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        service.get(&format!("/datasource/{id}")).json()["config"],
        *config
    );
    assert_eq!(fake.spec_reads(), 1, "the spec is read once and cached");
    assert_no_secret_logged(&service);
}

fn airbyte_s_messages_keep_the_host_and_lose_the_secrets(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    fake.fail(
        &d.call("sources/create"),
        Fault::Status(
            422,
            json!({
                "message": format!("Could not reach db.internal through bastion.internal with {TUNNEL_PASSWORD}; SAS {SAS} refused"),
                "validationErrors": [
                    { "propertyPath": "$.password", "invalidValue": SECRET_PASSWORD, "message": format!("{SECRET_PASSWORD} is too weak") },
                    { "propertyPath": "$.port", "invalidValue": "3306", "message": "3306 is a reserved port" }
                ]
            }),
        ),
    );

    let answer = service.post("/datasource", &mysql(json!({})));

    let detail = answer.problem(422);
    assert_eq!(
        detail,
        format!("Airbyte rejected {}: Could not reach db.internal through bastion.internal with {MASK}; SAS {MASK} refused", match d {
            Dialect::Config => "sources/create",
            Dialect::Public => "POST /sources",
        })
    );
    assert_eq!(
        answer.json()["errors"],
        json!([
            { "field": "config.password", "message": format!("{MASK} is too weak") },
            { "field": "config.port", "message": "3306 is a reserved port" }
        ])
    );
    for secret in [SECRET_PASSWORD, TUNNEL_PASSWORD, SAS] {
        assert!(!answer.text.contains(secret), "{}", answer.text);
    }
    assert_no_secret_logged(&service);
}

fn a_field_airbyte_s_spec_validation_rejects_is_named(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);

    let answer = service.post("/datasource/check", &mysql(json!({ "port": "3306x" })));

    answer.problem(422);
    assert_eq!(
        answer.json()["errors"],
        json!([{ "field": "config.port", "message": "string found, integer expected" }])
    );
}

/// Without the spec, key names still mask answers, and every string the client sent is masked
/// in messages: a message loses detail rather than a secret.
fn without_the_spec_masking_errs_on_the_safe_side(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.fail(
        "source_definition_specifications/get",
        Fault::Status(500, json!({ "message": "boom" })),
    );
    fake.end_checks(CheckEnd::FailedQuotingConfig);
    let service = d.start(&fake, &[]);

    let answer = service.post("/datasource", &mysql(json!({})));
    assert_eq!(answer.status, 201, "{}", answer.text);
    let config = &answer.json()["config"];
    assert_eq!(config["password"], MASK);
    assert_eq!(config["replication"]["sas"], MASK, "Airbyte masked it");

    let answer = service.post("/datasource/check", &mysql(json!({})));
    let message = answer.json()["message"].as_str().unwrap().to_string();
    assert!(!message.contains(SECRET_PASSWORD), "{message}");
    assert!(!message.contains("db.internal"), "{message}");
    assert_no_secret_logged(&service);
}

fn streams_are_previewed_without_creating_the_source(d: Dialect) {
    let fake = FakeAirbyte::start();
    let mut bare = stream("events", &["full_refresh"]);
    bare["stream"].as_object_mut().unwrap().remove("namespace");
    bare["stream"]["sourceDefinedPrimaryKey"] = json!([]);
    let mut incremental = stream("orders", &["full_refresh", "incremental"]);
    incremental["stream"]["defaultCursorField"] = json!(["updated_at"]);
    fake.set_streams(vec![incremental, bare]);
    let service = d.start(&fake, &[]);

    let answer = service.post("/datasource/streams", &mysql(json!({})));

    assert_eq!(answer.status, 200, "{}", answer.text);
    let preview = answer.json();
    assert_eq!(
        answer.json(),
        json!({ "streams": [
            { "name": "orders", "namespace": "shop", "syncModes": ["full_refresh", "incremental"], "primaryKey": [["id"]], "cursorField": ["updated_at"] },
            { "name": "events", "namespace": null, "syncModes": ["full_refresh"], "primaryKey": null, "cursorField": null }
        ] })
    );
    let sent = fake.last_body("scheduler/sources/discover_schema");
    assert_eq!(sent["sourceDefinitionId"], MYSQL_DEFINITION_ID);
    assert_eq!(sent["connectionConfiguration"]["host"], "db.internal");
    assert!(!created_anything(d, &fake));

    let id = service.create("/datasource", MYSQL_SOURCE);
    let answer = service.get(&format!("/datasource/{id}/streams"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["streams"][1]["name"], "events");
    match d {
        Dialect::Config => {
            assert_eq!(answer.json()["streams"], preview["streams"]);
            assert_eq!(fake.last_body("sources/discover_schema")["sourceId"], id);
        }
        Dialect::Public => {
            // Without a destination the public API names no sync modes: full refresh, and
            // incremental where the stream has a cursor, which is what these streams support.
            assert_eq!(answer.json()["streams"], preview["streams"]);
            let last = fake
                .requests()
                .into_iter()
                .rfind(|r| r.call == "GET streams")
                .unwrap();
            assert_eq!(last.query_value("sourceId"), Some(id.as_str()));
        }
    }
    let missing = "5d3c2b1a-0f9e-4d8c-b7a6-958473625140";
    service
        .get(&format!("/datasource/{missing}/streams"))
        .problem(404);
    service.get("/datasource/nope/streams").problem(400);
}

fn a_discovery_the_configuration_fails_is_422_any_other_502(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = service.create("/datasource", MYSQL_SOURCE);
    fake.fail_discovery_as(
        "config_error",
        &format!("Access denied for 'reporter'@'db.internal' (using password {SECRET_PASSWORD})"),
    );

    let detail = service
        .post("/datasource/streams", &mysql(json!({})))
        .problem(422);
    assert_eq!(
        detail,
        format!("Airbyte's scheduler/sources/discover_schema job found a problem with the configuration: Access denied for 'reporter'@'db.internal' (using password {MASK})")
    );
    // The public API's discovery of a stored source loses Airbyte's classification: a 502.
    let status = if d.is_public() { 502 } else { 422 };
    service
        .get(&format!("/datasource/{id}/streams"))
        .problem(status);

    fake.fail_discovery("the discover workload was evicted");
    let detail = service
        .post("/datasource/streams", &mysql(json!({})))
        .problem(502);
    assert_eq!(
        detail,
        "Airbyte's scheduler/sources/discover_schema job failed: the discover workload was evicted"
    );
    service
        .get(&format!("/datasource/{id}/streams"))
        .problem(502);
    assert_no_secret_logged(&service);
}

fn patch(service: &Service, path: &str, body: &str, headers: &[(&str, &str)]) -> support::Answer {
    let mut all = vec![("Content-Type", "application/merge-patch+json")];
    all.extend_from_slice(headers);
    service.request("PATCH", path, Some(body), &all)
}

fn a_patch_merges_into_the_stored_configuration_and_keeps_masked_secrets(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = service.create("/datasource", &mysql(json!({})));
    let path = format!("/datasource/{id}");

    // What GET showed, sent back with one value changed: the masks keep the stored secrets.
    let mut shown = service.get(&path).json()["config"].clone();
    shown["host"] = json!("db2.internal");
    let answer = patch(
        &service,
        &path,
        &json!({ "config": shown }).to_string(),
        &[],
    );

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["config"]["host"], "db2.internal");
    assert_eq!(answer.json()["config"]["password"], MASK);
    let stored = fake.stored_config(&id);
    assert_eq!(stored["host"], "db2.internal");
    assert_eq!(
        stored["password"], SECRET_PASSWORD,
        "the stored secret is kept"
    );
    assert_eq!(stored["replication"]["sas"], SAS);
    assert_eq!(
        stored["tunnel_method"]["tunnel_user_password"],
        TUNNEL_PASSWORD
    );
    let sent = fake.last_body(&d.call("sources/update"));
    match d {
        Dialect::Config => assert_eq!(sent["sourceId"], id),
        Dialect::Public => assert_eq!(
            fake.requests()
                .into_iter()
                .rfind(|r| r.call == "PUT sources/{id}")
                .unwrap()
                .path,
            format!("sources/{id}"),
            "the whole configuration is PUT: a PATCH would store the mask"
        ),
    }
    assert_eq!(sent["name"], "orders db", "a name not sent stays");
    assert_eq!(sent[d.config_field()]["password"], MASK, "Airbyte fills it");

    // A merge patch: keys sent replace, null removes, the rest stays.
    let answer = patch(
        &service,
        &path,
        r#"{"name":"orders","config":{"password":"new-secret-value","replication":null,"port":3307}}"#,
        &[],
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["name"], "orders");
    let stored = fake.stored_config(&id);
    assert_eq!(stored["password"], "new-secret-value");
    assert_eq!(stored["port"], 3307);
    assert_eq!(stored["host"], "db2.internal");
    assert!(stored.get("replication").is_none());
    assert!(!answer.text.contains("new-secret-value"));

    // A mask where nothing is stored cannot keep anything.
    let detail = patch(
        &service,
        &path,
        &json!({ "config": { "replication": { "sas": MASK } } }).to_string(),
        &[],
    )
    .problem(400);
    assert!(
        detail.starts_with("field 'config.replication.sas' is Airbyte's mask"),
        "{detail}"
    );

    // `application/json` works too, for a destination as for a source.
    let sink = service.create("/sink", S3_SINK);
    let answer = service.request(
        "PATCH",
        &format!("/sink/{sink}"),
        Some(r#"{"config":{"path_prefix":"exports/v2/"}}"#),
        &[("Content-Type", "application/json")],
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["config"]["path_prefix"], "exports/v2/");
    assert_eq!(answer.json()["config"]["secret_access_key"], MASK);
    assert_eq!(fake.stored_config(&sink)["secret_access_key"], "secret");
    assert_no_secret_logged(&service);
}

fn a_patch_with_check_saves_only_what_passes(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = service.create("/datasource", &mysql(json!({})));
    let path = format!("/datasource/{id}?check=true");
    fake.end_checks(CheckEnd::FailedQuotingConfig);

    let detail = patch(
        &service,
        &path,
        r#"{"config":{"host":"db3.internal"}}"#,
        &[],
    )
    .problem(422);

    assert!(
        detail.starts_with(
            "Airbyte's connection check failed: Could not connect to db3.internal:3306"
        ),
        "{detail}"
    );
    assert!(detail.ends_with("; nothing was saved"), "{detail}");
    assert_eq!(fake.stored_config(&id)["host"], "db.internal");
    assert!(!fake.calls().contains(&d.call("sources/update")));
    let checked = fake.last_body("sources/check_connection_for_update");
    assert_eq!(checked["connectionConfiguration"]["host"], "db3.internal");
    assert_eq!(checked["connectionConfiguration"]["password"], MASK);

    fake.end_checks(CheckEnd::Succeeded);
    let answer = patch(
        &service,
        &path,
        r#"{"config":{"host":"db3.internal"}}"#,
        &[],
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(fake.stored_config(&id)["host"], "db3.internal");
}

fn a_patch_is_refused_for_what_it_cannot_mean(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = service.create("/datasource", MYSQL_SOURCE);
    let path = format!("/datasource/{id}");
    fake.clear_requests();

    for (body, expected) in [
        ("{}", "the request body changes nothing"),
        (r#"{"config":"x"}"#, "field 'config' must be an object"),
        (
            r#"{"type":"postgres"}"#,
            "field 'type' is not one this request takes",
        ),
        (r#"{"name":""}"#, "field 'name' must not be empty"),
    ] {
        let detail = patch(&service, &path, body, &[]).problem(400);
        assert!(detail.starts_with(expected), "{body}: {detail}");
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    let missing = "5d3c2b1a-0f9e-4d8c-b7a6-958473625140";
    patch(
        &service,
        &format!("/datasource/{missing}"),
        r#"{"name":"n"}"#,
        &[],
    )
    .problem(404);
    let answer = service.request(
        "PATCH",
        &path,
        Some(r#"{"name":"n"}"#),
        &[("Content-Type", "text/plain")],
    );
    answer.problem(415);
}

fn a_patch_honours_idempotency_keys(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = service.create("/datasource", MYSQL_SOURCE);
    let path = format!("/datasource/{id}");
    let key = [("Idempotency-Key", "rename-1")];

    let first = patch(&service, &path, r#"{"name":"renamed"}"#, &key);
    let again = patch(&service, &path, r#"{"name":"renamed"}"#, &key);

    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(again.status, 200);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(again.text, first.text);
    let updates = fake
        .calls()
        .iter()
        .filter(|c| **c == d.call("sources/update"))
        .count();
    assert_eq!(updates, 1);
    patch(&service, &path, r#"{"name":"other"}"#, &key).problem(422);
}

/// With the public API, what only the Config API can do is asked of the Config API beside it;
/// where that is closed, each such route is a 501 that names the route, what is missing and the
/// setting that would enable it, and nothing is created or changed. Creating without a check
/// still works, its secrets masked by key names (no spec can be had).
#[test]
fn what_the_public_api_cannot_do_is_a_501_where_the_config_api_beside_it_is_closed() {
    let fake = FakeAirbyte::start();
    fake.config_api_reachable(false);
    let service = Dialect::Public.start(&fake, &[]);
    let source = service.create("/datasource", MYSQL_SOURCE);

    for (method, path, route, body) in [
        (
            "POST",
            "/datasource/check".to_string(),
            "POST /datasource/check",
            mysql(json!({})),
        ),
        (
            "POST",
            "/sink/check".to_string(),
            "POST /sink/check",
            S3_SINK.to_string(),
        ),
        (
            "POST",
            "/datasource/streams".to_string(),
            "POST /datasource/streams",
            mysql(json!({})),
        ),
        (
            "POST",
            "/datasource?check=true".to_string(),
            "POST /datasource",
            mysql(json!({})),
        ),
        (
            "PATCH",
            format!("/datasource/{source}?check=true"),
            "PATCH /datasource/{id}",
            r#"{"config":{"port":3307}}"#.to_string(),
        ),
    ] {
        let answer = service.request(
            method,
            &path,
            Some(&body),
            &[("Content-Type", "application/json")],
        );
        let detail = answer.problem(501);
        assert!(
            detail.starts_with(&format!("{route} is not available: this needs ")),
            "{detail}"
        );
        assert!(detail.contains("public API does not have"), "{detail}");
        assert!(detail.contains("HTTP 404"), "{detail}");
        assert!(detail.contains("AIRBYTE_CONFIG_API_URL"), "{detail}");
        assert!(!answer.text.contains(SECRET_PASSWORD), "{}", answer.text);
    }
    assert_eq!(fake.actor_count(), (1, 0), "nothing was created");
    assert_eq!(
        fake.stored_config(&source)["port"],
        3306,
        "nothing was changed"
    );
    // Masking by key names, since the spec cannot be had: `password` is a secret by its name.
    let read = service.get(&format!("/datasource/{source}")).json();
    assert_eq!(read["config"]["password"], MASK);
    assert_no_secret_logged(&service);
}

/// `AIRBYTE_CONFIG_API_URL` names the Config API the public dialect asks: here the same fake's,
/// reached under another name, while the one beside the public API would be the same host's.
#[test]
fn the_config_api_beside_the_public_one_can_be_named() {
    let fake = FakeAirbyte::start();
    let service = Dialect::Public.start(
        &fake,
        &[(
            "AIRBYTE_CONFIG_API_URL",
            &format!("http://localhost:{}/api/v1", fake.port),
        )],
    );
    let line = service.wait_for_log("workers; Airbyte");
    assert!(
        line.contains(&format!("public API at {}", fake.public_url()))
            && line.contains(&format!(
                "the Config API at http://localhost:{}/api/v1",
                fake.port
            )),
        "{line}"
    );
    let answer = service.post("/datasource/check", &mysql(json!({})));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(fake
        .calls()
        .contains(&"scheduler/sources/check_connection".to_string()));
}
