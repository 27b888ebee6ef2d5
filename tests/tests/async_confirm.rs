//! Asynchronous confirmation: the confirm endpoint answers PROCESSING at once and the worker
//! (the real binary, run by `cargo lambda watch`, started through its Lambda Invoke API)
//! completes the task and the upload.

use api_tests::{Tenant, expect_error, expect_json, expect_validation, objects_of, put, sha256_hex};
use bucket_uploads::confirm::worker::{self, WorkerError};
use bucket_uploads::confirm::{ConfirmRequest, verify};
use bucket_uploads::model::{CONFIRM_TASK_TYPE, Task, TaskStatus, Upload, UploadStatus};
use serde_json::{Value, json};
use std::time::Duration;

const MIB: usize = 1024 * 1024;

async fn confirm_with(tenant: &Tenant, upload_id: &str, query: &str, body: Value) -> Value {
    let path = format!("{}/{upload_id}/confirm{query}", tenant.uploads_path());
    expect_json(
        tenant
            .request(reqwest::Method::POST, &path)
            .json(&body)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await
}

/// The peak resident memory of the running worker process, from /proc (Linux).
fn worker_peak_memory_kib() -> Option<u64> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        if program.ends_with(b"/confirm-worker") {
            let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            return line.split_whitespace().nth(1)?.parse().ok();
        }
    }
    None
}

#[tokio::test]
async fn a_150_mb_object_is_confirmed_asynchronously_with_bounded_memory() {
    let tenant = Tenant::new().await;
    let bytes: Vec<u8> = (0..150 * MIB).map(|i| (i % 251) as u8).collect();
    let created = tenant
        .create_upload(
            json!({"filename": "big.bin", "content_type": "application/octet-stream", "file_size_bytes": bytes.len()}),
        )
        .await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let url = created["presigned_url"].as_str().unwrap();
    assert_eq!(
        put(url, &[("content-type", "application/octet-stream")], bytes.clone()).await,
        200
    );

    // No async flag: the size alone sends it to the background.
    let accepted = confirm_with(&tenant, upload_id, "", Value::Null).await;
    assert_eq!(accepted["status"], "PROCESSING", "{accepted}");
    assert_eq!(accepted["upload_id"], upload_id);
    let task_id = accepted["task_id"].as_str().expect("a task id").to_owned();
    assert!(task_id.starts_with("task_"));
    assert!(accepted["message"].is_string());
    // A second confirmation while it runs answers with the same task.
    let again = confirm_with(&tenant, upload_id, "", Value::Null).await;
    assert_eq!(again["task_id"], task_id.as_str());

    let task = tenant.wait_for_task(&task_id, Duration::from_secs(300)).await;
    assert_eq!(task["status"], "COMPLETED", "{task}");
    assert_eq!(task["task_type"], CONFIRM_TASK_TYPE);
    assert_eq!(task["inputs"][0]["upload_id"], upload_id);
    let expected_hash = sha256_hex(&bytes);
    assert_eq!(task["outputs"][0]["file_hash"], expected_hash.as_str());
    assert_eq!(task["outputs"][0]["is_duplicate"], false);

    let upload = expect_json(tenant.get_upload(upload_id, "").await, 200).await;
    assert_eq!(upload["status"], "COMPLETED");
    assert_eq!(upload["file_hash"], expected_hash.as_str());
    let key = upload["s3_key"].as_str().unwrap();
    assert_eq!(
        api_tests::stored_sha256(&tenant.app, key).await,
        Some(expected_hash.clone())
    );
    assert_eq!(upload["task_id"], task_id.as_str());
    assert_eq!(upload["object_id"], task["outputs"][0]["object_id"]);

    let peak = worker_peak_memory_kib().expect("the worker process is running under cargo lambda watch");
    println!(
        "confirm-worker peak resident memory: {} MiB for a 150 MiB object",
        peak / 1024
    );
    assert!(
        peak < 64 * 1024,
        "the worker held {peak} KiB: memory must not grow with the object"
    );
}

#[tokio::test]
async fn async_true_confirms_in_the_background_and_tasks_are_tenant_scoped() {
    let tenant = Tenant::new().await;
    let bytes = b"small but asynchronous".to_vec();
    let created = tenant.uploaded(&bytes, json!({})).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let accepted = confirm_with(
        &tenant,
        upload_id,
        "?async=true",
        json!({"file_size_bytes": bytes.len()}),
    )
    .await;
    assert_eq!(accepted["status"], "PROCESSING");
    let task_id = accepted["task_id"].as_str().unwrap();

    let task = tenant.wait_for_task(task_id, Duration::from_secs(60)).await;
    let fields: Vec<&str> = task.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields.len(), 9, "{task}");
    for field in [
        "task_id",
        "task_type",
        "status",
        "inputs",
        "outputs",
        "error",
        "error_message",
        "created_at",
        "updated_at",
    ] {
        assert!(task.get(field).is_some(), "{field} missing from {task}");
    }
    assert!(task["inputs"].is_array() && task["outputs"].is_array(), "{task}");
    assert_eq!(task["status"], "COMPLETED");
    assert_eq!(task["error"], Value::Null);
    assert_eq!(task["outputs"][0]["file_hash"], sha256_hex(&bytes).as_str());
    // Confirming a completed upload answers as before.
    let again = confirm_with(&tenant, upload_id, "?async=true", Value::Null).await;
    assert_eq!(again["status"], "COMPLETED");
    assert_eq!(again["task_id"], task_id);

    let other = Tenant::new().await;
    let foreign = other
        .request(reqwest::Method::GET, &format!("/v1/tasks/{task_id}"))
        .send()
        .await
        .unwrap();
    let envelope = expect_error(foreign, 404, "NotFoundError").await;
    assert_eq!(envelope["error"]["details"]["resource"], "task");
    // Mixpeek's SDK sends no X-Namespace to the tasks endpoint: the key's tenant decides.
    let without_namespace = |t: &Tenant| {
        api_tests::http()
            .get(format!("{}/v1/tasks/{task_id}", api_tests::api_url()))
            .bearer_auth(&t.api_key)
            .send()
    };
    let own = expect_json(without_namespace(&tenant).await.unwrap(), 200).await;
    assert_eq!(own["task_id"], task_id);
    expect_error(without_namespace(&other).await.unwrap(), 404, "NotFoundError").await;
    // A namespace of the same tenant that is not the task's does not see it.
    let sibling = bucket_uploads::tenancy::create_namespace(&tenant.app.store, &tenant.tenant_id, "sibling")
        .await
        .unwrap();
    let in_sibling = tenant
        .request_in(&sibling.name, reqwest::Method::GET, &format!("/v1/tasks/{task_id}"))
        .send()
        .await
        .unwrap();
    expect_error(in_sibling, 404, "NotFoundError").await;
    let malformed = tenant
        .request(reqwest::Method::GET, "/v1/tasks/nope")
        .send()
        .await
        .unwrap();
    assert_eq!(expect_validation(malformed).await, vec![json!(["path", "task_id"])]);
}

#[tokio::test]
async fn a_final_error_fails_the_task_and_the_upload() {
    let tenant = Tenant::new().await;
    let created = tenant.uploaded(b"twelve bytes", json!({})).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let accepted = confirm_with(&tenant, upload_id, "?async=true", json!({"file_size_bytes": 13})).await;
    let task_id = accepted["task_id"].as_str().unwrap();
    let task = tenant.wait_for_task(task_id, Duration::from_secs(60)).await;
    assert_eq!(task["status"], "FAILED", "{task}");
    let message = task["error"].as_str().unwrap();
    assert!(
        message.contains("file_size_bytes") && message.contains("13"),
        "{message}"
    );
    let upload = expect_json(tenant.get_upload(upload_id, "").await, 200).await;
    assert_eq!(upload["status"], "FAILED");
    assert!(upload["message"].as_str().unwrap().contains(message), "{upload}");
    let retry = tenant.confirm(upload_id, None).await;
    assert_eq!(
        expect_error(retry, 400, "BadRequestError").await["error"]["code"],
        "upload_failed"
    );
    assert!(objects_of(&tenant.app, &[upload_id.to_owned()].into()).await.is_empty());
    // The failed upload's bytes are gone, staged and copied alike.
    let staging_key = created["s3_key"].as_str().unwrap();
    assert!(!tenant.app.objects.exists(staging_key).await.unwrap());
    let final_key = staging_key.strip_prefix("incoming/").unwrap();
    assert!(!tenant.app.objects.exists(final_key).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_runs_interrupted_or_repeated_converge_on_one_object() {
    let tenant = Tenant::new().await;
    let created = tenant.uploaded(b"run me more than once", json!({})).await;
    let upload: Upload = serde_json::from_value(created).unwrap();
    let task = tenant.processing(&upload).await;

    // A run that copied and hashed the object, then died before recording anything.
    let current = tenant.app.store.upload(&upload.upload_id).await.unwrap().unwrap();
    verify(
        &tenant.app.objects,
        &current,
        &ConfirmRequest::default(),
        u64::MAX,
        None,
        None,
    )
    .await
    .unwrap();
    assert!(tenant.app.objects.exists(current.final_key()).await.unwrap());

    // The retry, and an overlapping duplicate execution of it.
    let runs = (0..3).map(|_| {
        let app = tenant.app.clone();
        let task_id = task.task_id.clone();
        tokio::spawn(async move { worker::run(&app, &task_id).await })
    });
    let outputs_of = |task: &Task| serde_json::to_value(task.view()).unwrap()["outputs"].clone();
    let mut outputs = Vec::new();
    for run in runs {
        let finished = run.await.unwrap().unwrap();
        assert_eq!(finished.status, TaskStatus::Completed);
        outputs.push(outputs_of(&finished));
    }
    assert!(outputs.iter().all(|o| o == &outputs[0]));
    let objects = objects_of(&tenant.app, &[upload.upload_id.to_string()].into()).await;
    assert_eq!(objects.len(), 1);
    assert_eq!(json!(objects[0]), outputs[0][0]["object_id"]);
    // A run after the end changes nothing.
    assert_eq!(
        outputs_of(&worker::run(&tenant.app, &task.task_id).await.unwrap()),
        outputs[0]
    );
    assert_eq!(
        worker::fail(&tenant.app, &task.task_id, "late").await.unwrap().status,
        TaskStatus::Completed
    );
}

#[tokio::test]
async fn an_unreachable_dependency_is_a_retryable_error_and_the_retry_completes() {
    let tenant = Tenant::new().await;
    let created = tenant.uploaded(b"retry me", json!({})).await;
    let upload: Upload = serde_json::from_value(created).unwrap();
    let task = tenant.processing(&upload).await;

    // The same app with S3 out of reach (nothing listens on port 1).
    // Without the environment's endpoint overrides, which would win over this one.
    #[derive(Debug)]
    struct NoOverrides;
    impl aws_types::service_config::LoadServiceConfig for NoOverrides {
        fn load_config(&self, _: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
            None
        }
    }
    let unreachable = bucket_uploads::aws::function_sdk_config()
        .to_builder()
        .service_config(NoOverrides)
        .endpoint_url("http://127.0.0.1:1")
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    let broken = bucket_uploads::App {
        objects: bucket_uploads::objects::ObjectStore::new(
            &unreachable,
            true,
            &tenant.app.calls,
            tenant.app.objects.bucket(),
        ),
        ..tenant.app.clone()
    };
    let err = worker::run(&broken, &task.task_id).await.unwrap_err();
    assert!(matches!(err, WorkerError::Retryable(_)), "{err:?}");
    assert_eq!(err.error_type(), "RetryableError");
    let unchanged = tenant.app.store.task(&task.task_id).await.unwrap().unwrap();
    assert_eq!(unchanged.status, TaskStatus::Pending);

    let done = worker::run(&tenant.app, &task.task_id).await.unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    let upload = tenant.app.store.upload(&upload.upload_id).await.unwrap().unwrap();
    assert_eq!(upload.status, UploadStatus::Completed);
}

/// The worker, invoked as the state machine invokes it, with payloads that make no sense:
/// each run fails at once as final (the state machine does not retry it), saying why.
#[tokio::test]
async fn a_malformed_worker_event_fails_at_once_as_final() {
    let url = format!(
        "{}/2015-03-31/functions/confirm-worker/invocations",
        api_tests::api_url()
    );
    let unknown_task = bucket_uploads::ids::TaskId::generate();
    for (payload, says) in [
        (json!({"action": "confirm"}), "malformed worker event"),
        (
            json!({"action": "explode", "task_id": unknown_task}),
            "malformed worker event",
        ),
        (json!(["confirm"]), "malformed worker event"),
        (json!({"action": "confirm", "task_id": unknown_task}), "unknown task"),
    ] {
        let response = api_tests::http().post(&url).json(&payload).send().await.unwrap();
        assert!(!response.status().is_success(), "{payload} succeeded");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errorType"], "FinalError", "{payload}: {body}");
        let message = body["errorMessage"].as_str().unwrap();
        assert!(message.contains(says), "{payload}: {message}");
    }
}
