//! Delete Upload (`DELETE …/uploads/{upload_id}`, Mixpeek's `delete_upload_buckets`): PENDING
//! and FAILED uploads go away with their bytes and out of the counters; PROCESSING and
//! COMPLETED ones stay (409); a delete racing a confirmation has exactly one winner.

use api_tests::{Tenant, expect_error, expect_json, objects_of, sha256_hex, stored_sha256};
use bucket_uploads::ApiError;
use bucket_uploads::ids::UploadId;
use bucket_uploads::model::UploadStatus;
use reqwest::{Method, Response};
use serde_json::{Value, json};

async fn delete(tenant: &Tenant, upload_id: impl AsRef<str>, query: &str) -> Response {
    let path = format!("{}/{}{query}", tenant.uploads_path(), upload_id.as_ref());
    tenant.request(Method::DELETE, &path).send().await.unwrap()
}

fn id_of(created: &Value) -> UploadId {
    serde_json::from_value(created["upload_id"].clone()).unwrap()
}

async fn assert_counters_exact(tenant: &Tenant) {
    assert_eq!(tenant.counted().await, tenant.recount().await);
}

#[tokio::test]
async fn pending_and_failed_uploads_go_away_with_their_bytes() {
    let tenant = Tenant::new().await;
    let kept = tenant.uploaded(b"kept", json!({})).await;
    let pending = tenant.uploaded(b"pending bytes", json!({})).await;
    let staging_key = pending["s3_key"].as_str().unwrap();
    assert!(tenant.app.objects.exists(staging_key).await.unwrap());

    let response = delete(&tenant, &id_of(&pending), "").await;
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());
    expect_error(tenant.get_upload(&id_of(&pending), "").await, 404, "NotFoundError").await;
    assert!(
        !tenant.app.objects.exists(staging_key).await.unwrap(),
        "the bytes went too"
    );
    expect_error(delete(&tenant, &id_of(&pending), "").await, 404, "NotFoundError").await;

    // A FAILED upload (its URL expired before it was confirmed).
    let expired = tenant.expired_upload().await;
    expect_error(tenant.confirm(&expired.upload_id, None).await, 400, "BadRequestError").await;
    assert_eq!(delete(&tenant, &expired.upload_id, "").await.status(), 204);

    let listed = expect_json(tenant.list("", json!({})).await, 200).await;
    assert_eq!(listed["pagination"]["total"], 1, "{listed}");
    assert_eq!(listed["results"][0]["upload_id"], kept["upload_id"]);
    assert_eq!(listed["stats"]["uploads_by_status"], json!({"PENDING": 1}));
    assert_counters_exact(&tenant).await;
}

#[tokio::test]
async fn delete_s3_object_false_keeps_the_bytes() {
    let tenant = Tenant::new().await;
    let pending = tenant.uploaded(b"keep my bytes", json!({})).await;
    let response = delete(&tenant, &id_of(&pending), "?delete_s3_object=false").await;
    assert_eq!(response.status(), 204);
    expect_error(tenant.get_upload(&id_of(&pending), "").await, 404, "NotFoundError").await;
    let staging_key = pending["s3_key"].as_str().unwrap();
    assert_eq!(
        stored_sha256(&tenant.app, staging_key).await,
        Some(sha256_hex(b"keep my bytes"))
    );
    let bad = delete(&tenant, &id_of(&pending), "?delete_s3_object=perhaps").await;
    assert_eq!(
        api_tests::expect_validation(bad).await,
        vec![json!(["query", "delete_s3_object"])]
    );
}

#[tokio::test]
async fn completed_and_processing_uploads_are_refused() {
    let tenant = Tenant::new().await;
    let done = tenant.uploaded(b"done", json!({})).await;
    expect_json(tenant.confirm(&id_of(&done), None).await, 200).await;
    let refused = expect_error(delete(&tenant, &id_of(&done), "").await, 409, "ConflictError").await;
    assert_eq!(refused["error"]["code"], "upload_not_deletable");
    assert_eq!(refused["error"]["details"]["status"], "COMPLETED");
    let fetched = expect_json(tenant.get_upload(&id_of(&done), "").await, 200).await;
    assert_eq!(fetched["status"], "COMPLETED");
    assert_eq!(
        stored_sha256(&tenant.app, fetched["s3_key"].as_str().unwrap()).await,
        Some(sha256_hex(b"done"))
    );

    // PROCESSING, as an asynchronous confirmation leaves it before its worker runs.
    let busy = tenant.uploaded(b"busy", json!({})).await;
    tenant.processing(&serde_json::from_value(busy.clone()).unwrap()).await;
    let refused = expect_error(delete(&tenant, &id_of(&busy), "").await, 409, "ConflictError").await;
    assert_eq!(refused["error"]["details"]["status"], "PROCESSING");
    assert_counters_exact(&tenant).await;
}

#[tokio::test]
async fn another_tenants_upload_is_not_found() {
    let alice = Tenant::new().await;
    let mallory = Tenant::new().await;
    let created = alice.uploaded(b"alice's", json!({})).await;
    let envelope = expect_error(delete(&mallory, &id_of(&created), "").await, 404, "NotFoundError").await;
    assert_eq!(envelope["error"]["details"]["resource"], "upload");
    // Naming alice's bucket by id does not help either.
    let path = format!("/v1/buckets/{}/uploads/{}", alice.bucket.bucket_id, id_of(&created));
    let foreign = mallory.request(Method::DELETE, &path).send().await.unwrap();
    expect_error(foreign, 404, "NotFoundError").await;
    assert_eq!(
        expect_json(alice.get_upload(&id_of(&created), "").await, 200).await["status"],
        "PENDING"
    );
}

/// The HTTP status a domain call answers with, `ok` on success.
fn status_of<T, E>(result: Result<T, E>, ok: u16) -> u16
where
    ApiError: From<E>,
{
    result.map_or_else(|err| ApiError::from(err).status(), |_| ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_racing_a_confirmation_has_exactly_one_winner() {
    const TRIALS: usize = 20;
    let tenant = Tenant::new().await;
    let mut outcomes = (0, 0);
    for trial in 0..TRIALS {
        let bytes = format!("race {trial}").into_bytes();
        let created = tenant.uploaded(&bytes, json!({})).await;
        let upload_id = id_of(&created);
        // Both production entry points at once: in-process on even trials (truly parallel),
        // over HTTP on odd ones (two functions, two processes under cargo lambda watch).
        let (confirmed, deleted) = if trial % 2 == 0 {
            let (app, scope, bucket) = (tenant.app.clone(), tenant.scope(), tenant.bucket_ref());
            let confirm = {
                let (app, scope, bucket, id) = (app.clone(), scope.clone(), bucket.clone(), upload_id.clone());
                tokio::spawn(async move {
                    let result = bucket_uploads::confirm::confirm_upload(&app, &scope, &bucket, &id, None, false).await;
                    status_of(result, 200)
                })
            };
            let delete = {
                let id = upload_id.clone();
                tokio::spawn(async move {
                    let result = bucket_uploads::uploads::delete_upload(&app, &scope, &bucket, &id, true).await;
                    status_of(result, 204)
                })
            };
            (confirm.await.unwrap(), delete.await.unwrap())
        } else {
            let (confirm, delete) = tokio::join!(tenant.confirm(&upload_id, None), delete(&tenant, &upload_id, ""));
            (confirm.status().as_u16(), delete.status().as_u16())
        };
        let record = tenant.app.store.upload(&upload_id).await.unwrap();
        let staging_key = created["s3_key"].as_str().unwrap();
        let final_key = staging_key.strip_prefix("incoming/").unwrap();
        let objects = objects_of(&tenant.app, &[upload_id.to_string()].into()).await;
        match (confirmed, deleted) {
            (200, 409) => {
                outcomes.0 += 1;
                let record = record.expect("the confirmed upload stays");
                assert_eq!(record.status, UploadStatus::Completed);
                assert_eq!(stored_sha256(&tenant.app, final_key).await, Some(sha256_hex(&bytes)));
                assert_eq!(objects.len(), 1);
            }
            (404 | 400, 204) => {
                outcomes.1 += 1;
                assert!(record.is_none(), "trial {trial}: the deleted upload is gone");
                assert!(objects.is_empty(), "trial {trial}: no object of a deleted upload");
                assert!(
                    !tenant.app.objects.exists(final_key).await.unwrap(),
                    "trial {trial}: no copy left"
                );
                assert!(!tenant.app.objects.exists(staging_key).await.unwrap(), "trial {trial}");
            }
            other => panic!("trial {trial}: confirm and delete answered {other:?}: not exactly one winner"),
        }
    }
    println!("confirm won {} times, delete {} times", outcomes.0, outcomes.1);
    assert_eq!(outcomes.0 + outcomes.1, TRIALS);
    assert_counters_exact(&tenant).await;
}
