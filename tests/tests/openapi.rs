//! The OpenAPI document (`shared/openapi.yaml`): it describes exactly the routes the API
//! serves, the seeds' operations keep the seeds' names, fields and statuses, and the API
//! serves it at `GET /openapi.json` without authentication. (schemathesis, in `make test`,
//! checks real responses against its schemas.)

use bucket_uploads::routes;
use serde_json::Value;
use std::collections::BTreeSet;

fn document() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/openapi.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).expect("shared/openapi.yaml parses")
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not in the document");
    op
}

fn response_codes(op: &Value) -> BTreeSet<String> {
    op["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .cloned()
        .collect()
}

fn property_names(doc: &Value, schema: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{schema} has properties"))
        .keys()
        .cloned()
        .collect()
}

fn required(doc: &Value, schema: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][schema]["required"]
        .as_array()
        .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn the_document_describes_exactly_the_routes_served() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = routes::ALL
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, served);
}

#[test]
fn the_seed_operations_keep_the_seeds_contract() {
    let doc = document();
    let seed_codes = names(&["200", "400", "401", "403", "404", "422", "500"]);
    let seeds = [
        (
            "get",
            routes::GET_UPLOAD.path,
            "get_upload_v1_buckets__bucket_identifier__uploads__upload_id__get",
            vec!["bucket_identifier", "upload_id", "return_presigned_urls"],
        ),
        (
            "post",
            routes::CONFIRM_UPLOAD.path,
            "confirm_upload_v1_buckets__bucket_identifier__uploads__upload_id__confirm_post",
            vec!["bucket_identifier", "upload_id", "async"],
        ),
        (
            "post",
            routes::LIST_UPLOADS.path,
            "list_uploads_v1_buckets__bucket_identifier__uploads_list_post",
            vec!["bucket_identifier", "limit", "offset"],
        ),
    ];
    let components = &doc["components"]["parameters"];
    for (method, path, operation_id, params) in seeds {
        let op = operation(&doc, method, path);
        assert_eq!(op["operationId"], operation_id);
        let codes = response_codes(op);
        assert!(codes.is_superset(&seed_codes), "{operation_id}: {codes:?}");
        let declared: BTreeSet<String> = op["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .map(|p| match p["$ref"].as_str() {
                Some(r) => components[r.rsplit('/').next().unwrap_or_default()]["name"].clone(),
                None => p["name"].clone(),
            })
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect();
        assert!(declared.is_superset(&names(&params)), "{operation_id}: {declared:?}");
    }

    // The seed's fields, and our `parts` (multipart uploads), marked as ours.
    assert_eq!(
        property_names(&doc, "ConfirmUploadRequest"),
        names(&["etag", "file_size_bytes", "auto_submit_batch", "parts"])
    );
    assert_eq!(
        doc["components"]["schemas"]["ConfirmUploadRequest"]["properties"]["parts"]["x-extension"],
        true
    );
    assert!(property_names(&doc, "ConfirmUploadResponse").is_superset(&names(&[
        "upload_id",
        "status",
        "etag",
        "file_size_bytes",
        "file_hash",
        "verified_at",
        "completed_at",
        "object_id",
        "task_id",
        "batch_id",
        "message",
    ])));
    assert_eq!(required(&doc, "ConfirmUploadResponse"), names(&["upload_id", "status"]));
    assert!(property_names(&doc, "ListUploadsResponse").is_superset(&names(&["results", "pagination", "stats"])));
    assert_eq!(required(&doc, "ErrorResponse"), names(&["status", "error"]));
    assert_eq!(required(&doc, "ErrorDetail"), names(&["message", "type"]));
    assert_eq!(required(&doc, "ValidationError"), names(&["loc", "msg", "type"]));
    assert_eq!(
        property_names(&doc, "UploadListStats"),
        names(&[
            "total_uploads",
            "total_size_bytes",
            "uploads_by_status",
            "avg_file_size_bytes",
            "unique_buckets"
        ])
    );
    let list = &doc["components"]["schemas"]["ListUploadsRequest"]["anyOf"][0]["properties"];
    assert_eq!(list["limit"]["anyOf"][0]["minimum"], 1);
    assert_eq!(list["limit"]["anyOf"][0]["maximum"], 100);
    assert_eq!(list["limit"]["default"], 20);
    assert_eq!(list["offset"]["default"], 0);
}

/// Every field an upload response carries is declared, so the response schemas (which
/// allow more) cannot silently drift from the code.
#[tokio::test]
async fn upload_responses_declare_every_field_the_api_writes() {
    let doc = document();
    let tenant = api_tests::Tenant::new().await;
    let single = tenant
        .create_upload(serde_json::json!({"filename": "a.txt", "content_type": "text/plain"}))
        .await;
    let multipart = tenant
        .create_upload(serde_json::json!({
            "filename": "b.bin", "content_type": "application/octet-stream",
            "file_size_bytes": 3 << 20, "multipart": true
        }))
        .await;
    let written: BTreeSet<String> = [single, multipart]
        .iter()
        .flat_map(|upload| upload.as_object().expect("an object").keys().cloned())
        .collect();
    assert_eq!(written, property_names(&doc, "UploadResponse"));
}

#[tokio::test]
async fn the_api_serves_the_document_without_authentication() {
    let response = api_tests::http()
        .get(format!("{}/openapi.json", api_tests::api_url()))
        .send()
        .await
        .expect("GET /openapi.json");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let served: Value = response.json().await.expect("JSON");
    assert_eq!(served, document());
}
