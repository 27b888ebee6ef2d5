//! Batch create (`POST …/uploads/batch`) and batch confirm (`POST …/uploads/confirm/batch`,
//! run by the worker under cargo lambda watch) against the local stack.

use api_tests::{Tenant, expect_error, expect_json, expect_validation, objects_of, put, sha256_hex};
use bucket_uploads::confirm::batch;
use bucket_uploads::confirm::worker::Ran;
use bucket_uploads::ids::{TaskId, UploadId};
use bucket_uploads::model::{BatchConfirmInputs, ConfirmItem, Task, TaskKind, TaskStatus};
use bucket_uploads::time::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

fn item(name: &str, bytes: &[u8]) -> Value {
    json!({"filename": name, "content_type": "application/octet-stream", "file_size_bytes": bytes.len()})
}

async fn batch_create(tenant: &Tenant, body: &Value) -> reqwest::Response {
    let path = format!("{}/batch", tenant.uploads_path());
    tenant
        .request(Method::POST, &path)
        .json(body)
        .send()
        .await
        .expect("batch create")
}

async fn batch_confirm(tenant: &Tenant, body: &Value) -> reqwest::Response {
    let path = format!("{}/confirm/batch", tenant.uploads_path());
    tenant.request(Method::POST, &path).json(body).send().await.unwrap()
}

/// PUTs each upload's bytes as Mixpeek documents it.
async fn put_all(created: &[Value], contents: &[Vec<u8>]) {
    for (upload, bytes) in created.iter().zip(contents) {
        let url = upload["presigned_url"].as_str().expect("a PUT URL");
        let headers = [("content-type", "application/octet-stream")];
        assert_eq!(put(url, &headers, bytes.clone()).await, 200);
    }
}

fn confirmations(created: &[Value]) -> Value {
    let items: Vec<Value> = created.iter().map(|u| json!({"upload_id": u["upload_id"]})).collect();
    json!({ "confirmations": items })
}

#[tokio::test]
async fn a_hundred_uploads_are_created_and_confirmed_in_two_calls() {
    let tenant = Tenant::new().await;
    let contents: Vec<Vec<u8>> = (0..100).map(|i| format!("bytes of file {i}").into_bytes()).collect();
    let items: Vec<Value> = contents
        .iter()
        .enumerate()
        .map(|(i, b)| item(&format!("f{i}.bin"), b))
        .collect();
    let body = json!({"uploads": items, "shared_metadata": {"campaign": "bulk"}});
    let created = expect_json(batch_create(&tenant, &body).await, 200).await;
    assert_eq!(created["total"], 100);
    let uploads = created["uploads"].as_array().unwrap().clone();
    for (i, upload) in uploads.iter().enumerate() {
        assert_eq!(upload["filename"], format!("f{i}.bin").as_str(), "request order");
        assert_eq!(upload["status"], "PENDING");
        assert_eq!(upload["metadata"]["campaign"], "bulk");
    }
    put_all(&uploads, &contents).await;

    let accepted = expect_json(batch_confirm(&tenant, &confirmations(&uploads)).await, 200).await;
    assert_eq!(accepted["confirmations_count"], 100);
    assert_eq!(accepted["status"], "PENDING");
    assert_eq!(accepted["task"]["task_type"], "api_buckets_uploads_batch_confirm");
    assert_eq!(accepted["task"]["inputs"].as_array().unwrap().len(), 100);
    let task_id = accepted["task_id"].as_str().unwrap();
    assert_eq!(accepted["task"]["task_id"], task_id);

    let task = tenant.wait_for_task(task_id, Duration::from_secs(240)).await;
    assert_eq!(task["status"], "COMPLETED", "{task}");
    let outputs = task["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 100);
    for ((output, upload), bytes) in outputs.iter().zip(&uploads).zip(&contents) {
        assert_eq!(output["upload_id"], upload["upload_id"], "outputs in request order");
        assert_eq!(output["status"], "COMPLETED");
        assert!(output["object_id"].is_string());
        let stored = expect_json(tenant.get_upload(upload["upload_id"].as_str().unwrap(), "").await, 200).await;
        assert_eq!(stored["status"], "COMPLETED");
        assert_eq!(stored["file_hash"], sha256_hex(bytes).as_str());
    }
    assert_eq!(tenant.counted().await, tenant.recount().await);
}

#[tokio::test]
async fn a_batch_is_validated_all_or_nothing_and_a_retry_creates_nothing_twice() {
    let tenant = Tenant::new().await;
    let too_many: Vec<Value> = (0..101).map(|i| item(&format!("{i}.bin"), b"x")).collect();
    let refused = batch_create(&tenant, &json!({"uploads": too_many})).await;
    assert_eq!(expect_validation(refused).await, vec![json!(["body", "uploads"])]);

    let mut items: Vec<Value> = (0..10).map(|i| item(&format!("{i}.bin"), b"abc")).collect();
    items[7]["filename"] = json!("../escape");
    let refused = batch_create(&tenant, &json!({"uploads": items})).await;
    assert_eq!(
        expect_validation(refused).await,
        vec![json!(["body", "uploads", 7, "filename"])]
    );
    let listed = expect_json(tenant.list("", json!({})).await, 200).await;
    assert_eq!(listed["pagination"]["total"], 0, "nothing was created");

    let body = json!({"uploads": (0..60).map(|i| item(&format!("{i}.bin"), b"abc")).collect::<Vec<_>>()});
    let first = expect_json(batch_create(&tenant, &body).await, 200).await;
    let again = expect_json(batch_create(&tenant, &body).await, 200).await;
    let ids = |created: &Value| -> Vec<Value> {
        created["uploads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["upload_id"].clone())
            .collect()
    };
    assert_eq!(
        ids(&first),
        ids(&again),
        "the retry answered the uploads of the first try"
    );
    assert!(again["uploads"][0]["presigned_url"].is_string());
    let listed = expect_json(tenant.list("", json!({})).await, 200).await;
    assert_eq!(listed["pagination"]["total"], 60);
    assert_eq!(listed["stats"]["total_size_bytes"], 180);
    assert_eq!(tenant.counted().await, tenant.recount().await);
}

#[tokio::test]
async fn mixed_outcomes_complete_with_errors_item_by_item() {
    let tenant = Tenant::new().await;
    let other = Tenant::new().await;
    let foreign = other.uploaded(b"someone else's", json!({})).await;
    let contents = [
        b"fine".to_vec(),
        b"never sent".to_vec(),
        b"sized".to_vec(),
        b"same".to_vec(),
        b"same".to_vec(),
    ];
    let items: Vec<Value> = contents
        .iter()
        .enumerate()
        .map(|(i, b)| item(&format!("m{i}.bin"), b))
        .collect();
    // The items that fail must stay as they were: no ObjectCreated event may confirm them.
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut item| {
            item["auto_confirm"] = Value::Bool(false);
            item
        })
        .collect();
    let created = expect_json(batch_create(&tenant, &json!({"uploads": items})).await, 200).await;
    let uploads = created["uploads"].as_array().unwrap().clone();
    for (i, (upload, bytes)) in uploads.iter().zip(&contents).enumerate() {
        if i != 1 {
            put_all(std::slice::from_ref(upload), std::slice::from_ref(bytes)).await;
        }
    }
    let body = json!({"confirmations": [
        {"upload_id": uploads[0]["upload_id"]},
        {"upload_id": uploads[1]["upload_id"]},
        {"upload_id": uploads[2]["upload_id"], "file_size_bytes": 999},
        {"upload_id": foreign["upload_id"]},
        {"upload_id": uploads[3]["upload_id"]},
        {"upload_id": uploads[4]["upload_id"]},
    ]});
    let accepted = expect_json(batch_confirm(&tenant, &body).await, 200).await;
    let task = tenant
        .wait_for_task(accepted["task_id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(task["status"], "COMPLETED_WITH_ERRORS", "{task}");
    let out = task["outputs"].as_array().unwrap();
    assert_eq!(out.len(), 6);
    assert_eq!(out[0]["status"], "COMPLETED");
    assert!(out[0]["object_id"].is_string());
    assert_eq!(out[1]["status"], "FAILED");
    assert_eq!(out[1]["code"], "file_not_uploaded");
    assert_eq!(out[2]["code"], "file_size_mismatch");
    // Another tenant's upload reads exactly like a missing one, as GET says it.
    assert_eq!(out[3]["code"], "not_found");
    let get = expect_error(
        tenant.get_upload(foreign["upload_id"].as_str().unwrap(), "").await,
        404,
        "NotFoundError",
    )
    .await;
    assert_eq!(out[3]["message"], get["error"]["message"]);
    // Equal bytes: one original, one duplicate of it, both completed.
    let originals: Vec<&Value> = out[4..].iter().filter(|o| o["is_duplicate"] == false).collect();
    assert_eq!(originals.len(), 1, "{out:?}");
    assert!(
        out[4..]
            .iter()
            .all(|o| o["status"] == "COMPLETED" && o["object_id"] == originals[0]["object_id"])
    );
    // The items that failed left their uploads as they were.
    for i in [1, 2] {
        let upload = expect_json(
            tenant.get_upload(uploads[i]["upload_id"].as_str().unwrap(), "").await,
            200,
        )
        .await;
        assert_eq!(upload["status"], "PENDING");
    }
    assert_eq!(
        expect_json(other.get_upload(foreign["upload_id"].as_str().unwrap(), "").await, 200).await["status"],
        "PENDING"
    );
    assert_eq!(tenant.counted().await, tenant.recount().await);
    assert_eq!(other.counted().await, other.recount().await);

    // A batch whose every item fails ends FAILED; duplicate ids in one request are a 422.
    let none = json!({"confirmations": [{"upload_id": uploads[1]["upload_id"]}]});
    let accepted = expect_json(batch_confirm(&tenant, &none).await, 200).await;
    let task = tenant
        .wait_for_task(accepted["task_id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(task["status"], "FAILED", "{task}");
    let twice =
        json!({"confirmations": [{"upload_id": uploads[1]["upload_id"]}, {"upload_id": uploads[1]["upload_id"]}]});
    assert_eq!(
        expect_validation(batch_confirm(&tenant, &twice).await).await,
        vec![json!(["body", "confirmations", 1, "upload_id"])]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_confirm_racing_single_confirms_makes_one_object_per_upload() {
    let tenant = Tenant::new().await;
    let contents: Vec<Vec<u8>> = (0..12).map(|i| format!("raced {i}").into_bytes()).collect();
    let items: Vec<Value> = contents
        .iter()
        .enumerate()
        .map(|(i, b)| item(&format!("r{i}.bin"), b))
        .collect();
    let created = expect_json(batch_create(&tenant, &json!({"uploads": items})).await, 200).await;
    let uploads = created["uploads"].as_array().unwrap().clone();
    put_all(&uploads, &contents).await;

    let accepted = expect_json(batch_confirm(&tenant, &confirmations(&uploads)).await, 200).await;
    // Meanwhile each upload is confirmed on its own too, through the same orchestrator.
    let singles = uploads.iter().map(|u| {
        let (app, scope, bucket) = (tenant.app.clone(), tenant.scope(), tenant.bucket_ref());
        let id: UploadId = serde_json::from_value(u["upload_id"].clone()).unwrap();
        tokio::spawn(
            async move { bucket_uploads::confirm::confirm_upload(&app, &scope, &bucket, &id, None, false).await },
        )
    });
    for single in singles {
        let confirmed = single.await.unwrap().expect("a single confirmation");
        assert_eq!(confirmed.status.as_str(), "COMPLETED");
    }
    let task = tenant
        .wait_for_task(accepted["task_id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(task["status"], "COMPLETED", "{task}");
    let ids: BTreeSet<String> = uploads
        .iter()
        .map(|u| u["upload_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        objects_of(&tenant.app, &ids).await.len(),
        uploads.len(),
        "one object per upload"
    );
    for (output, upload) in task["outputs"].as_array().unwrap().iter().zip(&uploads) {
        let stored = expect_json(tenant.get_upload(upload["upload_id"].as_str().unwrap(), "").await, 200).await;
        assert_eq!(output["object_id"], stored["object_id"]);
    }
    assert_eq!(tenant.counted().await, tenant.recount().await);
}

/// A worker run that nears its deadline saves what it did and asks for another run, which
/// picks up where it stopped (a run always starts its first 8 items).
#[tokio::test]
async fn a_run_out_of_time_is_continued_by_the_next() {
    let tenant = Tenant::new().await;
    let mut uploads = Vec::new();
    for i in 0..10 {
        uploads.push(tenant.uploaded(format!("item {i}").as_bytes(), json!({})).await);
    }
    let confirmations = uploads
        .iter()
        .map(|u| ConfirmItem {
            upload_id: serde_json::from_value(u["upload_id"].clone()).unwrap(),
            etag: None,
            file_size_bytes: None,
        })
        .collect();
    let inputs = BatchConfirmInputs {
        bucket_id: tenant.bucket.bucket_id.clone(),
        confirmations,
    };
    let kind = TaskKind::ConfirmBatch {
        inputs,
        outputs: Vec::new(),
    };
    let task = Task::pending(
        TaskId::generate(),
        tenant.namespace.namespace_id.clone(),
        kind,
        Timestamp::now(),
    );
    tenant.app.store.insert_task(&task).await.unwrap();

    let too_late = Timestamp::now().plus_seconds(60);
    let ran = batch::run(&tenant.app, task.clone(), too_late).await.unwrap();
    assert!(matches!(ran, Ran::More), "{ran:?}");
    let saved = tenant.app.store.task(&task.task_id).await.unwrap().unwrap();
    assert_eq!(saved.status, TaskStatus::Processing);
    let TaskKind::ConfirmBatch { outputs, .. } = &saved.kind else {
        panic!("not a batch");
    };
    assert_eq!(outputs.len(), 8, "the first run's results are saved");
    let last = uploads[9]["upload_id"].as_str().unwrap();
    assert_eq!(
        expect_json(tenant.get_upload(last, "").await, 200).await["status"],
        "PENDING"
    );

    let in_time = Timestamp::now().plus_seconds(900);
    let Ran::Done(done) = batch::run(&tenant.app, saved, in_time).await.unwrap() else {
        panic!("not done");
    };
    assert_eq!(done.status, TaskStatus::Completed);
    let TaskKind::ConfirmBatch { outputs, .. } = &done.kind else {
        panic!("not a batch");
    };
    assert_eq!(outputs.len(), 10);
    for (output, upload) in outputs.iter().zip(&uploads) {
        assert_eq!(
            output.upload_id.as_str(),
            upload["upload_id"].as_str().unwrap(),
            "request order"
        );
        assert_eq!(output.status, TaskStatus::Completed);
    }
    assert_eq!(
        expect_json(tenant.get_upload(last, "").await, 200).await["status"],
        "COMPLETED"
    );
}
