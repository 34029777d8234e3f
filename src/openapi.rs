//! `GET /openapi.json`: the service's own contract, an OpenAPI 3.1 document kept beside the code
//! (`src/openapi.json`) and compiled in without its indentation. The router's tests hold it to
//! the route table (every route and method is in the document and nothing else is); Schemathesis
//! (`make schemathesis`) holds the running service to it.

use crate::http::Reply;

/// The document as written: indented, for people and diffs. Only read at compile time.
const WRITTEN: &[u8] = include_bytes!("openapi.json");

/// How long the document is without the whitespace between its tokens.
const COMPACT_LEN: usize = compact::<0>(WRITTEN).1;

/// The document without the whitespace between its tokens, computed by the compiler: a third of
/// the written document is indentation, and served as written it would be a twentieth of the
/// binary's size budget (`make size`). Only whitespace outside strings goes, so it is the same
/// JSON value (a test below holds the two together).
#[allow(long_running_const_eval)]
static COMPACT: [u8; COMPACT_LEN] = compact::<COMPACT_LEN>(WRITTEN).0;

/// The document, as served.
pub static DOCUMENT: &str = match std::str::from_utf8(&COMPACT) {
    Ok(text) => text,
    Err(_) => panic!("src/openapi.json is UTF-8"),
};

/// `json` without the whitespace outside its strings (RFC 8259's insignificant whitespace), in
/// the first `N` bytes of the array, and the compact length (which may exceed `N`).
const fn compact<const N: usize>(json: &[u8]) -> ([u8; N], usize) {
    let mut out = [0u8; N];
    let (mut i, mut len) = (0, 0);
    let (mut in_string, mut escaped) = (false, false);
    while i < json.len() {
        let c = json[i];
        i += 1;
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
        } else if c == b'"' {
            in_string = true;
        } else if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        if len < N {
            out[len] = c;
        }
        len += 1;
    }
    (out, len)
}

/// The document, with the JSON content type (also answered to `HEAD`, without the body).
pub fn document() -> Reply {
    Reply {
        status: 200,
        content_type: "application/json",
        body: DOCUMENT.as_bytes().to_vec(),
        headers: Vec::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use serde_json::{json, Value};

    use super::*;
    use crate::airbyte;
    use crate::error::ApiError;

    pub(crate) const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    pub(crate) fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("src/openapi.json is JSON")
    }

    /// `(path, METHOD)` pairs.
    pub(crate) type Operations = BTreeSet<(String, String)>;

    /// Every `(path, METHOD)` the document has.
    pub(crate) fn documented() -> Operations {
        let doc = document();
        let paths = doc["paths"].as_object().expect("the document has paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                let item = item.as_object().expect("a path item is an object");
                item.keys()
                    .filter(|k| METHODS.contains(&k.as_str()))
                    .map(|m| (path.clone(), m.to_ascii_uppercase()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn the_served_document_is_the_written_one_without_its_indentation() {
        let written: Value = serde_json::from_slice(WRITTEN).unwrap();
        assert_eq!(document(), written);
        assert!(!DOCUMENT.contains('\n'), "compact");
        assert!(DOCUMENT.len() < WRITTEN.len() * 2 / 3);
    }

    #[test]
    fn compacting_keeps_whitespace_inside_strings() {
        let json = b"{ \"a b\" : [ 1 ,\n\t2 ], \"c\\\" d\": \" \\\\\" }";
        let (out, len) = compact::<64>(json);
        assert_eq!(
            std::str::from_utf8(&out[..len]).unwrap(),
            r#"{"a b":[1,2],"c\" d":" \\"}"#
        );
        assert_eq!(compact::<0>(json).1, len, "the length alone");
    }

    #[test]
    fn the_document_is_openapi_3_1_of_this_version() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn every_reference_resolves() {
        fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        out.push(r);
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let pointer = r.strip_prefix('#').expect("references are local");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn failures_are_problems_with_the_request_id_header() {
        let doc = document();
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if !METHODS.contains(&method.as_str()) {
                    continue;
                }
                for (status, response) in operation["responses"].as_object().unwrap() {
                    let response = match response.get("$ref").and_then(Value::as_str) {
                        Some(r) => doc.pointer(r.strip_prefix('#').unwrap()).unwrap(),
                        None => response,
                    };
                    assert!(
                        response["headers"].get("X-Request-Id").is_some(),
                        "{method} {path} {status} lacks X-Request-Id"
                    );
                    if status.starts_with(['4', '5']) && method != "head" {
                        assert!(
                            response["content"]
                                .get("application/problem+json")
                                .is_some(),
                            "{method} {path} {status} is not a problem"
                        );
                    }
                    if status.starts_with(['4', '5']) && method == "head" {
                        // A HEAD answer has no body: a schema would have generated clients parse one.
                        assert_eq!(
                            response["content"],
                            json!({ "application/problem+json": {} }),
                            "{method} {path} {status}: a HEAD failure names its media type and no schema"
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 20);
    }

    /// Every problem the code can answer, as `status -> type URIs`: each constructor of
    /// [`ApiError`], the mapping of Airbyte's failures, and the front door's refusals.
    fn problems_the_code_makes() -> BTreeMap<u16, BTreeSet<String>> {
        let call = "sources/create";
        let mut problems = vec![
            ApiError::invalid(""),
            ApiError::unauthorized(),
            ApiError::no_route("/x"),
            ApiError::unknown_id("source", "x"),
            ApiError::method_not_allowed("GET", "/sink", "POST"),
            ApiError::too_large(1),
            ApiError::unsupported_media_type(None),
            ApiError::conflict(""),
            ApiError::unprocessable(""),
            ApiError::internal(),
            ApiError::bad_gateway(""),
            ApiError::unavailable(""),
            airbyte::Error::Timeout {
                call,
                after: Duration::from_secs(1),
            }
            .into(),
            airbyte::Error::Rejected {
                call,
                message: None,
                invalid: Vec::new(),
            }
            .into(),
            airbyte::Error::Status {
                call,
                status: 500,
                message: None,
            }
            .into(),
            airbyte::Error::Unreachable {
                url: "http://x".into(),
                reason: "refused".into(),
            }
            .into(),
            airbyte::Error::CertificateRejected {
                url: "https://x".into(),
                problem: airbyte::CertificateProblem::OtherHost,
            }
            .into(),
            airbyte::Error::Unsupported {
                capability: "a check",
                config_api: "http://x/api/v1".into(),
                refusal: "HTTP 404".into(),
            }
            .into(),
        ];
        for status in [400, 408, 413, 414, 417, 431, 501, 505] {
            problems.push(ApiError::refused(status, ""));
        }
        let mut made: BTreeMap<u16, BTreeSet<String>> = BTreeMap::new();
        for problem in problems {
            made.entry(problem.status)
                .or_default()
                .insert(problem.type_uri());
        }
        made
    }

    fn strings(value: &Value) -> BTreeSet<String> {
        value
            .as_array()
            .expect("an array")
            .iter()
            .map(|v| v.as_str().expect("a string").to_string())
            .collect()
    }

    #[test]
    fn the_problem_schema_names_every_type_the_code_makes() {
        let doc = document();
        let documented =
            strings(&doc["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]);
        let made: BTreeSet<String> = problems_the_code_makes().into_values().flatten().collect();
        assert_eq!(documented, made);
    }

    /// Each error response's schema is `Problem`'s `$ref` (what generators such as
    /// openapi-python-client read, so that every error parses into one `Problem` model) with its own
    /// `status` and `type` beside it (what validators such as Schemathesis check, as JSON Schema
    /// 2020-12 applies both): the status of the response, and types the code makes with it.
    #[test]
    fn every_error_schema_is_a_problem_narrowed_to_its_status_and_types() {
        let doc = document();
        let made = problems_the_code_makes();
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if !METHODS.contains(&method.as_str()) || method == "head" {
                    continue;
                }
                for (status, response) in operation["responses"].as_object().unwrap() {
                    if !status.starts_with(['4', '5']) {
                        continue;
                    }
                    let response = match response.get("$ref").and_then(Value::as_str) {
                        Some(r) => doc.pointer(r.strip_prefix('#').unwrap()).unwrap(),
                        None => response,
                    };
                    let at = format!("{method} {path} {status}");
                    let schema = &response["content"]["application/problem+json"]["schema"];
                    let keys: BTreeSet<&str> = schema
                        .as_object()
                        .unwrap_or_else(|| panic!("{at}: no schema"))
                        .keys()
                        .map(String::as_str)
                        .collect();
                    assert_eq!(keys, BTreeSet::from(["$ref", "properties"]), "{at}");
                    assert_eq!(schema["$ref"], "#/components/schemas/Problem", "{at}");
                    let narrowed = schema["properties"].as_object().unwrap();
                    assert_eq!(narrowed.len(), 2, "{at}: only status and type are narrowed");
                    let code: u16 = status.parse().unwrap();
                    assert_eq!(narrowed["status"], json!({ "const": code }), "{at}");
                    let types = match &narrowed["type"] {
                        Value::Object(t) if t.len() == 1 && t.contains_key("const") => {
                            BTreeSet::from([t["const"].as_str().unwrap().to_string()])
                        }
                        Value::Object(t) if t.len() == 1 && t.contains_key("enum") => {
                            strings(&t["enum"])
                        }
                        other => panic!("{at}: type is neither a const nor an enum: {other}"),
                    };
                    let possible = made.get(&code).cloned().unwrap_or_default();
                    assert!(
                        !types.is_empty() && types.is_subset(&possible),
                        "{at}: documents {types:?}, the code makes {possible:?} with {code}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 40);
    }
}
