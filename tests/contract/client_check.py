"""`make client-check`: the Python client generated from the served /openapi.json, used as a client
would use it, against the service in front of the fake Airbyte.

    client_check.py PACKAGE_DIR SERVICE_URL

PACKAGE_DIR is the folder that holds the generated package `airbyte_wrapper_client`
(openapi-python-client, `--meta none`). Through its typed API only, this creates the README's MySQL
source and S3 destination (the payloads of tests/support/mod.rs) and an ingestion from their ids,
each a 201 parsed into its model; runs it (a sync, a wait on its job, its attempts and its log, and
a clear refused with a 409 while the sync runs); then a source of an unknown type, whose 422 must parse into the
generated `Problem` model; and a HEAD of an unknown source, whose 404 (no body) must not break the
client. The client raises on any status the document does not list for the operation.
"""

import json
import re
import sys
import uuid
from datetime import datetime
from pathlib import Path

PACKAGE_DIR, SERVICE_URL = sys.argv[1], sys.argv[2]
# The generated package, importable once the folder that holds it is on the path.
sys.path.insert(0, PACKAGE_DIR)

from airbyte_wrapper_client import Client
from airbyte_wrapper_client.api.default import (
    clear_ingestion,
    create_destination,
    create_ingestion,
    create_source,
    get_attempt_log,
    get_ingestion_job,
    head_source,
    list_job_attempts,
    sync_ingestion,
)
from airbyte_wrapper_client.models import (
    Actor,
    ActorCreate,
    ActorCreateConfig,
    AttemptList,
    Clear,
    Ingestion,
    IngestionCreate,
    Job,
    Problem,
)

SUPPORT = Path(__file__).resolve().parent.parent / "support" / "mod.rs"
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def payload(name):
    """A payload of tests/support/mod.rs, as the generated request model."""
    source = SUPPORT.read_text(encoding="utf-8")
    body = re.search(rf'pub const {name}: &str = r#"(.*?)"#;', source, re.DOTALL).group(1)
    return ActorCreate.from_dict(json.loads(body))


def created(response, operation, model):
    """The parsed answer to a create, when it is a 201 parsed into `model`; else None."""
    parsed = response.parsed
    check(response.status_code == 201, f"{operation}: 201 (got {response.status_code})")
    check(
        isinstance(parsed, model), f"{operation}: parsed into {model.__name__} (got {type(parsed).__name__})"
    )
    return parsed if response.status_code == 201 and isinstance(parsed, model) else None


def actor(response, operation, name, type_):
    parsed = created(response, operation, Actor)
    if parsed:
        check(isinstance(parsed.id, uuid.UUID), f"{operation}: .id is a UUID ({parsed.id})")
        check(
            (parsed.name, parsed.type_) == (name, type_),
            f"{operation}: .name {parsed.name!r}, .type_ {parsed.type_!r}",
        )
        check(isinstance(parsed.workspace_id, uuid.UUID), f"{operation}: .workspace_id is a UUID")
    return parsed


def operate(c, ingestion_id):
    """A sync, a wait on its job (the fake's jobs run until a test ends them: the wait runs out),
    the job's attempts and its last attempt's log, and a clear, refused while the sync runs."""
    response = sync_ingestion.sync_detailed(client=c, id=ingestion_id)
    job = response.parsed
    check(
        response.status_code == 202 and isinstance(job, Job),
        f"POST /ingestion/{{id}}/sync: 202 and a Job (got {response.status_code}, {type(job).__name__})",
    )
    if not isinstance(job, Job):
        return
    response = get_ingestion_job.sync_detailed(client=c, id=ingestion_id, job_id=job.id, wait=1)
    waited = response.parsed
    check(
        isinstance(waited, Job) and waited.status.value == "running",
        f"GET /ingestion/{{id}}/jobs/{{jobId}}?wait=1: the Job, still running (got {waited!r})",
    )
    check(
        response.headers.get("Retry-After") == "5",
        f"GET ...?wait=1: Retry-After (got {response.headers.get('Retry-After')!r})",
    )
    response = list_job_attempts.sync_detailed(client=c, id=ingestion_id, job_id=job.id)
    attempts = response.parsed
    check(
        isinstance(attempts, AttemptList) and [a.number for a in attempts.items] == [0],
        f"GET .../attempts: one attempt, number 0 (got {attempts!r})",
    )
    response = get_attempt_log.sync_detailed(client=c, id=ingestion_id, job_id=job.id, tail=10)
    check(
        response.status_code == 200
        and response.headers.get("Content-Type", "").startswith("text/plain")
        and response.content.decode().endswith("\n"),
        f"GET .../logs: 200 text/plain (got {response.status_code}, {response.content[:200]!r})",
    )
    response = clear_ingestion.sync_detailed(client=c, id=ingestion_id, body=Clear(streams=["users"]))
    problem = response.parsed
    check(
        response.status_code == 409 and isinstance(problem, Problem) and f"job {job.id}" in problem.detail,
        f"POST /ingestion/{{id}}/clear while the sync runs: a 409 Problem naming the job (got {response.status_code}, {problem!r})",
    )


client = Client(base_url=SERVICE_URL, raise_on_unexpected_status=True, timeout=30.0)
with client as c:
    source = actor(
        create_source.sync_detailed(client=c, body=payload("MYSQL_SOURCE")),
        "POST /datasource (MYSQL_SOURCE)",
        "mysql_source",
        "mysql",
    )
    sink = actor(
        create_destination.sync_detailed(client=c, body=payload("S3_SINK")),
        "POST /sink (S3_SINK)",
        "s3_sink",
        "s3",
    )
    if source and sink:
        ingestion = created(
            create_ingestion.sync_detailed(
                client=c, body=IngestionCreate(source_id=source.id, sink_id=sink.id)
            ),
            "POST /ingestion (their ids)",
            Ingestion,
        )
        if ingestion:
            check(isinstance(ingestion.id, uuid.UUID), f"POST /ingestion: .id is a UUID ({ingestion.id})")
            check(
                (ingestion.source_id, ingestion.sink_id) == (source.id, sink.id),
                "POST /ingestion: .source_id and .sink_id are the ids sent",
            )
            check(
                isinstance(ingestion.created, datetime) and bool(ingestion.streams),
                f"POST /ingestion: .created is a datetime, .streams {ingestion.streams}",
            )
            operate(c, ingestion.id)

    request_id = "client-check-unknown-type"
    response = create_source.sync_detailed(
        client=c,
        body=ActorCreate(name="nothing", type_="no-such-connector", config=ActorCreateConfig()),
        x_request_id=request_id,
    )
    problem = response.parsed
    check(response.status_code == 422, f"POST /datasource (unknown type): 422 (got {response.status_code})")
    check(
        isinstance(problem, Problem),
        f"POST /datasource (unknown type): parsed into Problem (got {type(problem).__name__})",
    )
    if isinstance(problem, Problem):
        check(problem.status == 422, f"Problem.status {problem.status}")
        check(
            problem.type_ == "urn:airbyte-wrapper:problem:unprocessable",
            f"Problem.type_ {problem.type_.value}",
        )
        check("unknown source type" in problem.detail, f"Problem.detail {problem.detail!r}")
        check(problem.request_id == request_id, f"Problem.request_id {problem.request_id!r}")

    response = head_source.sync_detailed(client=c, id=uuid.uuid4())
    check(
        response.status_code == 404 and response.parsed is None,
        f"HEAD /datasource/{{unknown id}}: 404, nothing parsed (got {response.status_code}, {response.parsed!r})",
    )

if failures:
    print(f"client-check: {len(failures)} failed", file=sys.stderr)
    sys.exit(1)
print("client-check: the generated client passed")
