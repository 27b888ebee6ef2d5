//! Faults in the middle of a confirmation, injected by proxies in front of DynamoDB Local
//! and local-s3 (`api_tests::fault_proxy`): the confirmation runs in-process against the
//! proxies, the end state is read straight from the services, and the retry goes through
//! the API. Each fault: the client sees a 503 envelope with `Retry-After` (or the worker's
//! run fails as retryable and its task keeps what it had), nothing is half-recorded, and a
//! retry converges on exactly one completed upload with one object and its bytes in place.
//! (A dependency that never answers: `hung_dependency.rs`.)

use api_tests::fault_proxy::{Fault, FaultProxy, dynamodb, slow_down, throttled};
use api_tests::{Tenant, expect_json, objects_of, sha256_hex, stored_sha256};
use bucket_uploads::app::{App, Settings};
use bucket_uploads::aws::function_sdk_config;
use bucket_uploads::confirm::worker::{self, WorkerError};
use bucket_uploads::confirm::{ConfirmError, confirm_upload};
use bucket_uploads::dispatch::WorkerEvent;
use bucket_uploads::http::{ApiError, error_response};
use bucket_uploads::ids::{TaskId, UploadId};
use bucket_uploads::model::{BatchConfirmInputs, ConfirmItem, Task, TaskKind, TaskStatus, Upload, UploadStatus};
use bucket_uploads::time::Timestamp;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The app a function builds, with DynamoDB and S3 behind fault proxies.
struct Faulty {
    app: App,
    dynamodb: FaultProxy,
    s3: FaultProxy,
}

#[derive(Debug)]
struct Endpoints {
    dynamodb: String,
    s3: String,
}

impl aws_types::service_config::LoadServiceConfig for Endpoints {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != "AWS_ENDPOINT_URL" {
            return std::env::var(key.env()).ok();
        }
        match key.service_id() {
            "DynamoDB" => Some(self.dynamodb.clone()),
            "S3" => Some(self.s3.clone()),
            other => std::env::var(format!("AWS_ENDPOINT_URL_{}", other.to_uppercase())).ok(),
        }
    }
}

async fn faulty() -> Faulty {
    let upstream = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name}: run through `make test`"));
    let dynamodb = FaultProxy::start(&upstream("AWS_ENDPOINT_URL_DYNAMODB")).await;
    let s3 = FaultProxy::start(&upstream("AWS_ENDPOINT_URL_S3")).await;
    let sdk = function_sdk_config()
        .to_builder()
        .service_config(Endpoints {
            dynamodb: dynamodb.url().to_owned(),
            s3: s3.url().to_owned(),
        })
        .build();
    let app = App::new(&sdk, &Settings::from_env().expect("make test sets the environment"));
    Faulty { app, dynamodb, s3 }
}

/// An upload created and PUT through the API, with the SHA-256 of its bytes.
async fn uploaded(tenant: &Tenant, label: &str) -> (UploadId, String) {
    let bytes = format!("{label} {:?}", Instant::now()).into_bytes();
    let upload = tenant.uploaded(&bytes, json!({})).await;
    let id = UploadId::parse(upload["upload_id"].as_str().expect("upload_id")).expect("an upload id");
    (id, sha256_hex(&bytes))
}

async fn task_of(tenant: &Tenant, id: &TaskId) -> Task {
    tenant.app.store.task(id).await.expect("read").expect("the task exists")
}

async fn stored(tenant: &Tenant, id: &UploadId) -> Upload {
    tenant
        .app
        .store
        .upload(id)
        .await
        .expect("read")
        .expect("the upload exists")
}

/// The client's answer to `err`: status and `Retry-After`.
fn answer(err: ConfirmError) -> (u16, Option<String>) {
    let response = error_response(&ApiError::from(err));
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (response.status().as_u16(), retry_after)
}

/// Nothing recorded: PENDING (or as `status`), no object record, counters = recount.
async fn nothing_recorded(tenant: &Tenant, id: &UploadId, status: UploadStatus) {
    let upload = stored(tenant, id).await;
    assert_eq!(upload.status, status, "{upload:?}");
    assert_eq!(upload.object_id, None);
    let ids = BTreeSet::from([id.to_string()]);
    assert!(objects_of(&tenant.app, &ids).await.is_empty(), "an object was recorded");
    assert_eq!(tenant.counted().await, tenant.recount().await);
}

/// Retried through the API: COMPLETED, one object, the bytes at the final key, none staged.
async fn retry_converges(tenant: &Tenant, id: &UploadId, sha: &str) {
    let confirmed = expect_json(tenant.confirm(id, None).await, 200).await;
    assert_eq!(confirmed["status"], "COMPLETED", "{confirmed}");
    exactly_one_object(tenant, id, sha).await;
}

async fn exactly_one_object(tenant: &Tenant, id: &UploadId, sha: &str) {
    let upload = stored(tenant, id).await;
    assert_eq!(upload.status, UploadStatus::Completed);
    let ids = BTreeSet::from([id.to_string()]);
    let objects = objects_of(&tenant.app, &ids).await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(
        upload.object_id.as_ref().map(|o| o.to_string()),
        Some(objects[0].clone())
    );
    assert_eq!(
        stored_sha256(&tenant.app, upload.final_key()).await.as_deref(),
        Some(sha)
    );
    assert_eq!(stored_sha256(&tenant.app, &upload.staging_key()).await, None);
    assert_eq!(tenant.counted().await, tenant.recount().await);
}

#[tokio::test]
async fn dynamodb_throttling_the_recording_transaction_is_a_503_and_a_retry_completes_once() {
    let tenant = Tenant::new().await;
    let (id, sha) = uploaded(&tenant, "throttled").await;
    let faulty = faulty().await;
    faulty.dynamodb.fail(dynamodb("TransactWriteItems"), throttled());

    let started = Instant::now();
    let result = confirm_upload(&faulty.app, &tenant.scope(), &tenant.bucket_ref(), &id, None, false).await;
    let took = started.elapsed();
    let err = result.expect_err("the transaction was throttled");
    assert_eq!(answer(err), (503, Some("1".to_owned())));
    assert!(faulty.dynamodb.faulted() >= 1);
    // The SDK's retries with backoff, then the answer: seconds, not the function's timeout.
    assert!(took < Duration::from_secs(10), "503 after {took:?}");
    println!(
        "throttled transaction: 503 after {took:?} ({} attempts)",
        faulty.dynamodb.faulted()
    );

    // The bytes were copied before the transaction; nothing was recorded.
    nothing_recorded(&tenant, &id, UploadStatus::Pending).await;
    retry_converges(&tenant, &id, &sha).await;
}

#[tokio::test]
async fn s3_failing_during_the_copy_is_a_503_and_a_retry_completes_once() {
    let tenant = Tenant::new().await;
    let (id, sha) = uploaded(&tenant, "copy fails").await;
    let faulty = faulty().await;
    // CopyObject: a PUT to the final key (the staging key is the source).
    let final_key = stored(&tenant, &id).await.final_key().to_owned();
    faulty.s3.fail(
        move |call| call.method == "PUT" && call.path.ends_with(&final_key),
        slow_down(),
    );

    let started = Instant::now();
    let err = confirm_upload(&faulty.app, &tenant.scope(), &tenant.bucket_ref(), &id, None, false)
        .await
        .expect_err("the copy failed");
    let took = started.elapsed();
    assert_eq!(answer(err), (503, Some("1".to_owned())));
    assert!(took < Duration::from_secs(10), "503 after {took:?}");
    println!("failed copy: 503 after {took:?}");
    nothing_recorded(&tenant, &id, UploadStatus::Pending).await;
    retry_converges(&tenant, &id, &sha).await;
}

/// The upload is recorded before its staged copy is deleted: a delete that fails leaves the
/// staged bytes to the staging prefix's lifecycle rule, and the client's answer is the
/// completion, which a retry repeats without a second object.
#[tokio::test]
async fn s3_failing_between_the_copy_and_the_staged_delete_completes_once() {
    let tenant = Tenant::new().await;
    let (id, sha) = uploaded(&tenant, "delete fails").await;
    let faulty = faulty().await;
    faulty.s3.fail(
        |call| call.method == "DELETE" || (call.method == "POST" && call.query.contains("delete")),
        slow_down(),
    );

    let confirmed = confirm_upload(&faulty.app, &tenant.scope(), &tenant.bucket_ref(), &id, None, false)
        .await
        .expect("recorded before the delete");
    assert_eq!(confirmed.status, UploadStatus::Completed);
    assert!(faulty.s3.faulted() >= 1, "the staged delete was attempted");
    let upload = stored(&tenant, &id).await;
    assert_eq!(
        stored_sha256(&tenant.app, &upload.staging_key()).await.as_deref(),
        Some(sha.as_str()),
        "left for the lifecycle rule"
    );
    let again = expect_json(tenant.confirm(&id, None).await, 200).await;
    assert_eq!(
        again["object_id"].as_str(),
        confirmed.object_id.as_ref().map(|o| o.as_str())
    );
    let ids = BTreeSet::from([id.to_string()]);
    assert_eq!(objects_of(&tenant.app, &ids).await.len(), 1);
    assert_eq!(tenant.counted().await, tenant.recount().await);
}

/// The worker dies after verifying (the bytes are copied) and before its recording
/// transaction lands; Step Functions runs it again, and the task completes once.
#[tokio::test]
async fn a_worker_killed_between_verifying_and_recording_completes_on_its_retry() {
    let tenant = Tenant::new().await;
    let (id, sha) = uploaded(&tenant, "worker killed").await;
    let task = tenant.processing(&stored(&tenant, &id).await).await;
    let faulty = faulty().await;
    faulty.dynamodb.fail(dynamodb("TransactWriteItems"), Fault::Hang);

    let app = faulty.app.clone();
    let task_id = task.task_id.clone();
    let run = tokio::spawn(async move { worker::run(&app, &task_id).await });
    tokio::time::timeout(Duration::from_secs(60), faulty.dynamodb.first_fault())
        .await
        .expect("the worker reached its recording transaction");
    run.abort();
    let _ = run.await;

    nothing_recorded(&tenant, &id, UploadStatus::Processing).await;
    let pending = task_of(&tenant, &task.task_id).await;
    assert_eq!(pending.status, TaskStatus::Pending);

    let event = WorkerEvent::Confirm {
        task_id: task.task_id.clone(),
    };
    worker::handle(&tenant.app, event, Timestamp::now().plus_seconds(900))
        .await
        .expect("the retried run completes");
    let done = task_of(&tenant, &task.task_id).await;
    assert_eq!(done.status, TaskStatus::Completed);
    exactly_one_object(&tenant, &id, &sha).await;
}

/// One item of a batch meets an S3 outage: the others complete, the run fails as retryable
/// with their results saved, and the retried run completes the last one.
#[tokio::test]
async fn a_batch_item_failing_is_retried_by_the_next_run() {
    let tenant = Tenant::new().await;
    let mut items = Vec::new();
    for i in 0..3 {
        items.push(uploaded(&tenant, &format!("batch item {i}")).await);
    }
    let task = Task::pending(
        TaskId::generate(),
        tenant.namespace.namespace_id.clone(),
        TaskKind::ConfirmBatch {
            inputs: BatchConfirmInputs {
                bucket_id: tenant.bucket.bucket_id.clone(),
                confirmations: items
                    .iter()
                    .map(|(id, _)| ConfirmItem {
                        upload_id: id.clone(),
                        etag: None,
                        file_size_bytes: None,
                    })
                    .collect(),
            },
            outputs: Vec::new(),
        },
        Timestamp::now(),
    );
    tenant.app.store.insert_task(&task).await.expect("insert the task");
    let faulty = faulty().await;
    let failing = items[1].0.to_string();
    faulty.s3.fail(move |call| call.path.contains(&failing), slow_down());

    let event = || WorkerEvent::ConfirmBatch {
        task_id: task.task_id.clone(),
    };
    let first = worker::handle(&faulty.app, event(), Timestamp::now().plus_seconds(900)).await;
    assert!(matches!(first, Err(WorkerError::Retryable(_))), "{first:?}");
    let saved = task_of(&tenant, &task.task_id).await;
    assert_eq!(saved.status, TaskStatus::Processing);
    let TaskKind::ConfirmBatch { outputs, .. } = &saved.kind else {
        panic!("a batch task")
    };
    let done: BTreeSet<String> = outputs.iter().map(|r| r.upload_id.to_string()).collect();
    assert_eq!(done, BTreeSet::from([items[0].0.to_string(), items[2].0.to_string()]));
    nothing_recorded(&tenant, &items[1].0, UploadStatus::Pending).await;

    worker::handle(&tenant.app, event(), Timestamp::now().plus_seconds(900))
        .await
        .expect("the retried run completes");
    let finished = task_of(&tenant, &task.task_id).await;
    assert_eq!(finished.status, TaskStatus::Completed);
    for (id, sha) in &items {
        exactly_one_object(&tenant, id, sha).await;
    }
}
