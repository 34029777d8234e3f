//! The whole lifecycle: idempotent creates, check before creating, read, list and delete; once
//! per Airbyte API (`config::...`, `public::...`).

mod support;

use std::thread;
use std::time::Duration;

use serde_json::json;
use support::fake_airbyte::JobEnd;
use support::{CheckEnd, Dialect, FakeAirbyte, Fault, Service, MYSQL_SOURCE, S3_SINK};

dialects!(
    a_retry_after_a_client_timeout_creates_one_resource,
    twenty_concurrent_identical_requests_create_one,
    a_key_reused_with_another_body_is_422,
    failed_attempts_are_not_remembered,
    a_failed_check_creates_nothing,
    a_check_airbyte_could_not_run_is_a_502_and_creates_nothing,
    a_passing_check_creates_the_resource,
    read_and_delete_round_trip,
    an_ingestion_can_be_read_and_deleted,
    lists_follow_airbyte_s_pagination_to_the_end,
);

const MISSING: &str = "5d3c2b1a-0f9e-4d8c-b7a6-958473625140";

fn post_with_key(service: &Service, path: &str, body: &str, key: &str) -> support::Answer {
    service.request(
        "POST",
        path,
        Some(body),
        &[
            ("Content-Type", "application/json"),
            ("Idempotency-Key", key),
        ],
    )
}

fn a_retry_after_a_client_timeout_creates_one_resource(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    fake.fail(
        &d.call("destinations/create"),
        Fault::Slow(Duration::from_millis(1500)),
    );

    // The first attempt: the client gives up before Airbyte answers.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(300)))
        .build()
        .into();
    let first = agent
        .post(format!("{}/sink", service.url))
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", "retry-1")
        .send(S3_SINK);
    assert!(first.is_err(), "the client timed out");
    fake.heal();

    let retry = post_with_key(&service, "/sink", S3_SINK, "retry-1");

    assert_eq!(retry.status, 201, "{}", retry.text);
    assert_eq!(retry.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| **c == d.call("destinations/create"))
            .count(),
        1
    );
    assert_eq!(fake.actor_count().1, 1);

    let again = post_with_key(&service, "/sink", S3_SINK, "retry-1");
    assert_eq!(again.json(), retry.json(), "the same answer every time");
    let location = format!("/sink/{}", retry.json()["id"].as_str().unwrap());
    assert_eq!(retry.header("Location"), Some(location.as_str()));
    assert_eq!(again.header("Location"), Some(location.as_str()));
}

fn twenty_concurrent_identical_requests_create_one(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.fail(
        &d.call("sources/create"),
        Fault::Slow(Duration::from_millis(300)),
    );
    let service = d.start(&fake, &[("WORKERS", "8")]);

    let answers: Vec<support::Answer> = thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| post_with_key(&service, "/datasource", MYSQL_SOURCE, "burst")))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let ids: Vec<String> = answers
        .iter()
        .map(|a| a.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert!(answers.iter().all(|a| a.status == 201));
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.header("Idempotent-Replayed").is_some())
            .count(),
        19
    );
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| **c == d.call("sources/create"))
            .count(),
        1
    );
}

fn a_key_reused_with_another_body_is_422(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    assert_eq!(
        post_with_key(&service, "/datasource", MYSQL_SOURCE, "k-1").status,
        201
    );

    let other = MYSQL_SOURCE.replace("mysql_source", "another_name");
    let detail = post_with_key(&service, "/datasource", &other, "k-1").problem(422);

    assert!(detail.contains("different request body"), "{detail}");
    assert_eq!(fake.actor_count().0, 1);
    assert_eq!(
        post_with_key(&service, "/datasource", &other, "k-2").status,
        201,
        "a new key is a new request"
    );
}

fn failed_attempts_are_not_remembered(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    fake.fail(
        &d.call("destinations/create"),
        Fault::Status(500, json!({"message": "boom"})),
    );
    post_with_key(&service, "/sink", S3_SINK, "k").problem(502);
    fake.heal();

    let retry = post_with_key(&service, "/sink", S3_SINK, "k");

    assert_eq!(retry.status, 201);
    assert_eq!(retry.header("Idempotent-Replayed"), None, "the retry ran");
    post_with_key(&service, "/sink", S3_SINK, &"k".repeat(300)).problem(400);
}

/// `?check=true` used to create, check and delete again; now Airbyte checks the configuration
/// first and nothing is created unless the check succeeds.
fn a_failed_check_creates_nothing(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.fail_checks(
        "Could not connect with provided configuration. Access denied for user 'root'",
    );
    let service = d.start(&fake, &[]);

    let detail = service
        .post("/datasource?check=true", MYSQL_SOURCE)
        .problem(422);

    assert_eq!(
        detail,
        "Airbyte's connection check failed: Could not connect with provided configuration. Access denied for user 'root'; nothing was created"
    );
    assert_eq!(fake.actor_count(), (0, 0), "nothing is left behind");
    let calls = fake.calls();
    assert_eq!(calls.last().unwrap(), "scheduler/sources/check_connection");
    let writes = ["sources/create", "sources/delete", "destinations/create"];
    assert!(
        !calls.iter().any(|c| d.calls(&writes).contains(c)),
        "Airbyte received no create and no delete: {calls:?}"
    );
    let checked = fake.last_body("scheduler/sources/check_connection");
    let sent: serde_json::Value = serde_json::from_str(MYSQL_SOURCE).unwrap();
    assert_eq!(checked["connectionConfiguration"], sent["config"]);
    assert_eq!(checked["sourceDefinitionId"], support::MYSQL_DEFINITION_ID);
    assert_eq!(checked["workspaceId"], support::WORKSPACE_ID);
}

fn a_check_airbyte_could_not_run_is_a_502_and_creates_nothing(d: Dialect) {
    let fake = FakeAirbyte::start();
    fake.end_checks(CheckEnd::NotRun("the check workload timed out".into()));
    let service = d.start(&fake, &[]);

    let detail = service.post("/sink?check=true", S3_SINK).problem(502);

    assert_eq!(
        detail,
        "Airbyte could not run the scheduler/destinations/check_connection job: the check workload timed out"
    );
    assert_eq!(fake.actor_count(), (0, 0));
}

fn a_passing_check_creates_the_resource(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);

    let answer = service.post("/sink?check=true", S3_SINK);

    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(fake.actor_count().1, 1);
    let calls = fake.calls();
    assert_eq!(
        calls[calls.len() - 2..],
        d.calls(&[
            "scheduler/destinations/check_connection",
            "destinations/create"
        ])
    );
    service.post("/sink?check=maybe", S3_SINK).problem(400);
}

fn read_and_delete_round_trip(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    for (path, body) in [("/datasource", MYSQL_SOURCE), ("/sink", S3_SINK)] {
        let created = service.post(path, body).json();
        let id = created["id"].as_str().unwrap();

        let read = service.get(&format!("{path}/{id}"));
        assert_eq!(read.status, 200, "{}", read.text);
        assert_eq!(read.json(), created, "read answers what create answered");

        let deleted = service.request("DELETE", &format!("{path}/{id}"), None, &[]);
        assert_eq!(deleted.status, 204);
        assert!(deleted.text.is_empty());
        assert!(service
            .get(&format!("{path}/{id}"))
            .problem(404)
            .contains(id));
        service
            .request("DELETE", &format!("{path}/{id}"), None, &[])
            .problem(404);
        service.get(&format!("{path}/not-a-uuid")).problem(400);
        service
            .request("DELETE", &format!("{path}/{MISSING}"), None, &[])
            .problem(404);
    }
    assert_eq!(fake.actor_count(), (0, 0));
}

fn an_ingestion_can_be_read_and_deleted(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let source = service.create("/datasource", MYSQL_SOURCE);
    let sink = service.create("/sink", S3_SINK);
    let body = json!({"sourceId": source, "sinkId": sink, "streams": ["orders"], "name": "nightly", "schedule": "0 0 2 * * ?"});
    let id = service.create("/ingestion", &body.to_string());
    let fresh = service.get(&format!("/ingestion/{id}")).json();
    assert_eq!(
        (&fresh["latestJob"], &fresh["latestSyncJobStatus"]),
        (&json!(null), &json!(null))
    );
    let job = service.post(&format!("/ingestion/{id}/sync"), "").json()["id"]
        .as_i64()
        .unwrap();
    fake.finish_job(job, JobEnd::Succeeded);

    let read = service.get(&format!("/ingestion/{id}"));

    assert_eq!(read.status, 200, "{}", read.text);
    let mut body = read.json();
    assert_eq!(body["latestJob"]["id"], job);
    assert_eq!(body["latestJob"]["status"], "succeeded");
    body.as_object_mut().unwrap().remove("latestJob");
    assert_eq!(
        body,
        json!({
            "id": id, "name": "nightly", "sourceId": source, "sinkId": sink, "status": "active",
            "schedule": {"type": "cron", "cron": "0 0 2 * * ?"},
            "streams": ["orders"],
            "latestSyncJobStatus": "succeeded",
        })
    );
    match d {
        Dialect::Config => assert_eq!(
            fake.last_body("jobs/get_last_replication_job"),
            json!({"connectionId": id})
        ),
        Dialect::Public => {
            let last = fake
                .requests()
                .into_iter()
                .rfind(|r| r.call == "GET jobs" && r.query_value("jobType") == Some("sync"))
                .expect("the latest sync job is asked for");
            assert_eq!(last.query_value("connectionId"), Some(id.as_str()));
            assert_eq!(last.query_value("orderBy"), Some("createdAt|DESC"));
        }
    }

    assert_eq!(
        service
            .request("DELETE", &format!("/ingestion/{id}"), None, &[])
            .status,
        204
    );
    service.get(&format!("/ingestion/{id}")).problem(404);
    service
        .request("DELETE", &format!("/ingestion/{id}"), None, &[])
        .problem(404);
    assert_eq!(fake.actor_count(), (1, 1), "the source and sink stay");
}

fn lists_follow_airbyte_s_pagination_to_the_end(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let mut created = Vec::new();
    for i in 0..230 {
        let body = MYSQL_SOURCE.replace("mysql_source", &format!("source-{i}"));
        created.push(service.create("/datasource", &body));
    }
    assert_eq!(service.post("/sink", S3_SINK).status, 201);
    fake.clear_requests();

    let list = service.get("/datasource");

    assert_eq!(list.status, 200, "{}", list.text);
    let items = list.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 230);
    assert_eq!(
        items[0],
        json!({"id": created[0], "name": "source-0", "type": "mysql"})
    );
    let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, created.iter().map(String::as_str).collect::<Vec<_>>());
    let pages: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.call == d.call("sources/list"))
        .collect();
    assert_eq!(pages.len(), 3);
    match d {
        Dialect::Config => {
            assert_eq!(pages[0].body.get("cursor"), None);
            assert_eq!(pages[1].body["cursor"], created[99]);
            assert_eq!(pages[2].body["cursor"], created[199]);
        }
        Dialect::Public => {
            let offsets: Vec<_> = pages.iter().map(|p| p.query_value("offset")).collect();
            assert_eq!(offsets, [Some("0"), Some("100"), Some("200")]);
            assert!(pages
                .iter()
                .all(|p| p.query_value("workspaceIds") == Some(support::WORKSPACE_ID)));
        }
    }

    let sinks = service.get("/sink").json();
    assert_eq!(sinks["items"].as_array().unwrap().len(), 1);
    assert_eq!(sinks["items"][0]["type"], "s3");
}

#[test]
fn new_methods_answer_405_where_they_do_not_apply() {
    let fake = FakeAirbyte::start();
    let service = Service::start(&fake, &[]);
    let answer = service.request("PUT", &format!("/sink/{MISSING}"), None, &[]);
    answer.problem(405);
    assert_eq!(answer.header("Allow"), Some("GET, HEAD, DELETE, PATCH"));
    assert_eq!(
        service
            .request("DELETE", "/sink", None, &[])
            .header("Allow"),
        Some("GET, HEAD, POST")
    );
    assert_eq!(service.get("/ingestion").header("Allow"), Some("POST"));
}
