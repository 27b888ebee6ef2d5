//! Confirm Upload against DynamoDB Local and the local S3 server, through cargo lambda watch:
//! verification, recording, deduplication, and exactly-once completion under concurrency.

use api_tests::{
    Tenant, expect_error, expect_json, expect_validation, objects_of, put_as_copied, put_directly, sha256_hex,
};
use bucket_uploads::ids::UploadId;
use bucket_uploads::time::Timestamp;
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn md5_hex(bytes: &[u8]) -> String {
    // s3s-fs, like S3 for single-part uploads, uses the MD5 of the bytes as the ETag.
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

async fn upload_of(tenant: &Tenant, upload_id: impl AsRef<str>) -> Value {
    expect_json(tenant.get_upload(upload_id, "").await, 200).await
}

#[tokio::test]
async fn confirm_records_the_verified_bytes_and_creates_the_object() {
    let tenant = Tenant::new().await;
    let bytes = b"the quick brown fox".repeat(100);
    let created = tenant
        .uploaded(
            &bytes,
            json!({"object_metadata": {"camera": "x100"}, "blob_property": "thumbnail"}),
        )
        .await;
    let upload_id = created["upload_id"].as_str().unwrap();

    let body = json!({"etag": format!("\"{}\"", md5_hex(&bytes).to_uppercase()), "file_size_bytes": bytes.len()});
    let confirmed = expect_json(tenant.confirm(upload_id, Some(body)).await, 200).await;
    assert_eq!(confirmed["upload_id"], upload_id);
    assert_eq!(confirmed["status"], "COMPLETED");
    assert_eq!(
        confirmed["file_hash"],
        sha256_hex(&bytes).as_str(),
        "the real SHA-256, not the ETag"
    );
    assert_eq!(confirmed["etag"], md5_hex(&bytes).as_str());
    assert_eq!(confirmed["file_size_bytes"], bytes.len());
    assert!(Timestamp::parse(confirmed["verified_at"].as_str().unwrap()).is_some());
    assert!(Timestamp::parse(confirmed["completed_at"].as_str().unwrap()).is_some());
    assert_eq!(confirmed["task_id"], Value::Null);
    assert_eq!(confirmed["batch_id"], Value::Null);
    let object_id = confirmed["object_id"].as_str().unwrap();
    assert!(object_id.starts_with("obj_"));

    let fetched = upload_of(&tenant, upload_id).await;
    assert_eq!(fetched["status"], "COMPLETED");
    for field in [
        "file_hash",
        "etag",
        "object_id",
        "verified_at",
        "completed_at",
        "file_size_bytes",
    ] {
        assert_eq!(fetched[field], confirmed[field], "{field}");
    }
    assert_eq!(fetched["is_duplicate"], false);

    let object = tenant
        .app
        .store
        .object(&serde_json::from_value(confirmed["object_id"].clone()).unwrap())
        .await
        .unwrap()
        .expect("the object can be read by id");
    assert_eq!(object.upload_id.as_str(), upload_id);
    assert_eq!(object.bucket_id, tenant.bucket.bucket_id);
    assert_eq!(object.content_hash, sha256_hex(&bytes));
    let staging_key = created["s3_key"].as_str().unwrap();
    assert_eq!(format!("incoming/{}", object.s3_key), staging_key);
    assert_eq!(
        fetched["s3_key"],
        object.s3_key.as_str(),
        "s3_key names the final key once completed"
    );
    assert_eq!(object.blob_property, "thumbnail");
    assert_eq!(object.blob_type, bucket_uploads::model::BlobType::Binary);
    assert_eq!(object.metadata["camera"], "x100");
}

#[tokio::test]
async fn the_copy_reports_the_hash_and_a_missing_or_null_body_is_fine() {
    let tenant = Tenant::new().await;
    let bytes = b"declared bytes".to_vec();
    let created = tenant.uploaded(&bytes, json!({"file_hash": sha256_hex(&bytes)})).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let staging_key = created["s3_key"].as_str().unwrap();
    // The documented PUT sends no checksum: S3 keeps none for the staged object...
    let head = tenant.app.objects.head(staging_key).await.unwrap().unwrap();
    assert_eq!(head.sha256_hex, None);
    let confirmed = expect_json(tenant.confirm(upload_id, Some(Value::Null)).await, 200).await;
    assert_eq!(confirmed["file_hash"], sha256_hex(&bytes).as_str());
    // ...and computes one as it copies the bytes to their final key, which keeps it.
    let completed = upload_of(&tenant, upload_id).await;
    let final_key = completed["s3_key"].as_str().unwrap();
    assert_eq!(format!("incoming/{final_key}"), staging_key);
    let head = tenant.app.objects.head(final_key).await.unwrap().unwrap();
    assert_eq!(head.sha256_hex, Some(sha256_hex(&bytes)));
    assert!(
        !tenant.app.objects.exists(staging_key).await.unwrap(),
        "the staged copy is gone"
    );

    let other = tenant.uploaded(b"no body at all", json!({})).await;
    let confirmed = expect_json(tenant.confirm(other["upload_id"].as_str().unwrap(), None).await, 200).await;
    assert_eq!(confirmed["file_hash"], sha256_hex(b"no body at all").as_str());
}

#[tokio::test]
async fn without_create_object_on_confirm_no_object_is_made() {
    let tenant = Tenant::new().await;
    let created = tenant
        .uploaded(b"no object please", json!({"create_object_on_confirm": false}))
        .await;
    let confirmed = expect_json(tenant.confirm(created["upload_id"].as_str().unwrap(), None).await, 200).await;
    assert_eq!(confirmed["status"], "COMPLETED");
    assert_eq!(confirmed["object_id"], Value::Null);
}

#[tokio::test]
async fn a_file_not_uploaded_yet_is_a_400_and_can_be_confirmed_later() {
    let tenant = Tenant::new().await;
    let bytes = b"later".to_vec();
    let created = tenant
        .create_upload(json!({"filename": "l.txt", "content_type": "text/plain", "file_size_bytes": bytes.len()}))
        .await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let before = upload_of(&tenant, upload_id).await;
    let envelope = expect_error(tenant.confirm(upload_id, None).await, 400, "BadRequestError").await;
    assert_eq!(envelope["error"]["code"], "file_not_uploaded");
    assert!(
        envelope["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not been uploaded")
    );
    assert_eq!(upload_of(&tenant, upload_id).await, before);

    let url = created["presigned_url"].as_str().unwrap();
    assert_eq!(
        api_tests::put(url, &[("content-type", "text/plain")], bytes.clone()).await,
        200
    );
    let confirmed = expect_json(tenant.confirm(upload_id, None).await, 200).await;
    assert_eq!(confirmed["status"], "COMPLETED");
}

#[tokio::test]
async fn mismatches_are_400s_that_change_nothing() {
    let tenant = Tenant::new().await;
    let bytes = b"mismatch me".to_vec();
    let created = tenant.uploaded(&bytes, json!({})).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let before = upload_of(&tenant, upload_id).await;

    let envelope = expect_error(
        tenant.confirm(upload_id, Some(json!({"etag": "\"0123\""}))).await,
        400,
        "BadRequestError",
    )
    .await;
    assert_eq!(envelope["error"]["code"], "etag_mismatch");
    assert_eq!(envelope["error"]["details"]["expected"], "0123");
    assert_eq!(envelope["error"]["details"]["actual"], md5_hex(&bytes).as_str());

    let body = json!({"file_size_bytes": bytes.len() + 1});
    let envelope = expect_error(tenant.confirm(upload_id, Some(body)).await, 400, "BadRequestError").await;
    assert_eq!(envelope["error"]["code"], "file_size_mismatch");
    assert_eq!(envelope["error"]["details"]["expected"], bytes.len() + 1);
    assert_eq!(envelope["error"]["details"]["actual"], bytes.len());

    let bad_shape = tenant
        .confirm(upload_id, Some(json!({"file_size_bytes": 0, "etag": 7})))
        .await;
    assert_eq!(
        expect_validation(bad_shape).await,
        vec![json!(["body", "etag"]), json!(["body", "file_size_bytes"])]
    );

    assert_eq!(upload_of(&tenant, upload_id).await, before);
    assert!(objects_of(&tenant.app, &[upload_id.to_owned()].into()).await.is_empty());
}

#[tokio::test]
async fn the_size_recorded_at_create_is_always_checked() {
    let tenant = Tenant::new().await;
    let created = tenant
        .create_upload(json!({"filename": "s.bin", "content_type": "application/octet-stream", "file_size_bytes": 10}))
        .await;
    let upload_id = created["upload_id"].as_str().unwrap();
    // Bytes written around the presigned URL (which would refuse another length).
    put_directly(&tenant.app, created["s3_key"].as_str().unwrap(), b"only 7 b".to_vec()).await;
    let before = upload_of(&tenant, upload_id).await;
    let envelope = expect_error(tenant.confirm(upload_id, None).await, 400, "BadRequestError").await;
    assert_eq!(envelope["error"]["code"], "file_size_mismatch");
    assert_eq!(
        envelope["error"]["details"],
        json!({"field": "file_size_bytes", "expected": 10, "actual": 8})
    );
    assert_eq!(upload_of(&tenant, upload_id).await, before);
}

#[tokio::test]
async fn confirming_after_expiry_fails_the_upload_and_deletes_the_object() {
    let tenant = Tenant::new().await;
    // An upload whose URL expired a minute ago, with its bytes in place.
    let upload = tenant.expired_upload().await;
    let (upload_id, s3_key) = (upload.upload_id.clone(), upload.s3_key.clone());
    put_directly(&tenant.app, &s3_key, b"old".to_vec()).await;

    let envelope = expect_error(tenant.confirm(&upload_id, None).await, 400, "BadRequestError").await;
    assert_eq!(envelope["error"]["code"], "upload_expired");
    let fetched = upload_of(&tenant, &upload_id).await;
    assert_eq!(fetched["status"], "FAILED");
    assert!(fetched["message"].as_str().unwrap().contains("expired"), "{fetched}");
    assert!(
        !tenant.app.objects.exists(&s3_key).await.unwrap(),
        "the object was not deleted"
    );

    let again = expect_error(tenant.confirm(&upload_id, None).await, 400, "BadRequestError").await;
    assert_eq!(again["error"]["code"], "upload_expired");
    assert_eq!(upload_of(&tenant, &upload_id).await, fetched);
}

/// Confirms each of `upload_ids` from `tasks_each` tasks calling the production entry point
/// (`confirm_upload`, on a multi-threaded runtime, so they truly race: `cargo lambda watch`
/// runs one request at a time per function) and `requests_each` requests through the API,
/// all at once.
async fn race_confirms(tenant: &Tenant, upload_ids: &[String], tasks_each: usize, requests_each: usize) -> Vec<Value> {
    let mut handles = Vec::new();
    for upload_id in upload_ids {
        for _ in 0..tasks_each {
            let (app, scope, bucket) = (tenant.app.clone(), tenant.scope(), tenant.bucket_ref());
            let upload_id = bucket_uploads::ids::UploadId::parse(upload_id).unwrap();
            handles.push(tokio::spawn(async move {
                let confirmed = bucket_uploads::confirm::confirm_upload(&app, &scope, &bucket, &upload_id, None, false)
                    .await
                    .unwrap();
                serde_json::to_value(confirmed).unwrap()
            }));
        }
    }
    // The HTTP half goes one request at a time (cargo lambda watch runs one request per
    // function at a time anyway), racing the in-process half.
    let mut responses = Vec::new();
    for id in upload_ids.iter().flat_map(|id| (0..requests_each).map(move |_| id)) {
        responses.push(expect_json(tenant.confirm(id, None).await, 200).await);
    }
    for handle in handles {
        responses.push(handle.await.unwrap());
    }
    responses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_confirms_of_one_upload_create_one_object_and_answer_alike() {
    let tenant = Tenant::new().await;
    let created = tenant.uploaded(b"confirm me twenty times", json!({})).await;
    let upload_id = created["upload_id"].as_str().unwrap().to_owned();
    let responses = race_confirms(&tenant, std::slice::from_ref(&upload_id), 15, 5).await;
    assert_eq!(responses.len(), 20);
    for response in &responses {
        assert_eq!(response, &responses[0]);
    }
    assert_eq!(responses[0]["status"], "COMPLETED");
    let objects = objects_of(&tenant.app, &[upload_id.clone()].into()).await;
    assert_eq!(objects, vec![responses[0]["object_id"].as_str().unwrap().to_owned()]);

    // And once more, later: the same answer, nothing changed; a claim the recorded bytes do
    // not match is refused as it would have been first (and still changes nothing).
    let before = upload_of(&tenant, &upload_id).await;
    let etag = responses[0]["etag"].as_str().unwrap();
    assert_eq!(
        expect_json(tenant.confirm(&upload_id, Some(json!({"etag": etag}))).await, 200).await,
        responses[0]
    );
    let refused = expect_error(
        tenant.confirm(&upload_id, Some(json!({"etag": "whatever"}))).await,
        400,
        "BadRequestError",
    )
    .await;
    assert_eq!(refused["error"]["code"], "etag_mismatch");
    assert_eq!(upload_of(&tenant, &upload_id).await, before);
}

async fn confirm_ten_copies(tenant: &Tenant, skip_duplicates: bool) -> Vec<Value> {
    let bytes = format!("same bytes, skip_duplicates={skip_duplicates}").into_bytes();
    let mut upload_ids = Vec::new();
    for _ in 0..10 {
        let created = tenant
            .uploaded(&bytes, json!({"skip_duplicates": skip_duplicates}))
            .await;
        upload_ids.push(created["upload_id"].as_str().unwrap().to_owned());
    }
    // Each copy is confirmed twice at once (in-process and over HTTP): all twenty race.
    let responses = race_confirms(tenant, &upload_ids, 1, 1).await;
    let mut uploads = Vec::new();
    for id in &upload_ids {
        let upload = upload_of(tenant, id).await;
        assert_eq!(upload["file_hash"], sha256_hex(&bytes).as_str());
        for response in responses.iter().filter(|r| r["upload_id"] == upload["upload_id"]) {
            assert_eq!(response["object_id"], upload["object_id"]);
        }
        uploads.push(upload);
    }
    uploads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_bytes_confirmed_at_once_yield_exactly_one_original() {
    let tenant = Tenant::new().await;
    let uploads = confirm_ten_copies(&tenant, true).await;
    let originals: Vec<&Value> = uploads.iter().filter(|u| u["is_duplicate"] == false).collect();
    assert_eq!(originals.len(), 1, "{uploads:#?}");
    let original = originals[0];
    let duplicates: Vec<&Value> = uploads.iter().filter(|u| u["is_duplicate"] == true).collect();
    assert_eq!(duplicates.len(), 9);
    for duplicate in duplicates {
        assert_eq!(duplicate["duplicate_of_upload_id"], original["upload_id"]);
        assert_eq!(duplicate["object_id"], original["object_id"]);
        assert_eq!(duplicate["status"], "COMPLETED");
    }
    let ids: BTreeSet<String> = uploads
        .iter()
        .map(|u| u["upload_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        objects_of(&tenant.app, &ids).await,
        vec![original["object_id"].as_str().unwrap().to_owned()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_skip_duplicates_every_copy_gets_its_own_object() {
    let tenant = Tenant::new().await;
    let uploads = confirm_ten_copies(&tenant, false).await;
    assert!(
        uploads
            .iter()
            .all(|u| u["is_duplicate"] == false && u["duplicate_of_upload_id"].is_null())
    );
    let object_ids: BTreeSet<&str> = uploads.iter().map(|u| u["object_id"].as_str().unwrap()).collect();
    assert_eq!(object_ids.len(), 10);
    let ids: BTreeSet<String> = uploads
        .iter()
        .map(|u| u["upload_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(objects_of(&tenant.app, &ids).await.len(), 10);
}

#[tokio::test]
async fn duplicates_are_per_bucket() {
    let tenant = Tenant::new().await;
    let first = tenant.uploaded(b"shared across buckets", json!({})).await;
    expect_json(tenant.confirm(first["upload_id"].as_str().unwrap(), None).await, 200).await;
    let other = Tenant::new().await;
    let second = other.uploaded(b"shared across buckets", json!({})).await;
    let confirmed = expect_json(other.confirm(second["upload_id"].as_str().unwrap(), None).await, 200).await;
    assert!(confirmed["object_id"].is_string());
    assert_eq!(
        upload_of(&other, second["upload_id"].as_str().unwrap()).await["is_duplicate"],
        false
    );
}

#[tokio::test]
async fn another_tenants_or_an_unknown_upload_is_404() {
    let alice = Tenant::new().await;
    let mallory = Tenant::new().await;
    let created = alice.uploaded(b"alice's", json!({})).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let envelope = expect_error(mallory.confirm(upload_id, None).await, 404, "NotFoundError").await;
    assert_eq!(envelope["error"]["details"]["resource"], "upload");
    let unknown = bucket_uploads::ids::IdKind::Upload.generate();
    expect_error(alice.confirm(&unknown, None).await, 404, "NotFoundError").await;
    assert_eq!(upload_of(&alice, upload_id).await["status"], "PENDING");
}

/// A confirmation that copied the bytes to their final key but never recorded them (it
/// crashed, say) fixed them: bytes staged through the upload URL since never replace them,
/// whether or not they would pass the checks themselves.
#[tokio::test]
async fn bytes_already_at_the_final_key_win_over_bytes_staged_since() {
    let tenant = Tenant::new().await;
    let copied = b"copied by a confirmation that then crashed".to_vec();
    for (restaged, claims) in [
        (b"staged later, also fine by the checks".to_vec(), json!({})),
        (
            b"staged later, the wrong size".to_vec(),
            json!({"file_size_bytes": copied.len()}),
        ),
    ] {
        let created = tenant.uploaded(&restaged, json!({"file_size_bytes": null})).await;
        let upload_id = created["upload_id"].as_str().unwrap();
        let final_key = created["s3_key"].as_str().unwrap().strip_prefix("incoming/").unwrap();
        put_as_copied(&tenant.app, final_key, copied.clone()).await;

        let confirmed = expect_json(tenant.confirm(upload_id, Some(claims)).await, 200).await;
        assert_eq!(confirmed["status"], "COMPLETED");
        assert_eq!(confirmed["file_hash"], sha256_hex(&copied).as_str());
        assert_eq!(confirmed["file_size_bytes"], copied.len());
        assert_eq!(confirmed["etag"], md5_hex(&copied).as_str());
    }
}

/// Bytes at the final key that S3 kept no SHA-256 of (a store that computes none on copy,
/// or bytes put there another way) must be read to be hashed, and only the worker reads
/// objects: the endpoint answers as an asynchronous confirmation, and the worker completes
/// the upload with the bytes' real hash. In-process, with an app that reads objects, the
/// same confirmation completes at once with the same hash.
#[tokio::test]
async fn bytes_without_a_sha256_from_s3_are_hashed_by_the_worker() {
    let tenant = Tenant::new().await;
    let copied = b"at the final key without a SHA-256".to_vec();
    for through_the_endpoint in [true, false] {
        let created = tenant.uploaded(b"staged", json!({"file_size_bytes": null})).await;
        let upload_id = created["upload_id"].as_str().unwrap().to_owned();
        let final_key = created["s3_key"].as_str().unwrap().strip_prefix("incoming/").unwrap();
        put_directly(&tenant.app, final_key, copied.clone()).await;
        let head = tenant.app.objects.head(final_key).await.unwrap().unwrap();
        assert_eq!(head.sha256_hex, None, "the precondition: S3 reports no SHA-256");

        if through_the_endpoint {
            let answered = expect_json(tenant.confirm(&upload_id, None).await, 200).await;
            assert_eq!(answered["status"], "PROCESSING", "{answered}");
            let task_id = answered["task_id"].as_str().expect("the worker's task");
            let task = tenant.wait_for_task(task_id, std::time::Duration::from_secs(60)).await;
            assert_eq!(task["status"], "COMPLETED", "{task}");
        } else {
            let (bucket, upload) = bucket_uploads::uploads::load_upload(
                &tenant.app,
                &tenant.scope(),
                &tenant.bucket_ref(),
                &UploadId::parse(&upload_id).unwrap(),
            )
            .await
            .unwrap();
            let request = bucket_uploads::confirm::ConfirmRequest::default();
            let origin = bucket_uploads::confirm::Origin::Client { run_async: false };
            let confirmed = bucket_uploads::confirm::confirm(&tenant.app, &bucket, upload, &request, origin)
                .await
                .unwrap();
            assert_eq!(confirmed.status, bucket_uploads::model::UploadStatus::Completed);
        }
        let upload = upload_of(&tenant, &upload_id).await;
        assert_eq!(upload["status"], "COMPLETED", "{upload}");
        assert_eq!(upload["file_hash"], sha256_hex(&copied).as_str());
        assert_eq!(upload["file_size_bytes"], copied.len());
    }
}
