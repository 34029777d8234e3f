// A copy of Airbyte's public API spec prepared for a request-validating mock, as
// ../shared/airbyte/config.mock.yaml is of the Config API's: `node public_mock.js IN OUT`.
//
// Requests are validated against the spec as it is; only what a mock answers with changes:
// - A `$ref` to a component the document does not have (the schema `DataplaneCreateResponseBody`,
//   the response `ForbiddenResponse`) is an empty one: Prism refuses to load a document with a
//   dangling reference; no call of the service's uses them.
// - `format: UUID` is `format: uuid`: formats are case-sensitive in JSON Schema, so Prism's
//   random answers (`-d`) would otherwise carry ids that are not UUIDs, which no client can use.
// - Realistic examples for the answers the service reads, in place of the spec's own, which are
//   partial (a created source's id alone, a job with a UUID `id` where the schema has an integer
//   `jobId`, a workspace list whose `data` is one object) and so not answers a real Airbyte gives;
//   the schemas' own examples are dropped, since Prism prefers them: workspaces, the MySQL and S3 definitions
//   with their real ids, a source, a destination, streams, a connection between them, a job.
"use strict";
const fs = require("fs");
const yaml = require("js-yaml");

const [input, output] = process.argv.slice(2);
const spec = yaml.load(fs.readFileSync(input, "utf8"));

(function lowercaseUuidFormats(node) {
  if (Array.isArray(node)) return node.forEach(lowercaseUuidFormats);
  if (node && typeof node === "object") {
    if (node.format === "UUID") node.format = "uuid";
    Object.values(node).forEach(lowercaseUuidFormats);
  }
})(spec);

(function emptyDanglingRefs(node) {
  if (Array.isArray(node)) return node.forEach(emptyDanglingRefs);
  if (node && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      const ref = value && typeof value === "object" && typeof value.$ref === "string" ? value.$ref : null;
      const [, section, name] = (ref && ref.match(/^#\/components\/([^/]+)\/(.+)$/)) || [];
      if (section && !(name in (spec.components[section] || {}))) {
        node[key] = section === "responses" ? { description: `${name} (not in the published document)` } : {};
      } else {
        emptyDanglingRefs(value);
      }
    }
  }
})(spec);

for (const schema of Object.values(spec.components.schemas)) {
  delete schema.example;
}

const WORKSPACE = "f1ae8c33-3f7f-4d53-9a7b-2f5d2a4f6d11";
const SOURCE = "2be9b924-9c06-492d-a807-1a281a356bd7";
const DESTINATION = "cc441a71-65c4-40f3-b917-dcc87ce211b1";
const CONNECTION = "91881371-09a6-465d-b415-ab0b6ee90157";
const MYSQL = "435bb9a5-7887-4809-aa58-28c27df0d7ad";
const S3 = "4816b78f-1489-44c1-9060-4b19d5fa9362";

const source = {
  sourceId: SOURCE, name: "mysql_source", sourceType: "mysql", definitionId: MYSQL,
  workspaceId: WORKSPACE, createdAt: 1733300000,
  configuration: { host: "localhost", port: 3306, database: "mysql_db", username: "root", password: "**********" },
};
const destination = {
  destinationId: DESTINATION, name: "s3_sink", destinationType: "s3", definitionId: S3,
  workspaceId: WORKSPACE, createdAt: 1733300000,
  configuration: { bucket_name: "my-bucket", bucket_region: "us-east-1", access_key_id: "**********", secret_access_key: "**********" },
};
const connection = {
  connectionId: CONNECTION, name: "mysql_source <> s3_sink", sourceId: SOURCE, destinationId: DESTINATION,
  workspaceId: WORKSPACE, status: "active", schedule: { scheduleType: "manual" }, dataResidency: "auto",
  namespaceDefinition: "source", createdAt: 1733300000, tags: [],
  configurations: { streams: [{ name: "users", namespace: "shop", syncMode: "full_refresh_overwrite", cursorField: [], primaryKey: [["id"]] }] },
};
const job = { jobId: 1234, status: "running", jobType: "sync", startTime: "2024-12-04T10:00:00Z", connectionId: CONNECTION };
const definitions = (items) => ({ data: items, next: "", previous: "" });
const page = (items) => ({ data: items, next: "", previous: "" });

const examples = {
  "get /workspaces": page([{ workspaceId: WORKSPACE, name: "Default Workspace", dataResidency: "auto", notifications: {} }]),
  "get /workspaces/{workspaceId}/definitions/sources": definitions([
    { id: MYSQL, name: "MySQL", dockerRepository: "airbyte/source-mysql", dockerImageTag: "3.11.1" },
    { id: "decd338e-5647-4c0b-adf4-da0e75f5a750", name: "Postgres", dockerRepository: "airbyte/source-postgres", dockerImageTag: "3.6.28" },
  ]),
  "get /workspaces/{workspaceId}/definitions/destinations": definitions([
    { id: S3, name: "S3", dockerRepository: "airbyte/destination-s3", dockerImageTag: "1.5.0" },
  ]),
  "post /sources": source,
  "get /sources": page([source]),
  "get /sources/{sourceId}": source,
  "put /sources/{sourceId}": source,
  "post /destinations": destination,
  "get /destinations": page([destination]),
  "get /destinations/{destinationId}": destination,
  "put /destinations/{destinationId}": destination,
  "get /streams": [
    { streamName: "users", streamnamespace: "shop", syncModes: ["full_refresh_overwrite", "full_refresh_append", "incremental_append"], defaultCursorField: ["updated_at"], sourceDefinedCursorField: false, sourceDefinedPrimaryKey: [["id"]], propertyFields: [["id"], ["updated_at"]] },
  ],
  "post /connections": connection,
  "get /connections/{connectionId}": connection,
  "patch /connections/{connectionId}": connection,
  "post /jobs": job,
  "get /jobs": page([job]),
  "get /jobs/{jobId}": job,
  "delete /jobs/{jobId}": { ...job, status: "cancelled", lastUpdatedAt: "2024-12-04T10:01:00Z", duration: "PT1M" },
};

for (const [operation, value] of Object.entries(examples)) {
  const [method, path] = operation.split(" ");
  const item = spec.paths[path];
  if (!item || !item[method]) {
    // Not in this version of the spec (the definition lists arrived in 1.6.0): nothing to show.
    continue;
  }
  const content = item[method].responses["200"].content["application/json"];
  delete content.example;
  content.examples = { mock: { value } };
}

fs.writeFileSync(output, yaml.dump(spec, { noRefs: true, lineWidth: -1 }));
