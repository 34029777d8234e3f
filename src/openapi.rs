//! `GET /openapi.json`: the service's own contract, an OpenAPI 3.1 document kept beside the code
//! (`src/openapi.json`) and compiled in. The router's tests hold it to the route table (every
//! route and method is in the document and nothing else is); Schemathesis (`make schemathesis`)
//! holds the running service to it.

use crate::http::Reply;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

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
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

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
                    checked += 1;
                }
            }
        }
        assert!(checked > 20);
    }
}
