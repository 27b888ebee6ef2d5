//! Auto-confirm: local-s3 sends S3's ObjectCreated event for every staged object to the
//! `auto-confirm` function (as the bucket → EventBridge → SQS path does in AWS), which
//! confirms the upload with what was given at creation. These uploads are created with raw
//! requests (the `Tenant::create_upload` helper opts out of auto-confirm).

use api_tests::*;
use bucket_uploads::ids::{UploadId, auto_batch_ids};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How long an upload may take to complete after its PUT (the bound).
const WITHIN: Duration = Duration::from_secs(10);

/// Creates an upload with exactly `body` (auto-confirm as the body says) and PUTs `bytes`.
async fn put_as_mixpeek_documents(tenant: &Tenant, bytes: &[u8], extra: Value) -> Value {
    let mut body = json!({
        "filename": "photo.jpg", "content_type": "image/jpeg", "file_size_bytes": bytes.len(),
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let response = tenant
        .request(Method::POST, &tenant.uploads_path())
        .json(&body)
        .send()
        .await
        .expect("create upload");
    let created = expect_json(response, 200).await;
    let url = created["presigned_url"].as_str().expect("presigned_url");
    assert_eq!(put(url, &[("content-type", "image/jpeg")], bytes.to_vec()).await, 200);
    created
}

async fn upload(tenant: &Tenant, upload_id: &str) -> Value {
    expect_json(tenant.get_upload(upload_id, "").await, 200).await
}

async fn batch_of(tenant: &Tenant, batch_id: &bucket_uploads::ids::BatchId) -> Value {
    let path = format!("/v1/buckets/{}/batches/{batch_id}", tenant.bucket.name);
    expect_json(tenant.request(Method::GET, &path).send().await.unwrap(), 200).await
}

/// Polls the upload until it is COMPLETED; panics after `WITHIN`.
async fn completed(tenant: &Tenant, upload_id: &str) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let current = upload(tenant, upload_id).await;
        if current["status"] == "COMPLETED" {
            return (current, started.elapsed());
        }
        assert!(
            started.elapsed() < WITHIN,
            "{upload_id} is still {} after {WITHIN:?}",
            current["status"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The confirmation answer's fields a GET of the same upload shows too.
fn as_recorded(answer: &Value) -> Value {
    let keys = [
        "upload_id",
        "status",
        "etag",
        "file_size_bytes",
        "file_hash",
        "verified_at",
        "completed_at",
        "object_id",
        "task_id",
    ];
    keys.iter().map(|k| ((*k).to_owned(), answer[*k].clone())).collect()
}

#[tokio::test]
async fn a_put_without_confirm_completes_with_the_bytes_sha256() {
    let tenant = Tenant::new().await;
    let bytes = b"auto-confirmed without a client step".to_vec();
    let created = put_as_mixpeek_documents(&tenant, &bytes, json!({})).await;
    assert!(
        created.get("auto_confirm").is_none(),
        "the default is not shown: {created}"
    );
    let upload_id = created["upload_id"].as_str().unwrap();

    let (done, took) = completed(&tenant, upload_id).await;
    println!("COMPLETED {took:?} after the PUT answered");
    assert_eq!(done["file_hash"], sha256_hex(&bytes));
    assert_eq!(done["file_size_bytes"], bytes.len());
    assert_eq!(done["message"], "Upload confirmed.");
    assert!(done["object_id"].is_string(), "{done}");
    assert_eq!(tenant.downloaded(upload_id).await, bytes);
    // Mixpeek's client confirms anyway: the same upload, as recorded.
    let confirmed = expect_json(tenant.confirm(upload_id, None).await, 200).await;
    assert_eq!(as_recorded(&confirmed), as_recorded(&done));
}

#[tokio::test]
async fn a_confirm_racing_the_event_completes_each_upload_once_with_one_answer() {
    let tenant = Tenant::new().await;
    let mut upload_ids = BTreeSet::new();
    for trial in 0..20 {
        let bytes = format!("trial {trial}: PUT then confirm at once").into_bytes();
        let created = put_as_mixpeek_documents(&tenant, &bytes, json!({})).await;
        let upload_id = created["upload_id"].as_str().unwrap().to_owned();
        let confirmed = expect_json(tenant.confirm(&upload_id, None).await, 200).await;
        assert_eq!(confirmed["status"], "COMPLETED", "trial {trial}: {confirmed}");
        assert_eq!(confirmed["file_hash"], sha256_hex(&bytes), "trial {trial}");
        // Whoever won, every later answer is this one.
        let again = expect_json(tenant.confirm(&upload_id, None).await, 200).await;
        assert_eq!(again, confirmed, "trial {trial}");
        assert_eq!(as_recorded(&upload(&tenant, &upload_id).await), as_recorded(&confirmed));
        upload_ids.insert(upload_id);
    }
    // Let the events that lost their race arrive, then count.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let objects = objects_of(&tenant.app, &upload_ids).await;
    assert_eq!(objects.len(), 20, "one object per upload: {objects:?}");
    let counted = tenant.counted().await;
    assert_eq!(counted, tenant.recount().await);
    assert_eq!(counted.total_uploads, 20);
}

#[tokio::test]
async fn auto_confirm_false_keeps_the_upload_pending_until_it_is_confirmed() {
    let tenant = Tenant::new().await;
    let kept = put_as_mixpeek_documents(&tenant, b"wait for me", json!({"auto_confirm": false})).await;
    assert_eq!(kept["auto_confirm"], false, "{kept}");
    let kept_id = kept["upload_id"].as_str().unwrap();
    // An upload PUT after it completes by its event: by then the first one's event came too.
    let later = put_as_mixpeek_documents(&tenant, b"me neither", json!({})).await;
    completed(&tenant, later["upload_id"].as_str().unwrap()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let pending = upload(&tenant, kept_id).await;
    assert_eq!(pending["status"], "PENDING", "{pending}");
    assert_eq!(pending["auto_confirm"], false);
    let confirmed = expect_json(tenant.confirm(kept_id, None).await, 200).await;
    assert_eq!(confirmed["status"], "COMPLETED");
    assert_eq!(confirmed["file_hash"], sha256_hex(b"wait for me"));
}

/// Invokes `auto-confirm` as its queue would, with one S3 event; returns the messages it
/// reported failed.
async fn deliver_event(bucket: &str, key: &str) -> Vec<Value> {
    let message = api_tests::object_created::message(bucket, key);
    let answer = invoke("auto-confirm", &message).await;
    answer["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a batch response: {answer}"))
        .clone()
}

#[tokio::test]
async fn an_event_for_an_unknown_or_deleted_upload_changes_nothing() {
    let tenant = Tenant::new().await;
    let bucket = tenant.app.objects.bucket().to_owned();
    let namespace_id = &tenant.namespace.namespace_id;
    let bucket_id = &tenant.bucket.bucket_id;
    let before = (tenant.counted().await, tenant.usage().await);

    // Deleted while PENDING; its URL still works, so S3 (local-s3) takes the bytes and
    // reports them.
    let created = tenant
        .create_upload(json!({"filename": "gone.txt", "content_type": "text/plain", "file_size_bytes": 4}))
        .await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let path = format!("{}/{upload_id}", tenant.uploads_path());
    let deleted = tenant.request(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let url = created["presigned_url"].as_str().unwrap();
    assert_eq!(put(url, &[("content-type", "text/plain")], b"gone".to_vec()).await, 200);
    let staged = created["s3_key"].as_str().unwrap();
    // And the same event once more, handed over directly, with keys naming no upload.
    let unknown = UploadId::generate();
    for key in [
        staged.to_owned(),
        format!("incoming/{namespace_id}/{bucket_id}/{unknown}/a.txt"),
        format!("incoming/{namespace_id}/{bucket_id}/not-an-id/a.txt"),
        format!("{namespace_id}/{bucket_id}/{unknown}/a.txt"),
    ] {
        assert_eq!(deliver_event(&bucket, &key).await, Vec::<Value>::new(), "{key}");
    }
    assert_eq!(deliver_event("another-bucket", staged).await, Vec::<Value>::new());

    tokio::time::sleep(Duration::from_millis(500)).await;
    expect_error(tenant.get_upload(upload_id, "").await, 404, "NotFoundError").await;
    assert_eq!((tenant.counted().await, tenant.usage().await), before);
    let upload_ids = BTreeSet::from([upload_id.to_owned(), unknown.to_string()]);
    assert_eq!(objects_of(&tenant.app, &upload_ids).await, Vec::<String>::new());
    let final_key = staged.strip_prefix("incoming/").unwrap();
    assert!(
        !tenant.app.objects.exists(final_key).await.unwrap(),
        "nothing was copied"
    );
}

#[tokio::test]
async fn a_confirm_after_the_event_still_submits_its_batch_once() {
    let tenant = Tenant::new().await;
    let created = put_as_mixpeek_documents(&tenant, b"batch me later", json!({})).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let (done, _) = completed(&tenant, upload_id).await;
    assert_eq!(done["task_id"], Value::Null, "the event asked for no batch");

    let confirmed = expect_json(
        tenant
            .confirm(upload_id, Some(json!({"auto_submit_batch": true})))
            .await,
        200,
    )
    .await;
    let parsed = UploadId::parse(upload_id).unwrap();
    let (batch_id, batch_task) = auto_batch_ids(&parsed);
    assert_eq!(confirmed["batch_id"], batch_id.as_str(), "{confirmed}");
    assert_eq!(confirmed["task_id"], batch_task.as_str());
    assert_eq!(confirmed["object_id"], done["object_id"]);
    let batch = batch_of(&tenant, &batch_id).await;
    assert_eq!(batch["object_ids"], json!([done["object_id"]]), "{batch}");
    // Asked again: the same batch, not a second one.
    let again = expect_json(
        tenant
            .confirm(upload_id, Some(json!({"auto_submit_batch": true})))
            .await,
        200,
    )
    .await;
    assert_eq!(again, confirmed);
    assert_eq!(as_recorded(&upload(&tenant, upload_id).await), as_recorded(&confirmed));
}

/// The answer to a confirmation claiming `claims`, for an upload confirmed by its event
/// first and for one that waits for the client (`auto_confirm: false`).
async fn both_answers(tenant: &Tenant, bytes: &[u8], claims: Value) -> [(u16, Value); 2] {
    let evented = put_as_mixpeek_documents(tenant, bytes, json!({})).await;
    let evented_id = evented["upload_id"].as_str().unwrap();
    completed(tenant, evented_id).await;
    let waiting =
        put_as_mixpeek_documents(tenant, bytes, json!({"auto_confirm": false, "skip_duplicates": false})).await;
    let waiting_id = waiting["upload_id"].as_str().unwrap();
    let mut answers = Vec::new();
    for upload_id in [evented_id, waiting_id] {
        let response = tenant.confirm(upload_id, Some(claims.clone())).await;
        let status = response.status().as_u16();
        let mut body: Value = response.json().await.unwrap();
        // The ids and the request id differ; the rest is the answer.
        for volatile in ["request_id", "upload_id"] {
            body["error"].as_object_mut().map(|e| e.remove(volatile));
        }
        if let Some(details) = body["error"]["details"].as_object_mut() {
            details.remove("upload_id");
        }
        answers.push((status, body));
    }
    [answers.remove(0), answers.remove(0)]
}

#[tokio::test]
async fn a_confirm_after_the_event_refuses_claims_the_bytes_do_not_match() {
    let tenant = Tenant::new().await;
    let bytes = b"claims are checked whoever confirmed first";
    for claims in [
        json!({"etag": "0123456789abcdef0123456789abcdef"}),
        json!({"file_size_bytes": bytes.len() + 1}),
    ] {
        let [evented, waiting] = both_answers(&tenant, bytes, claims.clone()).await;
        assert_eq!(evented, waiting, "{claims}");
        assert_eq!(evented.0, 400, "{evented:?}");
        let code = evented.1["error"]["code"].as_str().unwrap_or_default();
        assert!(code.ends_with("_mismatch"), "{evented:?}");
    }
}

#[tokio::test]
async fn a_large_upload_goes_to_the_worker_and_a_racing_confirm_still_gets_its_batch() {
    // Above one copy (16 MiB in test runs): only the worker's runs move it.
    let tenant = Tenant::new().await;
    let bytes = vec![7u8; 17 * 1024 * 1024];
    let created = put_as_mixpeek_documents(&tenant, &bytes, json!({})).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let answer = expect_json(
        tenant
            .confirm(upload_id, Some(json!({"auto_submit_batch": true})))
            .await,
        200,
    )
    .await;
    assert!(
        ["PROCESSING", "COMPLETED"].contains(&answer["status"].as_str().unwrap_or_default()),
        "{answer}"
    );
    let started = Instant::now();
    let done = loop {
        let current = upload(&tenant, upload_id).await;
        if current["status"] == "COMPLETED" {
            break current;
        }
        assert_ne!(current["status"], "FAILED", "{current}");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "still {}",
            current["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["file_hash"], sha256_hex(&bytes));
    let (batch_id, _) = auto_batch_ids(&UploadId::parse(upload_id).unwrap());
    let batch = batch_of(&tenant, &batch_id).await;
    assert_eq!(batch["object_ids"], json!([done["object_id"]]), "{batch}");
}

#[tokio::test]
async fn a_multipart_upload_confirms_when_its_parts_are_joined() {
    // No event per part: the upload stays PENDING until CompleteMultipartUpload joins them
    // (here called on S3 directly, as a client holding S3 credentials could; the confirm
    // endpoint's own join is raced by the same event in tests/tests/multipart.rs).
    let tenant = Tenant::new().await;
    let part_size = 1024 * 1024;
    let bytes: Vec<u8> = (0..2 * part_size + 100).map(|i| (i % 251) as u8).collect();
    let created = expect_json(
        tenant
            .request(Method::POST, &tenant.uploads_path())
            .json(
                &json!({"filename": "big.bin", "content_type": "application/octet-stream",
                          "file_size_bytes": bytes.len(), "multipart": true, "part_size_bytes": part_size}),
            )
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let upload_id = created["upload_id"].as_str().unwrap();
    for part in created["multipart"]["parts"].as_array().unwrap() {
        let number = part["part_number"].as_u64().unwrap() as usize;
        let slice = bytes[(number - 1) * part_size..(number * part_size).min(bytes.len())].to_vec();
        let mut request = http().put(part["url"].as_str().unwrap()).body(slice);
        for (name, value) in part["headers"].as_object().unwrap() {
            if name != "Content-Length" {
                request = request.header(name, value.as_str().unwrap());
            }
        }
        assert_eq!(request.send().await.unwrap().status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        upload(&tenant, upload_id).await["status"],
        "PENDING",
        "no event per part"
    );

    let staged = created["s3_key"].as_str().unwrap();
    let s3_upload_id = created["multipart"]["s3_upload_id"].as_str().unwrap();
    let objects = &tenant.app.objects;
    let listed = objects.list_parts(staged, s3_upload_id).await.unwrap().expect("parts");
    objects
        .complete_multipart(staged, s3_upload_id, &listed, false)
        .await
        .unwrap();

    let (done, _) = completed(&tenant, upload_id).await;
    assert_eq!(done["file_hash"], sha256_hex(&bytes));
    assert!(done["etag"].as_str().unwrap().ends_with("-3"), "{done}");
}
