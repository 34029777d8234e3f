//! Running and watching an ingestion, end to end against the fake Airbyte: a sync now (and the
//! one already running), its jobs and their failures, cancelling, pausing and changing an
//! ingestion, and refreshing its schema. Each test asserts what the client got and exactly what
//! Airbyte received, once per Airbyte API (`config::...`, `public::...`).

mod support;

use serde_json::{json, Value};
use support::fake_airbyte::{error_body, stream, JobEnd, FAULT_TIMEOUTS, SECRET_IN_INTERNALS};
use support::{new_ingestion, syncing, Dialect, FakeAirbyte, Fault, Service};

dialects!(
    a_sync_starts_a_job_and_says_where_to_watch_it,
    a_sync_while_one_runs_answers_the_running_job,
    a_409_without_a_running_job_is_the_client_s_409,
    syncing_an_unknown_ingestion_is_404,
    an_idempotency_key_on_a_sync_starts_one_job,
    jobs_are_listed_newest_first_a_page_at_a_time_and_by_status,
    the_jobs_of_an_unknown_ingestion_are_404_and_of_a_new_one_empty,
    a_failed_job_says_why_and_never_what_airbyte_keeps_to_itself,
    one_ingestion_s_path_never_shows_another_s_job,
    a_running_job_is_cancelled_and_an_ended_one_is_409_without_asking_airbyte,
    a_deleted_ingestion_is_gone_with_its_jobs,
    an_ingestion_shows_its_latest_job,
    an_ingestion_is_renamed_paused_rescheduled_and_narrowed_by_patch,
    patch_refuses_what_it_cannot_do_and_changes_nothing,
    a_refresh_says_what_changed_and_applies_only_when_asked,
    a_refresh_that_would_select_nothing_is_refused_and_saves_nothing,
    a_failed_discovery_on_refresh_is_502_with_airbyte_s_message,
    airbyte_faults_on_the_job_calls_map_to_gateway_statuses_and_the_service_recovers,
    a_refresh_the_config_api_beside_refuses_is_501,
);

fn sync(service: &Service, id: &str) -> support::Answer {
    service.request("POST", &format!("/ingestion/{id}/sync"), None, &[])
}

fn a_sync_starts_a_job_and_says_where_to_watch_it(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    fake.clear_requests();

    let answer = sync(&service, &id);

    assert_eq!(answer.status, 202, "{}", answer.text);
    let job = answer.json();
    let job_id = job["id"].as_i64().expect("an integer job id");
    assert_eq!(
        answer.header("Location"),
        Some(format!("/ingestion/{id}/jobs/{job_id}").as_str())
    );
    assert_eq!(job["ingestionId"], id.as_str());
    assert_eq!(job["type"], "sync");
    assert_eq!(job["status"], "running");
    // The public API says nothing of attempts.
    assert_eq!(
        job["attempts"],
        if d.is_public() { json!(null) } else { json!(1) }
    );
    assert_eq!(job["endedAt"], Value::Null);
    assert_eq!(job["failure"], Value::Null);
    assert!(job["createdAt"].as_str().unwrap().ends_with('Z'), "{job}");
    // A running job has no counts yet in either API.
    for count in [
        "recordsEmitted",
        "bytesEmitted",
        "recordsCommitted",
        "bytesCommitted",
    ] {
        assert_eq!(job[count], Value::Null, "{count}: {job}");
    }
    match d {
        Dialect::Config => {
            assert!(job["startedAt"].is_string(), "{job}");
            assert!(job["updatedAt"].is_string(), "{job}");
        }
        // The public API's job has no start of running, and says when it was last updated only
        // once it has ended (`lastUpdatedAt`).
        Dialect::Public => {
            assert_eq!(job["startedAt"], Value::Null, "{job}");
            assert_eq!(job["updatedAt"], Value::Null, "{job}");
        }
    }
    assert_eq!(
        fake.calls(),
        d.calls(&["connections/get", "connections/sync"])
    );
    let mut sent = json!({"connectionId": id});
    if d.is_public() {
        sent["jobType"] = json!("sync");
    }
    assert_eq!(fake.last_body(&d.call("connections/sync")), sent);
}

/// Airbyte answers 409 to a second sync while one runs; orchestrators failed on it. The client
/// asked for a sync and one is running: it gets that one.
fn a_sync_while_one_runs_answers_the_running_job(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let (id, job_id) = syncing(&fake, &service);

    let answer = sync(&service, &id);

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["id"], job_id);
    assert_eq!(
        answer.header("Location"),
        Some(format!("/ingestion/{id}/jobs/{job_id}").as_str())
    );
    assert_eq!(
        fake.calls(),
        d.calls(&["connections/get", "connections/sync", "jobs/list"])
    );
    match d {
        Dialect::Config => {
            let list = fake.last_body("jobs/list");
            assert_eq!(list["configId"], id.as_str());
            assert_eq!(
                list["configTypes"],
                json!(["sync", "reset_connection", "refresh", "clear"])
            );
        }
        Dialect::Public => {
            let list = fake.requests().into_iter().last().unwrap();
            assert_eq!(list.query_value("connectionId"), Some(id.as_str()));
            assert_eq!(list.query_value("orderBy"), Some("createdAt|DESC"));
        }
    }
}

fn a_409_without_a_running_job_is_the_client_s_409(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    fake.clear_requests();
    let call = d.call("connections/sync");
    let running = format!("A sync is already running for: {id}");
    fake.fail(&call, Fault::Status(409, error_body(&call, 409, &running)));
    let detail = sync(&service, &id).problem(409);
    assert!(
        detail.contains("none of the ingestion's recent jobs is running"),
        "{detail}"
    );
    assert_eq!(
        fake.calls(),
        d.calls(&["connections/get", "connections/sync", "jobs/list"]),
        "the running job was looked for"
    );
}

fn syncing_an_unknown_ingestion_is_404(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let unknown = "8a2b1f3e-6d4c-4b5a-9e8f-7c6d5e4f3a2b";
    let detail = sync(&service, unknown).problem(404);
    assert!(detail.contains(unknown), "{detail}");
    sync(&service, "not-a-uuid").problem(400);
}

fn an_idempotency_key_on_a_sync_starts_one_job(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    let other = new_ingestion(&service);
    fake.clear_requests();
    let key = [("Idempotency-Key", "sync-1")];
    let path = format!("/ingestion/{id}/sync");

    let first = service.request("POST", &path, None, &key);
    let again = service.request("POST", &path, None, &key);

    assert_eq!((first.status, again.status), (202, 202), "{}", again.text);
    assert_eq!(first.json()["id"], again.json()["id"]);
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(
        fake.calls(),
        d.calls(&["connections/get", "connections/sync"])
    );
    service
        .request("POST", &format!("/ingestion/{other}/sync"), None, &key)
        .problem(422);
}

fn jobs_are_listed_newest_first_a_page_at_a_time_and_by_status(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    let mut ids = Vec::new();
    for end in [
        JobEnd::Succeeded,
        JobEnd::Failed("bad".into()),
        JobEnd::Succeeded,
    ] {
        let job = sync(&service, &id).json()["id"].as_i64().unwrap();
        fake.finish_job(job, end);
        ids.push(job);
    }
    let listed = |query: &str| -> Vec<i64> {
        let answer = service.get(&format!("/ingestion/{id}/jobs{query}"));
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(listed(""), [ids[2], ids[1], ids[0]]);
    assert_eq!(listed("?limit=1&offset=1"), [ids[1]]);
    assert_eq!(listed("?status=failed"), [ids[1]]);
    match d {
        Dialect::Config => {
            let page = fake.last_body("jobs/list");
            assert_eq!(page["statuses"], json!(["failed"]));
            assert_eq!(page["pagination"], json!({"pageSize": 20, "rowOffset": 0}));
        }
        Dialect::Public => {
            let page = fake
                .requests()
                .into_iter()
                .rfind(|r| r.call == "GET jobs")
                .unwrap();
            assert_eq!(page.query_value("status"), Some("failed"));
            assert_eq!(
                (page.query_value("limit"), page.query_value("offset")),
                (Some("20"), Some("0"))
            );
        }
    }

    for (query, name) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=x", "limit"),
        ("?offset=-1", "offset"),
        ("?status=queued", "status"),
        ("?status=done", "status"),
        ("?sort=asc", "sort"),
    ] {
        let detail = service
            .get(&format!("/ingestion/{id}/jobs{query}"))
            .problem(400);
        assert!(detail.contains(&format!("'{name}'")), "{query}: {detail}");
    }
}

fn the_jobs_of_an_unknown_ingestion_are_404_and_of_a_new_one_empty(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    let answer = service.get(&format!("/ingestion/{id}/jobs"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json(), json!({"items": []}));
    service
        .get("/ingestion/8a2b1f3e-6d4c-4b5a-9e8f-7c6d5e4f3a2b/jobs")
        .problem(404);
}

fn a_failed_job_says_why_and_never_what_airbyte_keeps_to_itself(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let (id, job_id) = syncing(&fake, &service);
    fake.finish_job(
        job_id,
        JobEnd::Failed("Access denied for user 'root'".into()),
    );

    let answer = service.get(&format!("/ingestion/{id}/jobs/{job_id}"));

    assert_eq!(answer.status, 200, "{}", answer.text);
    let job = answer.json();
    assert_eq!(job["status"], "failed");
    let why = match d {
        Dialect::Config => {
            json!({"type": "config_error", "origin": "source", "message": "Access denied for user 'root'", "retryable": false})
        }
        // The public API does not say why a job failed.
        Dialect::Public => {
            json!({"type": null, "origin": null, "message": null, "retryable": null})
        }
    };
    assert_eq!(job["failure"], why);
    assert!(job["endedAt"].is_string(), "{job}");
    assert!(job["updatedAt"].is_string(), "{job}");
    let (attempts, started) = match d {
        Dialect::Config => (json!(1), job["startedAt"].is_string()),
        Dialect::Public => (json!(null), job["startedAt"].is_null()),
    };
    assert_eq!(job["attempts"], attempts, "{job}");
    assert!(started, "{job}");
    assert_eq!(
        fake.calls(),
        d.calls(&["connections/get", "jobs/get_without_logs"])
    );
    // The job's internal message, stack trace and logs quote a secret: none of it gets out.
    for path in [
        format!("/ingestion/{id}/jobs/{job_id}"),
        format!("/ingestion/{id}/jobs"),
        format!("/ingestion/{id}"),
    ] {
        let text = service.get(&path).text;
        assert!(!text.contains(SECRET_IN_INTERNALS), "{path}: {text}");
        assert!(
            !text.contains("SQLException") && !text.contains("stacktrace"),
            "{text}"
        );
    }
    let leaked: Vec<String> = service
        .logs()
        .into_iter()
        .filter(|l| l.contains(SECRET_IN_INTERNALS))
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}

fn one_ingestion_s_path_never_shows_another_s_job(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let (_, job_id) = syncing(&fake, &service);
    let other = new_ingestion(&service);
    service
        .get(&format!("/ingestion/{other}/jobs/{job_id}"))
        .problem(404);
    service
        .request(
            "DELETE",
            &format!("/ingestion/{other}/jobs/{job_id}"),
            None,
            &[],
        )
        .problem(404);
    assert!(!fake.calls().contains(&d.call("jobs/cancel")));

    // A job Airbyte does not have: the public API answers 409 `Job is not currently running`
    // for it (contract_public.txt, GET /jobs/{jobId}), which is the client's 404 as on the
    // Config API.
    for method in ["GET", "DELETE"] {
        fake.clear_requests();
        let detail = service
            .request(
                method,
                &format!("/ingestion/{other}/jobs/999999"),
                None,
                &[],
            )
            .problem(404);
        assert!(detail.contains("999999"), "{method}: {detail}");
        assert_eq!(
            fake.calls(),
            d.calls(&["connections/get", "jobs/get_without_logs"]),
            "{method}: Airbyte was asked, and nothing was cancelled"
        );
    }
    if d.is_public() {
        let asked = fake.requests().into_iter().last().unwrap();
        assert_eq!(asked.path, "jobs/999999", "the job asked for by its id");
    }
    let detail = service
        .get(&format!("/ingestion/{other}/jobs/twelve"))
        .problem(400);
    assert!(detail.contains("job id"), "{detail}");
}

fn a_running_job_is_cancelled_and_an_ended_one_is_409_without_asking_airbyte(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let (id, job_id) = syncing(&fake, &service);
    let path = format!("/ingestion/{id}/jobs/{job_id}");

    let answer = service.request("DELETE", &path, None, &[]);

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["status"], "cancelled");
    let why = if d.is_public() {
        json!(null)
    } else {
        json!("manual_cancellation")
    };
    assert_eq!(answer.json()["failure"]["type"], why);
    assert_eq!(
        fake.calls(),
        d.calls(&["connections/get", "jobs/get_without_logs", "jobs/cancel"])
    );
    match d {
        Dialect::Config => assert_eq!(fake.last_body("jobs/cancel"), json!({"id": job_id})),
        Dialect::Public => assert_eq!(
            fake.requests().into_iter().last().unwrap().path,
            format!("jobs/{job_id}")
        ),
    }

    fake.clear_requests();
    let detail = service.request("DELETE", &path, None, &[]).problem(409);
    assert!(detail.contains("cancelled"), "{detail}");
    assert_eq!(
        fake.calls(),
        d.calls(&["connections/get", "jobs/get_without_logs"]),
        "no cancel for a job that has ended"
    );
}

/// Airbyte keeps a deleted connection, marked `deprecated`, and answers it: for a client, an
/// ingestion it deleted is gone, with all that hangs under it (found by Schemathesis' stateful
/// run: the jobs of a deleted ingestion were still listed).
fn a_deleted_ingestion_is_gone_with_its_jobs(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let (id, job_id) = syncing(&fake, &service);
    assert_eq!(
        service
            .request("DELETE", &format!("/ingestion/{id}"), None, &[])
            .status,
        204
    );
    assert_eq!(
        fake.connection(&id)["status"],
        "deprecated",
        "Airbyte keeps it"
    );

    for (method, path) in [
        ("GET", format!("/ingestion/{id}")),
        ("GET", format!("/ingestion/{id}/jobs")),
        ("GET", format!("/ingestion/{id}/jobs/{job_id}")),
        ("DELETE", format!("/ingestion/{id}/jobs/{job_id}")),
        ("POST", format!("/ingestion/{id}/sync")),
        ("POST", format!("/ingestion/{id}/refresh")),
        ("DELETE", format!("/ingestion/{id}")),
    ] {
        let detail = service.request(method, &path, None, &[]).problem(404);
        assert!(detail.contains(&id), "{method} {path}: {detail}");
    }
    let patch = service.request(
        "PATCH",
        &format!("/ingestion/{id}"),
        Some(r#"{"name":"n"}"#),
        &[("Content-Type", "application/json")],
    );
    patch.problem(404);
    assert!(!fake.calls().contains(&d.call("jobs/cancel")));
}

fn an_ingestion_shows_its_latest_job(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    assert_eq!(
        service.get(&format!("/ingestion/{id}")).json()["latestJob"],
        Value::Null
    );
    let job_id = sync(&service, &id).json()["id"].as_i64().unwrap();
    fake.finish_job(job_id, JobEnd::Succeeded);
    fake.clear_requests();

    let shown = service.get(&format!("/ingestion/{id}")).json();

    let latest = &shown["latestJob"];
    assert_eq!(latest["id"], job_id);
    assert_eq!(latest["status"], "succeeded");
    assert_eq!(latest["failure"], Value::Null);
    assert_eq!(
        (&latest["recordsCommitted"], &latest["bytesCommitted"]),
        (&json!(120), &json!(4096))
    );
    for time in ["createdAt", "updatedAt", "endedAt"] {
        assert!(latest[time].is_string(), "{time}: {latest}");
    }
    assert_eq!(shown["latestSyncJobStatus"], "succeeded");
    match d {
        Dialect::Config => {
            assert_eq!(latest["attempts"], 1);
            assert!(latest["startedAt"].is_string(), "{latest}");
            assert_eq!(
                (&latest["recordsEmitted"], &latest["bytesEmitted"]),
                (&json!(120), &json!(4096))
            );
            assert_eq!(
                fake.calls(),
                [
                    "connections/get",
                    "jobs/get_last_replication_job",
                    "jobs/list"
                ]
            );
            assert_eq!(
                fake.last_body("jobs/get_last_replication_job"),
                json!({"connectionId": id})
            );
        }
        // The public API's job says only its committed counts (`rowsSynced`, `bytesSynced`): no
        // attempts, no start of running, nothing emitted.
        Dialect::Public => {
            for unsaid in ["attempts", "startedAt", "recordsEmitted", "bytesEmitted"] {
                assert_eq!(latest[unsaid], Value::Null, "{unsaid}: {latest}");
            }
            assert_eq!(
                fake.calls(),
                ["GET connections/{id}", "GET jobs", "GET jobs"]
            );
            // The latest sync's status is the newest of the connection's sync jobs; the latest
            // job the newest of any type.
            let requests = fake.requests();
            let (sync_jobs, any_job) = (&requests[1], &requests[2]);
            for list in [sync_jobs, any_job] {
                assert_eq!(list.query_value("connectionId"), Some(id.as_str()));
                assert_eq!(list.query_value("orderBy"), Some("createdAt|DESC"));
                assert_eq!(list.query_value("limit"), Some("1"));
            }
            assert_eq!(sync_jobs.query_value("jobType"), Some("sync"));
            assert_eq!(any_job.query_value("jobType"), None);
        }
    }
}

fn patch(service: &Service, id: &str, body: &str) -> support::Answer {
    service.request(
        "PATCH",
        &format!("/ingestion/{id}"),
        Some(body),
        &[("Content-Type", "application/merge-patch+json")],
    )
}

fn an_ingestion_is_renamed_paused_rescheduled_and_narrowed_by_patch(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    fake.clear_requests();

    let answer = patch(
        &service,
        &id,
        r#"{"name": "nightly", "status": "inactive", "schedule": "0 0 2 * * ?", "streams": ["orders"]}"#,
    );

    assert_eq!(answer.status, 200, "{}", answer.text);
    let shown = answer.json();
    assert_eq!(shown["name"], "nightly");
    assert_eq!(shown["status"], "inactive");
    assert_eq!(
        shown["schedule"],
        json!({"type": "cron", "cron": "0 0 2 * * ?"})
    );
    assert_eq!(shown["streams"], json!(["orders"]));
    let sent = fake.last_body(&d.call("connections/update"));
    assert_eq!(sent["name"], "nightly");
    assert_eq!(sent["status"], "inactive");
    match d {
        Dialect::Config => {
            assert_eq!(sent["connectionId"], id.as_str());
            assert_eq!(sent["scheduleType"], "cron");
            let selected = support::selection(&sent["syncCatalog"]["streams"]);
            assert_eq!(selected, [("users", false), ("orders", true)]);
        }
        Dialect::Public => {
            assert_eq!(
                sent["schedule"],
                json!({"scheduleType": "cron", "cronExpression": "0 0 2 * * ?"})
            );
            assert_eq!(
                sent["configurations"]["streams"],
                json!([{"name": "orders", "namespace": "shop", "syncMode": "full_refresh_overwrite"}])
            );
        }
    }

    // Fields not sent stay; `schedule: null` is manual; only what changes is sent.
    fake.clear_requests();
    let answer = patch(&service, &id, r#"{"schedule": null}"#);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["name"], "nightly");
    assert_eq!(answer.json()["schedule"]["type"], "manual");
    let manual = match d {
        Dialect::Config => json!({"connectionId": id, "scheduleType": "manual"}),
        Dialect::Public => json!({"schedule": {"scheduleType": "manual"}}),
    };
    assert_eq!(fake.last_body(&d.call("connections/update")), manual);
}

fn patch_refuses_what_it_cannot_do_and_changes_nothing(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    fake.clear_requests();
    for (body, status, says) in [
        ("{}", 400, "changes nothing"),
        (r#"{"colour": "red"}"#, 400, "'colour'"),
        (r#"{"status": "paused"}"#, 400, "'status'"),
        (r#"{"name": ""}"#, 400, "'name'"),
        (r#"{"streams": "users"}"#, 400, "'streams'"),
        (r#"{"streams": []}"#, 422, "names no stream"),
        (
            r#"{"streams": ["users", "refunds"]}"#,
            422,
            "'users', 'orders'",
        ),
    ] {
        let detail = patch(&service, &id, body).problem(status);
        assert!(detail.contains(says), "{body}: {detail}");
    }
    assert!(
        !fake.calls().contains(&d.call("connections/update")),
        "{:?}",
        fake.calls()
    );
    patch(
        &service,
        "8a2b1f3e-6d4c-4b5a-9e8f-7c6d5e4f3a2b",
        r#"{"name": "x"}"#,
    )
    .problem(404);
}

fn a_refresh_says_what_changed_and_applies_only_when_asked(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    // The source now has `refunds`, and no longer `orders`.
    fake.set_streams(vec![
        stream("users", &["full_refresh", "incremental"]),
        stream("refunds", &["full_refresh"]),
    ]);
    fake.clear_requests();

    let answer = service.request("POST", &format!("/ingestion/{id}/refresh"), None, &[]);

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.json(),
        json!({"added": ["refunds"], "removed": ["orders"], "changed": [], "breaking": true, "applied": false})
    );
    // The public API has no schema diff: the Config API beside it discovers.
    assert_eq!(
        fake.calls(),
        [
            d.call("connections/get"),
            "sources/discover_schema".to_string()
        ]
    );
    let discovery = fake.last_body("sources/discover_schema");
    assert_eq!(discovery["connectionId"], id.as_str());
    assert_eq!(discovery["disable_cache"], true);

    fake.clear_requests();
    let answer = service.request(
        "POST",
        &format!("/ingestion/{id}/refresh?apply=true"),
        None,
        &[],
    );
    assert_eq!(answer.json()["applied"], true, "{}", answer.text);
    let saved = fake.last_body(&d.call("connections/update"));
    match d {
        Dialect::Config => {
            let names = support::selection(&saved["syncCatalog"]["streams"]);
            assert_eq!(
                names,
                [("users", true), ("refunds", false)],
                "new streams not selected"
            );
            assert!(saved["sourceCatalogId"].is_string());
        }
        Dialect::Public => assert_eq!(
            saved["configurations"]["streams"],
            json!([{"name": "users", "namespace": "shop", "syncMode": "full_refresh_overwrite"}]),
            "new streams not selected"
        ),
    }
    assert_eq!(
        service.get(&format!("/ingestion/{id}")).json()["streams"],
        json!(["users"])
    );

    let answer = service.request(
        "POST",
        &format!("/ingestion/{id}/refresh?apply=true&selectNew=true"),
        None,
        &[],
    );
    // The public API keeps a connection's selected streams only: one the ingestion does not
    // sync is new to it at every refresh.
    let new = if d.is_public() {
        json!(["refunds"])
    } else {
        json!([])
    };
    assert_eq!(answer.json()["added"], new, "{}", answer.text);
    service
        .request(
            "POST",
            &format!("/ingestion/{id}/refresh?apply=maybe"),
            None,
            &[],
        )
        .problem(400);
}

fn a_refresh_that_would_select_nothing_is_refused_and_saves_nothing(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    fake.set_streams(vec![stream("refunds", &["full_refresh"])]);
    fake.clear_requests();
    let detail = service
        .request(
            "POST",
            &format!("/ingestion/{id}/refresh?apply=1"),
            None,
            &[],
        )
        .problem(422);
    assert!(detail.contains("selectNew"), "{detail}");
    assert!(!fake.calls().contains(&d.call("connections/update")));

    let answer = service.request(
        "POST",
        &format!("/ingestion/{id}/refresh?apply=1&selectNew=1"),
        None,
        &[],
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        service.get(&format!("/ingestion/{id}")).json()["streams"],
        json!(["refunds"])
    );
}

fn a_failed_discovery_on_refresh_is_502_with_airbyte_s_message(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    fake.fail_discovery("Could not connect to db.internal");
    let detail = service
        .request("POST", &format!("/ingestion/{id}/refresh"), None, &[])
        .problem(502);
    assert!(
        detail.contains("Could not connect to db.internal"),
        "{detail}"
    );
}

/// The fault matrix for the calls of this file: each Airbyte call, against every way an
/// upstream misbehaves, maps to a gateway status, and the next request succeeds.
fn airbyte_faults_on_the_job_calls_map_to_gateway_statuses_and_the_service_recovers(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &FAULT_TIMEOUTS);
    let id = new_ingestion(&service);
    let job_id = sync(&service, &id).json()["id"].as_i64().unwrap();
    fake.finish_job(job_id, JobEnd::Succeeded);
    let cases: Vec<(String, &str, String, Option<&str>)> = vec![
        (
            d.call("jobs/list"),
            "GET",
            format!("/ingestion/{id}/jobs"),
            None,
        ),
        (
            d.call("jobs/get_without_logs"),
            "GET",
            format!("/ingestion/{id}/jobs/{job_id}"),
            None,
        ),
        (
            d.call("connections/get"),
            "GET",
            format!("/ingestion/{id}"),
            None,
        ),
        (
            d.call("connections/update"),
            "PATCH",
            format!("/ingestion/{id}"),
            Some(r#"{"name":"n"}"#),
        ),
        // The refresh's discovery is the Config API's in both (beside the public API).
        (
            "sources/discover_schema".to_string(),
            "POST",
            format!("/ingestion/{id}/refresh"),
            None,
        ),
    ];
    let headers = [("Content-Type", "application/json")];
    for (call, method, path, body) in &cases {
        for (fault, status) in &Fault::matrix(call) {
            fake.fail(call, fault.clone());
            let detail = service
                .request(method, path, *body, &headers)
                .problem(*status);
            assert!(!detail.is_empty(), "{call} {fault:?}");
            fake.heal();
            let answer = service.request(method, path, *body, &headers);
            assert!(
                answer.status < 300,
                "after {fault:?} on {call}: {}",
                answer.text
            );
        }
    }
    // The sync and the cancel are calls of the same API: the same error bodies.
    let (sync_call, cancel_call) = (d.call("connections/sync"), d.call("jobs/cancel"));
    for (fault, status) in &Fault::matrix(&sync_call) {
        fake.fail(&sync_call, fault.clone());
        sync(&service, &id).problem(*status);
        fake.heal();
        // A slow sync still starts in Airbyte after the service gave up: the retry then finds it
        // running (200), else it starts one (202).
        let again = sync(&service, &id);
        assert!(
            matches!(again.status, 200 | 202),
            "after {fault:?}: {}",
            again.text
        );
        let running = again.json()["id"].as_i64().unwrap();

        fake.fail(&cancel_call, fault.clone());
        let path = format!("/ingestion/{id}/jobs/{running}");
        service.request("DELETE", &path, None, &[]).problem(*status);
        fake.heal();
        let cancelled = service.request("DELETE", &path, None, &[]);
        assert!(
            cancelled.status == 200 || matches!(fault, Fault::Slow(_)) && cancelled.status == 409,
            "cancel after {fault:?}: {}",
            cancelled.text
        );
    }
}

/// The public API has no schema diff; where the Config API beside it is not open, a refresh is a
/// 501 that says what is missing and what would enable it, and nothing is changed.
fn a_refresh_the_config_api_beside_refuses_is_501(d: Dialect) {
    let fake = FakeAirbyte::start();
    let service = d.start(&fake, &[]);
    let id = new_ingestion(&service);
    fake.config_api_reachable(false);
    fake.clear_requests();

    let answer = service.request(
        "POST",
        &format!("/ingestion/{id}/refresh?apply=true"),
        None,
        &[],
    );

    match d {
        // For the Config API itself, a 404 on its own call is Airbyte's fault, not a missing feature.
        Dialect::Config => {
            answer.problem(404);
        }
        Dialect::Public => {
            let detail = answer.problem(501);
            assert!(
                detail.starts_with("POST /ingestion/{id}/refresh is not available: "),
                "{detail}"
            );
            assert!(detail.contains("schema refresh"), "{detail}");
            assert!(detail.contains("AIRBYTE_CONFIG_API_URL"), "{detail}");
            assert_eq!(
                answer.json()["type"],
                "urn:airbyte-wrapper:problem:airbyte-capability-missing"
            );
            assert_eq!(
                fake.calls(),
                ["GET connections/{id}", "sources/discover_schema"],
                "the Config API beside was asked for the diff, and nothing was saved"
            );
            let discovery = fake.last_body("sources/discover_schema");
            assert_eq!(discovery["connectionId"], id.as_str());
            assert_eq!(discovery["disable_cache"], true);
        }
    }
}

/// A paused connection's sync is refused with a 409 by the public API (`state-conflict`), the same
/// status as a sync that is running: the client is told it is paused, not to try again later
/// (found by the helper that reviewed the public suites).
#[test]
fn a_paused_ingestion_s_sync_is_not_said_to_be_running() {
    let fake = FakeAirbyte::start();
    let service = Dialect::Public.start(&fake, &[]);
    let id = new_ingestion(&service);
    assert_eq!(patch(&service, &id, r#"{"status":"inactive"}"#).status, 200);
    let detail = sync(&service, &id).problem(409);
    assert!(!detail.contains("one is running"), "{detail}");
    assert!(detail.contains("paused"), "{detail}");
    assert!(detail.contains(r#"PATCH {"status": "active"}"#), "{detail}");
}
