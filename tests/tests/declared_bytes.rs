//! What a client declares at creation, checked against what it stores: pre-upload dedup by
//! `file_hash`, a `file_hash` the bytes do not have, and a size that was not declared (the
//! bucket's maximum then applies at confirmation).

use api_tests::{Tenant, expect_error, expect_json, objects_of, put, sha256_hex};
use serde_json::{Value, json};

fn id_of(created: &Value) -> &str {
    created["upload_id"].as_str().unwrap()
}

async fn assert_gone(tenant: &Tenant, staging_key: &str) {
    let final_key = staging_key.strip_prefix("incoming/").unwrap();
    for key in [staging_key, final_key] {
        assert!(!tenant.app.objects.exists(key).await.unwrap(), "{key} is still stored");
    }
}

#[tokio::test]
async fn a_declared_hash_of_stored_bytes_needs_no_upload() {
    let tenant = Tenant::new().await;
    let bytes = b"already here".to_vec();
    let first = tenant.uploaded(&bytes, json!({})).await;
    let original = expect_json(tenant.confirm(id_of(&first), None).await, 200).await;

    let body =
        json!({"filename": "again.bin", "content_type": "application/octet-stream", "file_hash": sha256_hex(&bytes)});
    let duplicate = tenant.create_upload(body.clone()).await;
    assert_eq!(duplicate["status"], "COMPLETED", "{duplicate}");
    assert_eq!(duplicate["is_duplicate"], true);
    assert_eq!(duplicate["duplicate_of_upload_id"], first["upload_id"]);
    assert_eq!(duplicate["object_id"], original["object_id"]);
    assert_eq!(duplicate["presigned_url"], Value::Null, "nothing needs uploading");
    assert_eq!(duplicate["file_size_bytes"], bytes.len());
    assert_eq!(duplicate["file_hash"], sha256_hex(&bytes).as_str());
    assert!(duplicate["message"].as_str().unwrap().contains(id_of(&first)));
    assert_ne!(duplicate["upload_id"], first["upload_id"]);

    // It reads, confirms and downloads like any completed upload: the original's bytes.
    let again = expect_json(tenant.confirm(id_of(&duplicate), None).await, 200).await;
    assert_eq!(again["status"], "COMPLETED");
    assert_eq!(again["object_id"], original["object_id"]);
    assert_eq!(tenant.downloaded(id_of(&duplicate)).await, bytes);
    assert_eq!(
        objects_of(&tenant.app, &[id_of(&duplicate).to_owned()].into())
            .await
            .len(),
        0
    );
    let listed = expect_json(tenant.list("", json!({})).await, 200).await;
    assert_eq!(listed["stats"]["uploads_by_status"], json!({"COMPLETED": 2}));
    assert_eq!(listed["stats"]["total_size_bytes"], 2 * bytes.len());

    // Not with skip_duplicates false, not for bytes nobody stored, not in another bucket, and
    // not when the declared size says the bytes differ.
    let mut own = body.clone();
    own["skip_duplicates"] = json!(false);
    assert_eq!(tenant.create_upload(own).await["status"], "PENDING");
    let mut unknown = body.clone();
    unknown["file_hash"] = json!(sha256_hex(b"never stored"));
    assert!(tenant.create_upload(unknown).await["presigned_url"].is_string());
    let mut other_size = body.clone();
    other_size["file_size_bytes"] = json!(bytes.len() + 1);
    assert_eq!(tenant.create_upload(other_size).await["status"], "PENDING");
    let other = Tenant::new().await;
    assert_eq!(other.create_upload(body).await["status"], "PENDING");
}

#[tokio::test]
async fn bytes_that_are_not_the_declared_hash_fail_the_upload() {
    let tenant = Tenant::new().await;
    let declared = b"the declared bytes".to_vec();
    let created = tenant
        .create_upload(json!({
            "filename": "h.bin", "content_type": "application/octet-stream",
            "file_size_bytes": declared.len(), "file_hash": sha256_hex(&declared),
        }))
        .await;
    let mut other = declared.clone();
    other[0] ^= 1;
    // The documented PUT: Content-Type and bytes, no checksum header (S3 cannot refuse them).
    let url = created["presigned_url"].as_str().unwrap();
    assert_eq!(
        put(url, &[("content-type", "application/octet-stream")], other.clone()).await,
        200
    );

    let refused = expect_error(tenant.confirm(id_of(&created), None).await, 400, "BadRequestError").await;
    assert_eq!(refused["error"]["code"], "file_hash_mismatch");
    assert_eq!(refused["error"]["details"]["expected"], sha256_hex(&declared).as_str());
    assert_eq!(refused["error"]["details"]["actual"], sha256_hex(&other).as_str());
    let failed = expect_json(tenant.get_upload(id_of(&created), "").await, 200).await;
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["object_id"], Value::Null);
    assert!(
        objects_of(&tenant.app, &[id_of(&created).to_owned()].into())
            .await
            .is_empty()
    );
    assert_gone(&tenant, created["s3_key"].as_str().unwrap()).await;
    let again = expect_error(tenant.confirm(id_of(&created), None).await, 400, "BadRequestError").await;
    assert_eq!(again["error"]["code"], "upload_failed");
    // Nothing claims those bytes: the same bytes uploaded honestly become the original.
    let honest = tenant.uploaded(&other, json!({})).await;
    let confirmed = expect_json(tenant.confirm(id_of(&honest), None).await, 200).await;
    assert!(confirmed["object_id"].is_string());
    assert_eq!(
        expect_json(tenant.get_upload(id_of(&honest), "").await, 200).await["is_duplicate"],
        false
    );
}

#[tokio::test]
async fn without_a_declared_size_the_buckets_maximum_applies_at_confirmation() {
    let tenant = Tenant::with_max_file_size(Some(1000)).await;
    let body = json!({"filename": "s.bin", "content_type": "application/octet-stream"});
    let too_large = tenant.create_upload(body.clone()).await;
    assert_eq!(too_large["file_size_bytes"], Value::Null);
    let url = too_large["presigned_url"].as_str().unwrap();
    assert_eq!(
        put(url, &[("content-type", "application/octet-stream")], vec![7; 1001]).await,
        200
    );
    let refused = expect_error(tenant.confirm(id_of(&too_large), None).await, 400, "BadRequestError").await;
    assert_eq!(refused["error"]["code"], "file_too_large");
    assert_eq!(refused["error"]["details"]["max_file_size_bytes"], 1000);
    assert_eq!(refused["error"]["details"]["actual"], 1001);
    let failed = expect_json(tenant.get_upload(id_of(&too_large), "").await, 200).await;
    assert_eq!(failed["status"], "FAILED");
    assert_gone(&tenant, too_large["s3_key"].as_str().unwrap()).await;

    let fits = tenant.create_upload(body).await;
    let url = fits["presigned_url"].as_str().unwrap();
    assert_eq!(
        put(url, &[("content-type", "application/octet-stream")], vec![7; 1000]).await,
        200
    );
    let confirmed = expect_json(tenant.confirm(id_of(&fits), None).await, 200).await;
    assert_eq!(confirmed["file_size_bytes"], 1000, "the stored size is recorded");
    let listed = expect_json(tenant.list("", json!({})).await, 200).await;
    assert_eq!(
        listed["stats"]["uploads_by_status"],
        json!({"COMPLETED": 1, "FAILED": 1})
    );
    assert_eq!(
        listed["stats"]["total_size_bytes"], 1000,
        "a failed upload of unknown size counts 0 bytes"
    );
}
