// A copy of Airbyte's public API spec prepared for a request-validating mock, as
// ../shared/airbyte/config.mock.yaml is of the Config API's: `node public_mock.js IN OUT`.
//
// Only what a mock needs changes; requests are validated against the rest as published:
// - Realistic examples for the answers the service reads, in place of the spec's own, which are
//   partial (a created source's id alone, a job with a UUID `id` where the schema has an integer
//   `jobId`, a workspace list whose `data` is one object, an access token without the required
//   `token_type` and `expires_in`) and so not answers a real Airbyte gives; Prism answers an example
//   that breaks its schema with a 500. The schemas' own examples are dropped, since Prism prefers
//   them. The examples: workspaces, the MySQL and S3 definitions with their real ids, a source, a
//   destination, streams, a connection between them, a job, and a token that is a JWT expiring in
//   2100, so that one token serves the whole run.
// - `format: UUID` is `format: uuid`: formats are case-sensitive in JSON Schema, so Prism's
//   random answers (`-d`) would otherwise carry ids that are not UUIDs, which no client can use.
// - A `$ref` to a component the document does not have (the schema `DataplaneCreateResponseBody`,
//   the response `ForbiddenResponse`) is an empty one: Prism refuses to load a document with a
//   dangling reference; no call of the service's uses them.
// - `MapperConfiguration`'s `oneOf` is an `anyOf`, as in config.mock.yaml: its alternatives overlap
//   (every hashing configuration is also a field-filtering one, which requires only `targetField`),
//   so a valid mapper matches two and fails a `oneOf`. And `RowFilteringOperationNot.conditions`
//   loses its `minItems: 1`: Prism's generator ends the recursive row filter with an empty list.
//   Prism's random connections (`-d`) carry mappers, and without these two about half of them
//   broke their own schema, which Prism answers with a 500 instead. The service sends no mappers,
//   so its requests meet the same rules.
// The token request's schema is kept as it is, though its `required` names `grant_type` where the
// property is `grant-type`: the service sends both spellings, which the document accepts.
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

const mapper = spec.components.schemas.MapperConfiguration;
if (mapper && mapper.oneOf) {
  mapper.anyOf = mapper.oneOf;
  delete mapper.oneOf;
}
const not = spec.components.schemas.RowFilteringOperationNot;
if (not && not.properties && not.properties.conditions) {
  delete not.properties.conditions.minItems;
}

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
// A JWT (unsigned: nothing checks it) whose `exp` is 2100-01-01.
const base64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
const TOKEN = `${base64url({ alg: "HS256", typ: "JWT" })}.${base64url({ sub: "contract", exp: 4102444800 })}.c2lnbmF0dXJl`;
const definitions = (items) => ({ data: items, next: "", previous: "" });
const page = (items) => ({ data: items, next: "", previous: "" });

const examples = {
  "post /applications/token": { access_token: TOKEN, token_type: "Bearer", expires_in: 900 },
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
  // The newest job listed has ended (a sync of the day before), so a clear is not refused.
  "get /jobs": page([{ ...job, jobId: 1233, status: "succeeded", startTime: "2024-12-03T10:00:00Z", lastUpdatedAt: "2024-12-03T10:05:00Z", duration: "PT5M" }]),
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
