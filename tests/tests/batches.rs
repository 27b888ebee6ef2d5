//! `auto_submit_batch`: a confirmed upload's new object is put in a batch that is submitted
//! (QUEUED, with its own task) in the same transaction; GET returns it.

use api_tests::{Tenant, expect_error, expect_json};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn get_batch(tenant: &Tenant, batch_id: &str) -> reqwest::Response {
    let path = format!("/v1/buckets/{}/batches/{batch_id}", tenant.bucket.name);
    tenant.request(Method::GET, &path).send().await.unwrap()
}

async fn confirm(tenant: &Tenant, upload_id: &str, query: &str, body: Value) -> Value {
    let path = format!("{}/{upload_id}/confirm{query}", tenant.uploads_path());
    expect_json(
        tenant.request(Method::POST, &path).json(&body).send().await.unwrap(),
        200,
    )
    .await
}

#[tokio::test]
async fn a_synchronous_confirmation_submits_a_batch_once() {
    let tenant = Tenant::new().await;
    let created = tenant.uploaded(b"batch me", json!({})).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let confirmed = confirm(&tenant, upload_id, "", json!({"auto_submit_batch": true})).await;
    assert_eq!(confirmed["status"], "COMPLETED");
    let batch_id = confirmed["batch_id"].as_str().expect("a batch id");
    let task_id = confirmed["task_id"].as_str().expect("the batch's task id");
    assert!(batch_id.starts_with("batch_") && task_id.starts_with("task_"));

    let batch = expect_json(get_batch(&tenant, batch_id).await, 200).await;
    assert_eq!(batch["status"], "QUEUED", "submitted, no longer DRAFT");
    assert_eq!(batch["object_ids"], json!([confirmed["object_id"]]));
    assert_eq!(batch["task_id"], task_id);
    assert_eq!(batch["bucket_id"], tenant.bucket.bucket_id.as_str());
    let task = expect_json(
        tenant
            .request(Method::GET, &format!("/v1/tasks/{task_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(task["task_type"], bucket_uploads::model::BATCH_TASK_TYPE);
    assert_eq!(task["inputs"][0]["batch_id"], batch_id);

    // Confirming again answers the same and creates nothing new.
    let again = confirm(&tenant, upload_id, "", json!({"auto_submit_batch": true})).await;
    assert_eq!(again, confirmed);
    // Another tenant cannot see it.
    let other = Tenant::new().await;
    expect_error(get_batch(&other, batch_id).await, 404, "NotFoundError").await;
    let by_id = format!("/v1/buckets/{}/batches/{batch_id}", tenant.bucket.bucket_id);
    let foreign = other.request(Method::GET, &by_id).send().await.unwrap();
    expect_error(foreign, 404, "NotFoundError").await;
}

#[tokio::test]
async fn duplicates_and_uploads_without_objects_get_no_batch() {
    let tenant = Tenant::new().await;
    let first = tenant.uploaded(b"same bytes", json!({})).await;
    let original = confirm(
        &tenant,
        first["upload_id"].as_str().unwrap(),
        "",
        json!({"auto_submit_batch": true}),
    )
    .await;
    assert!(original["batch_id"].is_string());

    let second = tenant.uploaded(b"same bytes", json!({})).await;
    let second_id = second["upload_id"].as_str().unwrap();
    let duplicate = confirm(&tenant, second_id, "", json!({"auto_submit_batch": true})).await;
    assert_eq!(duplicate["batch_id"], Value::Null);
    assert_eq!(duplicate["task_id"], Value::Null);
    let would_be = bucket_uploads::ids::auto_batch_ids(&bucket_uploads::ids::UploadId::parse(second_id).unwrap())
        .0
        .to_string();
    expect_error(get_batch(&tenant, &would_be).await, 404, "NotFoundError").await;

    let no_object = tenant
        .uploaded(b"no object", json!({"create_object_on_confirm": false}))
        .await;
    let confirmed = confirm(
        &tenant,
        no_object["upload_id"].as_str().unwrap(),
        "",
        json!({"auto_submit_batch": true}),
    )
    .await;
    assert_eq!(confirmed["batch_id"], Value::Null);
}

#[tokio::test]
async fn an_asynchronous_confirmation_reports_its_batch_in_the_task_outputs() {
    let tenant = Tenant::new().await;
    let created = tenant.uploaded(b"async batch", json!({})).await;
    let accepted = confirm(
        &tenant,
        created["upload_id"].as_str().unwrap(),
        "?async=true",
        json!({"auto_submit_batch": true}),
    )
    .await;
    assert_eq!(accepted["status"], "PROCESSING");
    let task = tenant
        .wait_for_task(accepted["task_id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(task["status"], "COMPLETED", "{task}");
    let batch_id = task["outputs"][0]["batch_id"].as_str().expect("a batch");
    let batch = expect_json(get_batch(&tenant, batch_id).await, 200).await;
    assert_eq!(batch["object_ids"], json!([task["outputs"][0]["object_id"]]));
    assert_eq!(batch["task_id"], task["outputs"][0]["batch_task_id"]);
}
