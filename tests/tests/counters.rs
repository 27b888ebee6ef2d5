//! A bucket's counters (behind List Uploads' `total` and `stats` for plain listings) stay
//! equal to a full recount after concurrent creates (with and without a declared size),
//! confirms, failures and deletes; so does the tenant's usage (`quota`).

use api_tests::{Tenant, expect_json, put};
use bucket_uploads::confirm::{ConfirmRequest, Origin, confirm};
use bucket_uploads::time::Timestamp;
use bucket_uploads::uploads::{NewUpload, create_upload};
use serde_json::{Value, json};
use std::sync::Arc;

const CLIENT: Origin<'static> = Origin::Client { run_async: false };

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counters_equal_a_recount_after_concurrent_changes() {
    let tenant = Arc::new(Tenant::new().await);
    // cargo lambda watch runs one request per function at a time anyway; sending the HTTP
    // half one by one keeps bursts from piling up in its queue, while the in-process half
    // races truly in parallel.
    let http_turn = Arc::new(tokio::sync::Mutex::new(()));

    // 40 creates at once, in-process (truly parallel) and over HTTP.
    let mut tasks = Vec::new();
    for i in 0..40usize {
        let (tenant, http_turn) = (Arc::clone(&tenant), Arc::clone(&http_turn));
        tasks.push(tokio::spawn(async move {
            let content = format!("content {}", i % 7).into_bytes();
            let mut body = json!({"filename": format!("f{i}.bin"), "content_type": "application/octet-stream", "file_size_bytes": content.len()});
            // Half of those confirmed below race S3's ObjectCreated event too; the rest stay
            // PENDING after their PUT (10 are deleted or left pending below).
            body["auto_confirm"] = Value::Bool(i < 30 && i % 2 == 1);
            if i % 5 == 4 {
                // Counted with no bytes while pending, with its real size once confirmed.
                body["file_size_bytes"] = Value::Null;
            }
            let upload = if i % 4 == 0 {
                let _turn = http_turn.lock().await;
                let created = tenant.create_upload(body).await;
                // The record, as every confirmation and delete reads it (a response does not
                // carry the tenant the upload counts against).
                let upload_id = bucket_uploads::ids::UploadId::parse(created["upload_id"].as_str().unwrap()).unwrap();
                let stored = tenant.app.store.upload(&upload_id).await.unwrap().unwrap();
                let url = created["presigned_url"].as_str().map(str::to_owned);
                bucket_uploads::model::Upload {
                    presigned_url: url,
                    ..stored
                }
            } else {
                create_upload(&tenant.app, &tenant.scope(), &tenant.bucket_ref(), Some(&body)).await.unwrap()
            };
            let url = upload.presigned_url.clone().unwrap();
            assert_eq!(put(&url, &[("content-type", "application/octet-stream")], content).await, 200);
            upload
        }));
    }
    let mut uploads = Vec::new();
    for task in tasks {
        uploads.push(task.await.unwrap());
    }

    // Confirm 30 of them at once (several twice), duplicates included; fail 6 expired ones.
    let mut tasks = Vec::new();
    for (i, upload) in uploads.iter().take(30).enumerate() {
        for _ in 0..(1 + i % 2) {
            let (tenant, upload, http_turn) = (Arc::clone(&tenant), upload.clone(), Arc::clone(&http_turn));
            tasks.push(tokio::spawn(async move {
                if i % 3 == 0 {
                    let _turn = http_turn.lock().await;
                    expect_json(tenant.confirm(&upload.upload_id, None).await, 200).await;
                } else {
                    let request = ConfirmRequest::default();
                    confirm(&tenant.app, &tenant.bucket, upload, &request, CLIENT)
                        .await
                        .unwrap();
                }
                String::new()
            }));
        }
    }
    for i in 0..6 {
        let tenant = Arc::clone(&tenant);
        tasks.push(tokio::spawn(async move {
            let body =
                json!({"filename": format!("old{i}.txt"), "content_type": "text/plain", "file_size_bytes": 100 + i});
            let new = NewUpload::parse(Some(&body), 1000).unwrap();
            let old = new.into_pending(
                bucket_uploads::ids::UploadId::generate(),
                &tenant.bucket,
                Timestamp::now().plus_seconds(-4000),
            );
            tenant
                .app
                .store
                .insert_upload(&old, &bucket_uploads::quota::Quota::DEFAULT)
                .await
                .unwrap();
            let request = ConfirmRequest::default();
            assert!(
                confirm(&tenant.app, &tenant.bucket, old.clone(), &request, CLIENT)
                    .await
                    .is_err()
            );
            old.upload_id.to_string()
        }));
    }
    // Delete 4 of the 10 left pending at the same time, in-process and over HTTP.
    for (i, upload) in uploads.iter().skip(30).take(4).enumerate() {
        let (tenant, upload_id, http_turn) = (Arc::clone(&tenant), upload.upload_id.clone(), Arc::clone(&http_turn));
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let _turn = http_turn.lock().await;
                let path = format!("{}/{upload_id}", tenant.uploads_path());
                let response = tenant.request(reqwest::Method::DELETE, &path).send().await.unwrap();
                assert_eq!(response.status(), 204);
            } else {
                let (scope, bucket) = (tenant.scope(), tenant.bucket_ref());
                bucket_uploads::uploads::delete_upload(&tenant.app, &scope, &bucket, &upload_id, true)
                    .await
                    .unwrap();
            }
            upload_id.to_string()
        }));
    }
    // Confirm tasks answer nothing, delete tasks the deleted id, failing tasks the failed one.
    let mut failed = Vec::new();
    for task in tasks {
        let id = task.await.unwrap();
        if !id.is_empty() && uploads.iter().all(|u| u.upload_id.as_str() != id) {
            failed.push(id);
        }
    }
    assert_eq!(failed.len(), 6);
    // And 2 of the failed ones.
    for upload_id in failed.iter().take(2) {
        let (scope, bucket) = (tenant.scope(), tenant.bucket_ref());
        let upload_id = bucket_uploads::ids::UploadId::parse(upload_id).unwrap();
        bucket_uploads::uploads::delete_upload(&tenant.app, &scope, &bucket, &upload_id, true)
            .await
            .unwrap();
    }

    let recounted = tenant.recount().await;
    assert_eq!(recounted.total_uploads, 40);
    assert_eq!(
        serde_json::to_value(&recounted.uploads_by_status).unwrap(),
        json!({"PENDING": 6, "COMPLETED": 30, "FAILED": 4})
    );
    assert_eq!(tenant.counted().await, recounted);
    // The tenant's usage (quotas) moves in the same transactions: it equals its recount too
    // (6 PENDING, 30 COMPLETED; the six created as already expired count against nothing).
    let usage = tenant.recount_usage().await;
    assert_eq!(usage.pending_uploads, 6);
    assert!(usage.bytes_stored > 0);
    assert_eq!(tenant.usage().await, usage);

    // And the API's plain listing reports exactly that.
    let listed = expect_json(tenant.list("", json!({})).await, 200).await;
    assert_eq!(listed["stats"], serde_json::to_value(&recounted).unwrap());
    assert_eq!(listed["pagination"]["total"], 40);
}
