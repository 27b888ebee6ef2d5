//! Records of uploads that never completed expire through DynamoDB's TTL, and the
//! `expired-uploads` function (run by `cargo lambda watch`, fed here the stream records
//! DynamoDB would send for a TTL removal) deletes their bytes and takes them out of the
//! bucket's counters exactly once. DynamoDB Local keeps expired items, so the removal
//! itself is a DeleteItem here.

use api_tests::stream::{Item, by_ttl, delete_item, raw_item, stream_record};
use api_tests::*;
use aws_sdk_dynamodb::types::AttributeValue;
use bucket_uploads::model::UploadStatus;
use bucket_uploads::store::schema::TTL_ATTRIBUTE;
use bucket_uploads::store::{UNCONFIRMED_RETENTION_SECS, UPLOAD_SORT_KEY};
use bucket_uploads::time::Timestamp;
use serde_json::{Value, json};

async fn raw_upload(tenant: &Tenant, upload_id: &str) -> Item {
    raw_item(&tenant.app, upload_id, UPLOAD_SORT_KEY)
        .await
        .unwrap_or_else(|| panic!("{upload_id} is not stored"))
}

fn ttl_of(item: &Item) -> Option<i64> {
    match item.get(TTL_ATTRIBUTE) {
        Some(AttributeValue::N(n)) => Some(n.parse().unwrap()),
        None => None,
        other => panic!("ttl is not a number: {other:?}"),
    }
}

fn epoch_of(value: &Value) -> i64 {
    Timestamp::parse(value.as_str().unwrap()).unwrap().epoch_seconds()
}

#[tokio::test]
async fn unconfirmed_upload_records_expire_and_completed_ones_do_not() {
    let tenant = Tenant::new().await;
    let created = tenant.uploaded(b"bytes", json!({})).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let expected = epoch_of(&created["expires_at"]) + UNCONFIRMED_RETENTION_SECS;
    assert_eq!(ttl_of(&raw_upload(&tenant, upload_id).await), Some(expected));

    expect_json(tenant.confirm(upload_id, None).await, 200).await;
    assert_eq!(ttl_of(&raw_upload(&tenant, upload_id).await), None);
}

#[tokio::test]
async fn an_upload_failed_by_expiry_is_kept_for_the_retention_period_from_its_failure() {
    let tenant = Tenant::new().await;
    let upload = tenant.expired_upload().await;
    let before = Timestamp::now().epoch_seconds();
    expect_error(tenant.confirm(&upload.upload_id, None).await, 400, "BadRequestError").await;
    let after = Timestamp::now().epoch_seconds();

    let item = raw_upload(&tenant, upload.upload_id.as_str()).await;
    assert_eq!(item.get("status"), Some(&AttributeValue::S("FAILED".into())));
    let ttl = ttl_of(&item).expect("a failed upload's record expires");
    assert!(
        (before + UNCONFIRMED_RETENTION_SECS..=after + UNCONFIRMED_RETENTION_SECS).contains(&ttl),
        "ttl {ttl} is not {UNCONFIRMED_RETENTION_SECS}s after the failure ({before}..={after})"
    );
}

/// Removes the upload's record as TTL would and returns the stream record of that removal;
/// `ttl: false` makes it an ordinary delete by some IAM user.
async fn remove(tenant: &Tenant, upload_id: &str, sequence: u32, ttl: bool) -> Value {
    let old = raw_upload(tenant, upload_id).await;
    delete_item(&tenant.app, upload_id, UPLOAD_SORT_KEY).await;
    let user = if ttl {
        by_ttl()
    } else {
        Some(json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE"}))
    };
    stream_record(Some(&old), None, sequence, user)
}

/// Invokes the consumer through `cargo lambda watch` and returns the sequence numbers it
/// reported as failed.
async fn deliver(records: &[Value]) -> Vec<String> {
    api_tests::stream::deliver("expired-uploads", records).await
}

/// `(PENDING uploads, their bytes)` in the bucket's counters.
async fn pending_counted(tenant: &Tenant) -> (u64, u64) {
    let stats = tenant.counted().await;
    let count = stats
        .uploads_by_status
        .get(&UploadStatus::Pending)
        .copied()
        .unwrap_or(0);
    (count, stats.total_size_bytes)
}

fn s3_key(created: &Value) -> String {
    created["s3_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_ttl_removal_deletes_the_bytes_and_uncounts_the_upload_once() {
    let tenant = Tenant::new().await;
    let first = tenant.uploaded(b"abc", json!({})).await;
    let second = tenant.uploaded(b"defgh", json!({})).await;
    assert_eq!(pending_counted(&tenant).await, (2, 8));
    let reserved = |usage: bucket_uploads::quota::Usage| (usage.pending_uploads, usage.bytes_reserved);
    assert_eq!(reserved(tenant.usage().await), (2, 8));
    // A confirmation of the first copied its bytes to the final key, then was cut short.
    let first_upload: bucket_uploads::model::Upload = serde_json::from_value(first.clone()).unwrap();
    let request = bucket_uploads::confirm::ConfirmRequest::default();
    bucket_uploads::confirm::verify(&tenant.app.objects, &first_upload, &request, u64::MAX, None, None)
        .await
        .unwrap();
    assert!(tenant.app.objects.exists(first_upload.final_key()).await.unwrap());

    let removal = remove(&tenant, first["upload_id"].as_str().unwrap(), 1, true).await;
    assert_eq!(deliver(std::slice::from_ref(&removal)).await, Vec::<String>::new());
    assert_eq!(pending_counted(&tenant).await, (1, 5));
    assert!(!tenant.app.objects.exists(&s3_key(&first)).await.unwrap());
    assert!(!tenant.app.objects.exists(first_upload.final_key()).await.unwrap());
    assert!(tenant.app.objects.exists(&s3_key(&second)).await.unwrap());

    // Streams deliver at least once: the same removal again changes nothing.
    assert_eq!(deliver(&[removal]).await, Vec::<String>::new());
    assert_eq!(pending_counted(&tenant).await, (1, 5));
    // And its quota is freed, once.
    assert_eq!(reserved(tenant.usage().await), (1, 5));
    assert_eq!(tenant.usage().await, tenant.recount_usage().await);

    let listed = expect_json(tenant.list("", json!({})).await, 200).await;
    assert_eq!(listed["pagination"]["total"], 1, "{listed}");
    assert_eq!(listed["stats"]["uploads_by_status"], json!({"PENDING": 1}), "{listed}");
}

#[tokio::test]
async fn removals_that_are_not_ttl_expiries_of_uploads_are_ignored() {
    let tenant = Tenant::new().await;
    let upload = tenant.uploaded(b"abc", json!({})).await;
    let upload_id = upload["upload_id"].as_str().unwrap();

    let by_user = remove(&tenant, upload_id, 1, false).await;
    let mut counters_by_ttl = by_user.clone();
    counters_by_ttl["userIdentity"] = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
    counters_by_ttl["dynamodb"]["Keys"]["sk"] = json!({"S": "counters"});
    let mut inserted = counters_by_ttl.clone();
    inserted["eventName"] = json!("INSERT");
    inserted["dynamodb"]["Keys"]["sk"] = json!({"S": "upload"});

    assert_eq!(
        deliver(&[by_user, counters_by_ttl, inserted]).await,
        Vec::<String>::new()
    );
    assert_eq!(pending_counted(&tenant).await, (1, 3));
    assert!(tenant.app.objects.exists(&s3_key(&upload)).await.unwrap());
}

#[tokio::test]
async fn a_record_that_cannot_be_processed_is_reported_and_stops_the_batch() {
    let tenant = Tenant::new().await;
    let broken = tenant.uploaded(b"abc", json!({})).await;
    let fine = tenant.uploaded(b"defgh", json!({})).await;
    let mut unreadable = remove(&tenant, broken["upload_id"].as_str().unwrap(), 7, true).await;
    unreadable["dynamodb"]["OldImage"] = json!({});
    let readable = remove(&tenant, fine["upload_id"].as_str().unwrap(), 8, true).await;

    // Lambda retries from the reported record, so the one after it must not be done yet.
    assert_eq!(deliver(&[unreadable, readable.clone()]).await, vec!["7".to_owned()]);
    assert_eq!(pending_counted(&tenant).await, (2, 8));
    assert!(tenant.app.objects.exists(&s3_key(&fine)).await.unwrap());

    assert_eq!(deliver(&[readable]).await, Vec::<String>::new());
    assert_eq!(pending_counted(&tenant).await, (1, 3));
}

#[tokio::test]
async fn an_upload_whose_record_expired_while_being_confirmed_is_reported_missing() {
    let tenant = Tenant::new().await;
    let upload = tenant.expired_upload().await;
    // Loaded by a confirmation, then removed by TTL before it fails the upload.
    remove(&tenant, upload.upload_id.as_str(), 1, true).await;
    let request = bucket_uploads::confirm::ConfirmRequest::parse(None).unwrap();
    let origin = bucket_uploads::confirm::Origin::Client { run_async: false };
    let err = bucket_uploads::confirm::confirm(&tenant.app, &tenant.bucket, upload, &request, origin)
        .await
        .unwrap_err();
    assert_eq!(bucket_uploads::ApiError::from(err.clone()).status(), 404, "{err:?}");
}
