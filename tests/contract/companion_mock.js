// A copy of Airbyte's Config API mock document (../shared/airbyte/config*.mock.yaml) for the Prism
// beside the public API's: `node companion_mock.js IN OUT`. Two changes, nothing else:
// - Its calls' security is `[{}]` (no credentials) though it declares `bearerAuth`, so Prism answers
//   every call that carries a token with 401 ("Invalid security scheme used"). The copy requires the
//   bearer token instead, as an install with authentication does: the token must reach the Config
//   API too.
// - The job the public mock's sync starts (1234, of the public mock's connection) as
//   `jobs/get_without_logs` and `attempt/get_for_job` answer it: a failed job with one attempt and
//   its log. Prism's generated job belongs to no connection (`configId: "string"`), so the service
//   would answer a job of another ingestion (404) and never ask for the attempt's log; with this,
//   the attempts and logs routes reach both calls and Prism validates them.
"use strict";
const fs = require("fs");
const yaml = require("js-yaml");

const [input, output] = process.argv.slice(2);
const spec = yaml.load(fs.readFileSync(input, "utf8"));

if (JSON.stringify(spec.security) !== "[{}]") {
  throw new Error(`${input}: no top-level 'security: [{}]' to replace with bearerAuth`);
}
spec.security = [{ bearerAuth: [] }];

const CONNECTION = "91881371-09a6-465d-b415-ab0b6ee90157"; // public_mock.js's connection
const attempt = {
  id: 0, status: "failed", createdAt: 1733306400, updatedAt: 1733306460, endedAt: 1733306460,
  recordsSynced: 0, bytesSynced: 0,
  failureSummary: {
    failures: [{ failureOrigin: "source", failureType: "config_error", externalMessage: "Access denied for user 'root'", retryable: false, timestamp: 1733306460000 }],
  },
};
const stream = { streamName: "users", streamNamespace: "shop", recordsEmitted: 0, bytesEmitted: 0, recordsCommitted: 0, bytesCommitted: 0 };
if ("recordsRejected" in spec.components.schemas.StreamStats.properties) stream.recordsRejected = 0;
const job = {
  id: 1234, configType: "sync", configId: CONNECTION, createdAt: 1733306400, updatedAt: 1733306460,
  startedAt: 1733306400, status: "failed", streamAggregatedStats: [stream],
};
const examples = {
  "/v1/jobs/get_without_logs": { job, attempts: [{ attempt }] },
  "/v1/attempt/get_for_job": { attempt, logType: "formatted", logs: { logLines: ["2024-12-04 10:01:00 source > Access denied for user 'root'"] } },
};
for (const [path, value] of Object.entries(examples)) {
  const content = spec.paths[path].post.responses["200"].content["application/json"];
  delete content.example;
  content.examples = { mock: { value } };
}

fs.writeFileSync(output, yaml.dump(spec, { noRefs: true, lineWidth: -1 }));
