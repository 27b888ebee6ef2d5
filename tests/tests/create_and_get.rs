//! Create → PUT to the presigned URL → Get, end to end through `cargo lambda watch`.

use api_tests::{Tenant, expect_json, put, sha256_base64, sha256_hex};
use serde_json::{Value, json};

/// Every UploadResponse field of the contract, with its JSON type(s).
const UPLOAD_FIELDS: &[(&str, &[&str])] = &[
    ("upload_id", &["string"]),
    ("bucket_id", &["string"]),
    ("filename", &["string"]),
    ("content_type", &["string"]),
    ("presigned_url_expiration", &["integer"]),
    ("s3_key", &["string"]),
    ("status", &["string"]),
    ("create_object_on_confirm", &["boolean"]),
    ("created_at", &["string"]),
    ("expires_at", &["string"]),
    ("file_size_bytes", &["integer", "null"]),
    ("presigned_url", &["string", "null"]),
    ("metadata", &["object"]),
    ("object_metadata", &["object"]),
    ("blob_property", &["string"]),
    ("blob_type", &["string"]),
    ("file_hash", &["string", "null"]),
    ("skip_duplicates", &["boolean"]),
    ("is_duplicate", &["boolean"]),
    ("duplicate_of_upload_id", &["string", "null"]),
    ("message", &["string", "null"]),
    ("completed_at", &["string", "null"]),
    ("verified_at", &["string", "null"]),
    ("etag", &["string", "null"]),
    ("object_id", &["string", "null"]),
    ("task_id", &["string", "null"]),
];

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn assert_upload_shape(upload: &Value) {
    let mut object = upload.as_object().expect("an object").clone();
    // Our extension, shown only on uploads created with it false (as the test helper does,
    // so that the upload stays PENDING after its PUT).
    if let Some(auto_confirm) = object.remove("auto_confirm") {
        assert_eq!(auto_confirm, Value::Bool(false), "only a false auto_confirm is shown");
    }
    for (field, types) in UPLOAD_FIELDS {
        let value = object
            .get(*field)
            .unwrap_or_else(|| panic!("missing field {field} in {upload}"));
        assert!(
            types.contains(&json_type(value)),
            "{field} is {value}, expected {types:?}"
        );
    }
    assert_eq!(object.len(), UPLOAD_FIELDS.len(), "unexpected extra fields in {upload}");
    for field in ["created_at", "expires_at"] {
        let text = upload[field].as_str().unwrap();
        assert!(text.ends_with('Z'), "{field} is not UTC: {text}");
        assert!(
            bucket_uploads::time::Timestamp::parse(text).is_some(),
            "{field} is not RFC 3339: {text}"
        );
    }
}

#[tokio::test]
async fn create_put_get_round_trip() {
    let tenant = Tenant::new().await;
    let bytes = b"frame data \x00\x01\x02".to_vec();
    let created = tenant
        .create_upload(json!({
            "filename": "summer clip (final).mp4",
            "content_type": "video/mp4",
            "file_size_bytes": bytes.len(),
            "metadata": {"campaign": "summer_2024", "tags": ["a", "b"], "n": 3},
            "object_metadata": {"source": "camera"},
        }))
        .await;
    assert_upload_shape(&created);
    let upload_id = created["upload_id"].as_str().unwrap();
    assert!(upload_id.starts_with("upl_"));
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["bucket_id"], tenant.bucket.bucket_id.as_str());
    assert_eq!(created["blob_type"], "VIDEO");
    assert_eq!(created["blob_property"], "summer clip (final)");
    assert_eq!(created["presigned_url_expiration"], 3600);
    assert!(created["create_object_on_confirm"].as_bool().unwrap() && created["skip_duplicates"].as_bool().unwrap());
    let final_key = format!(
        "{}/{}/{}/summer clip (final).mp4",
        tenant.namespace.namespace_id, tenant.bucket.bucket_id, upload_id
    );
    assert_eq!(created["s3_key"], format!("incoming/{final_key}").as_str());
    let created_at = bucket_uploads::time::Timestamp::parse(created["created_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        created["expires_at"],
        created_at.plus_seconds(3600).to_string().as_str()
    );

    let url = created["presigned_url"].as_str().unwrap();
    assert_eq!(put(url, &[("content-type", "video/mp4")], bytes.clone()).await, 200);

    let fetched = expect_json(tenant.get_upload(upload_id, "").await, 200).await;
    assert_upload_shape(&fetched);
    assert_eq!(
        fetched["presigned_url"],
        Value::Null,
        "the PUT URL must never be returned again"
    );
    let mut expected = created.clone();
    expected["presigned_url"] = Value::Null;
    expected["message"] = Value::Null;
    assert_eq!(fetched, expected);

    // Unverified bytes are never offered for download.
    let unverified = expect_json(tenant.get_upload(upload_id, "?return_presigned_urls=true").await, 200).await;
    assert_eq!(unverified["presigned_url"], Value::Null);

    expect_json(tenant.confirm(upload_id, None).await, 200).await;
    let with_url = expect_json(tenant.get_upload(upload_id, "?return_presigned_urls=true").await, 200).await;
    assert_eq!(with_url["s3_key"], final_key.as_str());
    let download = with_url["presigned_url"].as_str().expect("a download URL");
    assert_ne!(download, url);
    assert!(download.contains("X-Amz-Expires=3600"), "{download}");
    let downloaded = api_tests::http().get(download).send().await.unwrap();
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.bytes().await.unwrap().to_vec(), bytes);
}

#[tokio::test]
async fn no_download_url_before_the_bytes_arrive() {
    let tenant = Tenant::new().await;
    let created = tenant
        .create_upload(json!({"filename": "a.txt", "content_type": "text/plain", "file_size_bytes": 3}))
        .await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let fetched = expect_json(tenant.get_upload(upload_id, "?return_presigned_urls=true").await, 200).await;
    assert_eq!(fetched["presigned_url"], Value::Null);
    let fetched = expect_json(tenant.get_upload(upload_id, "?return_presigned_urls=false").await, 200).await;
    assert_eq!(fetched["presigned_url"], Value::Null);
}

#[tokio::test]
async fn buckets_and_namespaces_are_addressed_by_id_or_name() {
    let tenant = Tenant::new().await;
    let by_id = tenant
        .request_in(
            &tenant.namespace.namespace_id,
            reqwest::Method::POST,
            &format!("/v1/buckets/{}/uploads", tenant.bucket.bucket_id),
        )
        .json(&json!({"filename": "a.txt", "content_type": "text/plain", "file_size_bytes": 3}))
        .send()
        .await
        .unwrap();
    let created = expect_json(by_id, 200).await;
    let by_name = tenant.get_upload(created["upload_id"].as_str().unwrap(), "").await;
    assert_eq!(expect_json(by_name, 200).await["upload_id"], created["upload_id"]);
}

#[tokio::test]
async fn declared_hash_with_checksum_required_is_signed_and_the_matching_bytes_are_accepted() {
    let tenant = Tenant::new().await;
    let bytes = b"exactly these bytes".to_vec();
    let created = tenant
        .create_upload(json!({
            "filename": "a.bin", "content_type": "application/octet-stream",
            "file_size_bytes": bytes.len(), "file_hash": sha256_hex(&bytes).to_uppercase(),
            "blob_type": "binary", "presigned_url_expiration": 60, "create_object_on_confirm": false, "skip_duplicates": false,
            "checksum_required": true,
        }))
        .await;
    assert_eq!(created["file_hash"], sha256_hex(&bytes).as_str());
    assert_eq!(created["blob_type"], "BINARY");
    assert_eq!(created["presigned_url_expiration"], 60);
    assert!(!created["create_object_on_confirm"].as_bool().unwrap() && !created["skip_duplicates"].as_bool().unwrap());
    let url = created["presigned_url"].as_str().unwrap();
    assert!(
        url.contains("x-amz-checksum-sha256"),
        "checksum header not signed: {url}"
    );
    assert!(
        created["message"].as_str().unwrap().contains("x-amz-checksum-sha256"),
        "{created}"
    );
    let checksum = sha256_base64(&bytes);
    let headers = [
        ("content-type", "application/octet-stream"),
        ("x-amz-checksum-sha256", checksum.as_str()),
    ];
    assert_eq!(put(url, &headers, bytes).await, 200);
    let key = created["s3_key"].as_str().unwrap();
    assert!(tenant.app.objects.exists(key).await.unwrap());
}
