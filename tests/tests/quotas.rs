//! Storage quotas per tenant (issue 16): bytes stored plus reserved, pending uploads, and the
//! size of one file, enforced by create, batch create and confirm against the local
//! services, kept exact in the transactions that change uploads, readable at `/v1/usage`.

use api_tests::*;
use bucket_uploads::quota::{QuotaOverride, Usage};
use bucket_uploads::uploads::create_upload;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

fn body(name: &str, size: Option<u64>) -> Value {
    let mut body = json!({"filename": name, "content_type": "application/octet-stream"});
    if let Some(size) = size {
        body["file_size_bytes"] = size.into();
    }
    body
}

async fn create(tenant: &Tenant, size: Option<u64>) -> reqwest::Response {
    tenant
        .request(Method::POST, &tenant.uploads_path())
        .json(&body("f.bin", size))
        .send()
        .await
        .expect("create upload")
}

async fn usage_over_http(tenant: &Tenant) -> Value {
    let response = tenant
        .request(Method::GET, "/v1/usage")
        .send()
        .await
        .expect("get usage");
    expect_json(response, 200).await
}

async fn delete(tenant: &Tenant, upload_id: &str) {
    let path = format!("{}/{upload_id}", tenant.uploads_path());
    let response = tenant.request(Method::DELETE, &path).send().await.expect("delete");
    assert_eq!(response.status(), 204);
}

fn quota(max_bytes: u64, max_pending_uploads: u64) -> QuotaOverride {
    QuotaOverride {
        max_bytes: Some(max_bytes),
        max_pending_uploads: Some(max_pending_uploads),
        max_file_size_bytes: None,
    }
}

#[tokio::test]
async fn creates_fill_the_storage_quota_the_next_is_refused_and_deleting_frees_it() {
    let tenant = Tenant::new().await;
    tenant.set_quota(quota(100, 50)).await;
    let mut created = Vec::new();
    for _ in 0..4 {
        created.push(expect_json(create(&tenant, Some(25)).await, 200).await);
    }
    let refused = expect_error(create(&tenant, Some(1)).await, 403, "ForbiddenError").await;
    assert_eq!(refused["error"]["code"], "storage_quota_exceeded");
    assert_eq!(
        refused["error"]["details"],
        json!({"max_bytes": 100, "bytes_used": 100, "requested_bytes": 1})
    );
    // An upload of undeclared size reserves nothing until it is confirmed.
    expect_json(create(&tenant, None).await, 200).await;

    let usage = usage_over_http(&tenant).await;
    assert_eq!(usage["tenant_id"], tenant.tenant_id.as_str());
    assert_eq!(
        (&usage["bytes_used"], &usage["bytes_reserved"], &usage["bytes_stored"]),
        (&json!(100), &json!(100), &json!(0))
    );
    assert_eq!(
        (&usage["pending_uploads"], &usage["max_pending_uploads"]),
        (&json!(5), &json!(50))
    );
    assert_eq!(usage["max_bytes"], 100);

    delete(&tenant, created[0]["upload_id"].as_str().unwrap()).await;
    expect_json(create(&tenant, Some(25)).await, 200).await;
    expect_error(create(&tenant, Some(1)).await, 403, "ForbiddenError").await;
    assert_eq!(tenant.usage().await, tenant.recount_usage().await);
}

#[tokio::test]
async fn pending_uploads_are_bounded_and_confirming_one_makes_room() {
    let tenant = Tenant::new().await;
    tenant.set_quota(quota(1_000_000, 3)).await;
    let first = tenant.uploaded(b"hello", json!({})).await;
    expect_json(create(&tenant, Some(5)).await, 200).await;
    expect_json(create(&tenant, None).await, 200).await;
    let refused = expect_error(create(&tenant, Some(5)).await, 403, "ForbiddenError").await;
    assert_eq!(refused["error"]["code"], "pending_uploads_exceeded");
    assert_eq!(
        refused["error"]["details"],
        json!({"max_pending_uploads": 3, "pending_uploads": 3, "requested": 1})
    );

    expect_json(tenant.confirm(first["upload_id"].as_str().unwrap(), None).await, 200).await;
    let usage = tenant.usage().await;
    assert_eq!(
        usage,
        Usage {
            bytes_stored: 5,
            bytes_reserved: 5,
            pending_uploads: 2
        }
    );
    expect_json(create(&tenant, Some(5)).await, 200).await;
    assert_eq!(tenant.usage().await, tenant.recount_usage().await);
}

#[tokio::test]
async fn a_batch_the_quota_cannot_hold_creates_nothing() {
    let tenant = Tenant::new().await;
    // 60 uploads take two transactions (50 + 10); room for 55 lets the first one through,
    // and the refusal of the second must take it back.
    tenant.set_quota(quota(55 * 10, 1000)).await;
    let uploads: Vec<Value> = (0..60).map(|i| body(&format!("f{i}.bin"), Some(10))).collect();
    let path = format!("{}/batch", tenant.uploads_path());
    let response = tenant
        .request(Method::POST, &path)
        .json(&json!({ "uploads": uploads }))
        .send()
        .await
        .unwrap();
    let refused = expect_error(response, 403, "ForbiddenError").await;
    assert_eq!(refused["error"]["code"], "storage_quota_exceeded");
    assert_eq!(refused["error"]["details"]["requested_bytes"], 600);
    assert_eq!(tenant.usage().await, Usage::default());
    let listed = expect_json(tenant.list("", json!({})).await, 200).await;
    assert_eq!(listed["pagination"]["total"], 0);

    // 55 fit.
    let response = tenant
        .request(Method::POST, &path)
        .json(&json!({ "uploads": uploads[..55] }))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(response, 200).await["total"], 55);
    assert_eq!(tenant.usage().await.bytes_reserved, 550);
    assert_eq!(tenant.usage().await, tenant.recount_usage().await);
}

#[tokio::test]
async fn a_confirmation_whose_bytes_exceed_the_quota_fails_the_upload_and_removes_them() {
    let tenant = Tenant::new().await;
    tenant.set_quota(quota(10, 10)).await;
    // Created without a size (reserving nothing), then 20 bytes are uploaded.
    let created = expect_json(create(&tenant, None).await, 200).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let url = created["presigned_url"].as_str().unwrap();
    let status = put(url, &[("content-type", "application/octet-stream")], vec![7; 20]).await;
    assert_eq!(status, 200);

    let refused = expect_error(tenant.confirm(upload_id, None).await, 403, "ForbiddenError").await;
    assert_eq!(refused["error"]["code"], "storage_quota_exceeded");
    assert_eq!(
        refused["error"]["details"],
        json!({"max_bytes": 10, "bytes_used": 0, "requested_bytes": 20})
    );
    let upload = expect_json(tenant.get_upload(upload_id, "").await, 200).await;
    assert_eq!(upload["status"], "FAILED");
    let staged = created["s3_key"].as_str().unwrap();
    let final_key = staged.strip_prefix("incoming/").unwrap();
    assert_eq!(stored_sha256(&tenant.app, staged).await, None, "staged bytes removed");
    assert_eq!(
        stored_sha256(&tenant.app, final_key).await,
        None,
        "copied bytes removed"
    );
    assert_eq!(tenant.usage().await, Usage::default());

    // A file the tenant's own size limit refuses is refused at creation like the bucket's.
    let other = Tenant::new().await;
    other
        .set_quota(QuotaOverride {
            max_file_size_bytes: Some(8),
            ..QuotaOverride::default()
        })
        .await;
    let locs = expect_validation(create(&other, Some(9)).await).await;
    assert_eq!(locs, vec![json!(["body", "file_size_bytes"])]);
    expect_json(create(&other, Some(8)).await, 200).await;
}

/// Creates racing for the last bytes of a quota never overshoot it: the production create
/// path, run concurrently in-process against DynamoDB Local, 20 times.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_overshoot_the_quota() {
    const RACERS: usize = 12;
    const ROOM: usize = 5;
    for trial in 0..20 {
        let tenant = Arc::new(Tenant::new().await);
        tenant.set_quota(quota(10 * ROOM as u64, 1000)).await;
        let mut racers = Vec::new();
        for i in 0..RACERS {
            let tenant = Arc::clone(&tenant);
            racers.push(tokio::spawn(async move {
                let body = body(&format!("r{i}.bin"), Some(10));
                create_upload(&tenant.app, &tenant.scope(), &tenant.bucket_ref(), Some(&body)).await
            }));
        }
        let mut admitted = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(_) => admitted += 1,
                Err(bucket_uploads::errors::RequestError::OverQuota(exceeded)) => {
                    assert_eq!(exceeded.code(), "storage_quota_exceeded");
                }
                Err(other) => panic!("trial {trial}: {other:?}"),
            }
        }
        assert_eq!(admitted, ROOM, "trial {trial}: exactly the room is admitted");
        let usage = tenant.usage().await;
        assert_eq!(usage.bytes_used(), 10 * ROOM as u64, "trial {trial}");
        assert_eq!(usage, tenant.recount_usage().await, "trial {trial}");
    }
}

/// Uploads created without a size, with more bytes than the quota holds: an asynchronous
/// confirmation fails its task (the state machine's Catch) and a batch confirmation reports
/// the item, each failing the upload and removing its bytes.
#[tokio::test]
async fn background_confirmations_refuse_bytes_over_the_quota_too() {
    let tenant = Tenant::new().await;
    tenant.set_quota(quota(10, 10)).await;
    let mut uploads = Vec::new();
    for _ in 0..2 {
        let created = expect_json(create(&tenant, None).await, 200).await;
        let url = created["presigned_url"].as_str().unwrap();
        assert_eq!(
            put(url, &[("content-type", "application/octet-stream")], vec![1; 11]).await,
            200
        );
        uploads.push(created);
    }
    let id = |i: usize| uploads[i]["upload_id"].as_str().unwrap().to_owned();

    let path = format!("{}/{}/confirm?async=true", tenant.uploads_path(), id(0));
    let accepted = expect_json(tenant.request(Method::POST, &path).send().await.unwrap(), 200).await;
    let task_id = accepted["task_id"].as_str().unwrap();
    let task = tenant.wait_for_task(task_id, std::time::Duration::from_secs(60)).await;
    assert_eq!(task["status"], "FAILED", "{task}");
    assert!(
        task["error"].as_str().unwrap().contains("Storage quota exceeded"),
        "{task}"
    );

    let path = format!("{}/confirm/batch", tenant.uploads_path());
    let body = json!({"confirmations": [{"upload_id": id(1)}]});
    let accepted = expect_json(
        tenant.request(Method::POST, &path).json(&body).send().await.unwrap(),
        200,
    )
    .await;
    let task_id = accepted["task_id"].as_str().unwrap();
    let task = tenant.wait_for_task(task_id, std::time::Duration::from_secs(60)).await;
    assert_eq!(task["outputs"][0]["code"], "storage_quota_exceeded", "{task}");

    for upload in &uploads {
        let upload_id = upload["upload_id"].as_str().unwrap();
        let stored = expect_json(tenant.get_upload(upload_id, "").await, 200).await;
        assert_eq!(stored["status"], "FAILED", "{stored}");
        let staged = upload["s3_key"].as_str().unwrap();
        assert_eq!(stored_sha256(&tenant.app, staged).await, None);
        assert_eq!(
            stored_sha256(&tenant.app, staged.strip_prefix("incoming/").unwrap()).await,
            None
        );
    }
    assert_eq!(tenant.usage().await, Usage::default());
}
