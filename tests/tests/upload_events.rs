//! Completion events (`docs/events.md`): each transition the API writes makes its event on
//! the default bus exactly once. DynamoDB Local has no stream, so each test reads the items
//! before and after the API's writes, builds the stream records DynamoDB would send, hands
//! them to `upload-events` under `cargo lambda watch` as its event source mapping would, and
//! reads what reached moto's EventBridge through a rule on the test's own bucket.

use api_tests::events::Inbox;
use api_tests::stream::{Item, by_ttl, delete_item, deliver, raw_item, stream_record};
use api_tests::*;
use bucket_uploads::model::Upload;
use bucket_uploads::store::UPLOAD_SORT_KEY;
use bucket_uploads::time::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};

const PUBLISHER: &str = "upload-events";

async fn raw_upload(tenant: &Tenant, upload_id: &str) -> Item {
    raw_item(&tenant.app, upload_id, UPLOAD_SORT_KEY)
        .await
        .unwrap_or_else(|| panic!("{upload_id} is not stored"))
}

fn id_of(upload: &Value) -> &str {
    upload["upload_id"].as_str().expect("an upload_id")
}

/// Confirms the upload with `body`, expecting `status`: its item before, the answer, its
/// item after.
async fn confirmation(tenant: &Tenant, upload_id: &str, body: Option<Value>, status: u16) -> (Item, Value, Item) {
    let before = raw_upload(tenant, upload_id).await;
    let answer = expect_json(tenant.confirm(upload_id, body).await, status).await;
    let after = raw_upload(tenant, upload_id).await;
    (before, answer, after)
}

async fn view(tenant: &Tenant, upload_id: &str) -> Value {
    expect_json(tenant.get_upload(upload_id, "").await, 200).await
}

/// Publishes `records` and asserts none failed.
async fn publish(records: &[Value]) {
    assert_eq!(deliver(PUBLISHER, records).await, Vec::<String>::new());
}

/// The detail schema version 1 promises for `upload` (as the API shows it) after the
/// stream record numbered `sequence` (see `stream_record`).
fn expected_detail(tenant: &Tenant, upload: &Value, sequence: u32) -> Value {
    let occurred_at = Timestamp::from_epoch_millis((1_790_000_000 + u64::from(sequence)) * 1000);
    let completed = upload["status"] == "COMPLETED";
    json!({
        "schema_version": 1,
        "event_id": format!("event-{sequence}"),
        "occurred_at": occurred_at,
        "upload_id": upload["upload_id"],
        "bucket_id": tenant.bucket.bucket_id,
        "namespace_id": tenant.namespace.namespace_id,
        "tenant_id": tenant.tenant_id,
        "status": upload["status"],
        "filename": upload["filename"],
        "content_type": upload["content_type"],
        "s3_key": upload["s3_key"],
        "file_size_bytes": upload["file_size_bytes"],
        "file_hash": if completed { upload["file_hash"].clone() } else { Value::Null },
        "etag": upload["etag"],
        "object_id": upload["object_id"],
        "is_duplicate": upload["is_duplicate"],
        "duplicate_of_upload_id": upload["duplicate_of_upload_id"],
        "task_id": upload["task_id"],
        "message": upload["message"],
        "created_at": upload["created_at"],
        "completed_at": upload["completed_at"],
    })
}

/// The events received since the last call, by event_id (EventBridge keeps no order; a
/// Batch Submitted event, which has no event_id, comes first).
async fn received(inbox: &Inbox) -> Vec<Value> {
    let mut events = inbox.drain().await;
    events.sort_by_key(|e| e["detail"]["event_id"].as_str().unwrap_or_default().to_owned());
    events
}

/// The one event received, of `detail_type`.
fn only(events: &[Value], detail_type: &str) -> Value {
    assert_eq!(events.len(), 1, "one event expected: {events:#?}");
    assert_eq!(events[0]["source"], "bucket-uploads");
    assert_eq!(events[0]["detail-type"], detail_type, "{:#?}", events[0]);
    events[0]["detail"].clone()
}

#[tokio::test]
async fn a_confirmed_upload_is_completed_once_and_its_creation_publishes_nothing() {
    let tenant = Tenant::new().await;
    let inbox = Inbox::subscribe(&tenant.bucket.bucket_id).await;
    let bytes = b"completed bytes";
    let created = tenant.uploaded(bytes, json!({})).await;
    let (pending, confirmed, completed) = confirmation(&tenant, id_of(&created), None, 200).await;

    publish(&[
        stream_record(None, Some(&pending), 1, None),
        stream_record(Some(&pending), Some(&completed), 2, None),
    ])
    .await;
    let detail = only(&received(&inbox).await, "Upload Completed");
    assert_eq!(
        detail,
        expected_detail(&tenant, &view(&tenant, id_of(&created)).await, 2)
    );
    assert_eq!(detail["file_hash"], sha256_hex(bytes).as_str());
    assert_eq!(detail["object_id"], confirmed["object_id"]);
    assert!(detail["object_id"].is_string() && detail["etag"].is_string());
    assert!(!detail["s3_key"].as_str().unwrap().starts_with("incoming/"));

    // Confirming it again writes nothing, and a write that keeps its status publishes nothing.
    expect_json(tenant.confirm(id_of(&created), None).await, 200).await;
    assert_eq!(raw_upload(&tenant, id_of(&created)).await, completed);
    publish(&[stream_record(Some(&completed), Some(&completed), 3, None)]).await;
    assert_eq!(received(&inbox).await, Vec::<Value>::new());
}

#[tokio::test]
async fn duplicates_are_completed_with_their_original() {
    let tenant = Tenant::new().await;
    let inbox = Inbox::subscribe(&tenant.bucket.bucket_id).await;
    let bytes = b"the same bytes twice";
    let first = tenant.uploaded(bytes, json!({})).await;
    let original = expect_json(tenant.confirm(id_of(&first), None).await, 200).await;
    let second = tenant.uploaded(bytes, json!({"skip_duplicates": true})).await;
    let (pending, _, completed) = confirmation(&tenant, id_of(&second), None, 200).await;
    // Declared by its hash, the bytes need no upload: created COMPLETED.
    let declared = tenant
        .create_upload(json!({"filename": "again.bin", "content_type": "application/octet-stream", "file_hash": sha256_hex(bytes)}))
        .await;
    assert_eq!(declared["status"], "COMPLETED", "{declared}");
    let created_completed = raw_upload(&tenant, id_of(&declared)).await;

    publish(&[
        stream_record(Some(&pending), Some(&completed), 1, None),
        stream_record(None, Some(&created_completed), 2, None),
    ])
    .await;
    let events = received(&inbox).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    for (event, upload, sequence) in [(&events[0], &second, 1), (&events[1], &declared, 2)] {
        assert_eq!(event["detail-type"], "Upload Completed");
        let detail = &event["detail"];
        assert_eq!(
            *detail,
            expected_detail(&tenant, &view(&tenant, id_of(upload)).await, sequence)
        );
        assert_eq!(detail["is_duplicate"], true);
        assert_eq!(detail["duplicate_of_upload_id"], first["upload_id"]);
        assert_eq!(detail["object_id"], original["object_id"]);
        assert_eq!(detail["file_hash"], sha256_hex(bytes).as_str());
    }
}

#[tokio::test]
async fn a_failed_confirmation_is_published_failed_once_with_its_reason() {
    let tenant = Tenant::new().await;
    let inbox = Inbox::subscribe(&tenant.bucket.bucket_id).await;
    // Confirmed after its URL expired.
    let expired = tenant.expired_upload().await;
    let (pending, _, failed) = confirmation(&tenant, expired.upload_id.as_str(), None, 400).await;
    // Bytes that are not the declared hash.
    let declared = sha256_hex(b"what was declared");
    let mismatched = tenant.uploaded(b"what was sent", json!({"file_hash": declared})).await;
    let (mismatched_pending, refused, mismatched_failed) = confirmation(&tenant, id_of(&mismatched), None, 400).await;
    assert_eq!(refused["error"]["code"], "file_hash_mismatch");

    publish(&[
        stream_record(Some(&pending), Some(&failed), 1, None),
        stream_record(Some(&mismatched_pending), Some(&mismatched_failed), 2, None),
    ])
    .await;
    let events = received(&inbox).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    for (event, upload_id, sequence) in [
        (&events[0], expired.upload_id.as_str(), 1),
        (&events[1], id_of(&mismatched), 2),
    ] {
        assert_eq!(event["detail-type"], "Upload Failed");
        let detail = &event["detail"];
        assert_eq!(
            *detail,
            expected_detail(&tenant, &view(&tenant, upload_id).await, sequence)
        );
        assert_eq!(detail["status"], "FAILED");
        assert_eq!(detail["file_hash"], Value::Null, "a declared hash is no verified one");
    }
    assert!(
        events[0]["detail"]["message"].as_str().unwrap().contains("expired"),
        "{:#?}",
        events[0]
    );
}

#[tokio::test]
async fn a_deleted_upload_is_published_deleted_with_the_status_it_had() {
    let tenant = Tenant::new().await;
    let inbox = Inbox::subscribe(&tenant.bucket.bucket_id).await;
    let pending = tenant.uploaded(b"never confirmed", json!({})).await;
    let failed = tenant.expired_upload().await;
    expect_error(tenant.confirm(&failed.upload_id, None).await, 400, "BadRequestError").await;
    let mut records = Vec::new();
    let mut views = Vec::new();
    for (sequence, upload_id) in [(1, id_of(&pending)), (2, failed.upload_id.as_str())] {
        let item = raw_upload(&tenant, upload_id).await;
        views.push(view(&tenant, upload_id).await);
        let path = format!("{}/{}", tenant.uploads_path(), upload_id);
        let response = tenant.request(Method::DELETE, &path).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 204);
        assert_eq!(raw_item(&tenant.app, upload_id, UPLOAD_SORT_KEY).await, None);
        records.push(stream_record(Some(&item), None, sequence, None));
    }

    publish(&records).await;
    let events = received(&inbox).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    for (event, (shown, sequence)) in events.iter().zip(views.iter().zip([1, 2])) {
        assert_eq!(event["detail-type"], "Upload Deleted");
        assert_eq!(event["detail"], expected_detail(&tenant, shown, sequence));
    }
    assert_eq!(events[0]["detail"]["status"], "PENDING");
    assert_eq!(events[1]["detail"]["status"], "FAILED");
}

#[tokio::test]
async fn ttl_removals_of_unfinished_uploads_are_expiries_and_of_failed_ones_nothing() {
    let tenant = Tenant::new().await;
    let inbox = Inbox::subscribe(&tenant.bucket.bucket_id).await;
    let pending = tenant.uploaded(b"left pending", json!({})).await;
    let processing = tenant.uploaded(b"left processing", json!({})).await;
    let before_processing = raw_upload(&tenant, id_of(&processing)).await;
    // As stored (the API's view has no tenant_id), as the confirm endpoint reads it.
    let upload: Upload = bucket_uploads::store::from_item(before_processing.clone()).unwrap();
    tenant.processing(&upload).await;
    let in_processing = raw_upload(&tenant, id_of(&processing)).await;
    let failed = tenant.expired_upload().await;
    let (before_failing, _, after_failing) = confirmation(&tenant, failed.upload_id.as_str(), None, 400).await;

    let mut shown = Vec::new();
    let mut removals = Vec::new();
    for upload_id in [id_of(&pending), id_of(&processing), failed.upload_id.as_str()] {
        shown.push(view(&tenant, upload_id).await);
        removals.push(raw_upload(&tenant, upload_id).await);
        delete_item(&tenant.app, upload_id, UPLOAD_SORT_KEY).await;
    }
    publish(&[
        stream_record(Some(&before_processing), Some(&in_processing), 1, None),
        stream_record(Some(&before_failing), Some(&after_failing), 2, None),
        stream_record(Some(&removals[0]), None, 3, by_ttl()),
        stream_record(Some(&removals[1]), None, 4, by_ttl()),
        stream_record(Some(&removals[2]), None, 5, by_ttl()),
    ])
    .await;
    let events = received(&inbox).await;
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["detail-type"].as_str().unwrap(),
                e["detail"]["event_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("Upload Failed", "event-2"),
            ("Upload Expired", "event-3"),
            ("Upload Expired", "event-4")
        ]
    );
    assert_eq!(events[1]["detail"], expected_detail(&tenant, &shown[0], 3));
    assert_eq!(events[2]["detail"], expected_detail(&tenant, &shown[1], 4));
    assert_eq!(events[2]["detail"]["status"], "PROCESSING");
    assert!(events[2]["detail"]["task_id"].is_string());
}

#[tokio::test]
async fn a_submitted_batch_is_published_with_the_pipes_fields() {
    let tenant = Tenant::new().await;
    let inbox = Inbox::subscribe(&tenant.bucket.bucket_id).await;
    let created = tenant.uploaded(b"batch me", json!({})).await;
    let body = Some(json!({"auto_submit_batch": true}));
    let (pending, confirmed, completed) = confirmation(&tenant, id_of(&created), body, 200).await;
    let batch_id = confirmed["batch_id"].as_str().expect("a batch");
    let batch = raw_item(&tenant.app, batch_id, "batch").await.expect("the batch item");

    // One transaction wrote both: the stream has the upload's change and the batch's insert.
    publish(&[
        stream_record(Some(&pending), Some(&completed), 1, None),
        stream_record(None, Some(&batch), 2, None),
    ])
    .await;
    let events = received(&inbox).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0]["detail-type"], "Batch Submitted");
    assert_eq!(events[1]["detail-type"], "Upload Completed");
    assert_eq!(events[1]["detail"]["event_id"], "event-1");
    assert_eq!(
        events[0]["detail"],
        json!({
            "batch_id": batch_id,
            "bucket_id": tenant.bucket.bucket_id,
            "namespace_id": tenant.namespace.namespace_id,
            "task_id": confirmed["task_id"],
        })
    );
    assert!(confirmed["task_id"].is_string());
}

#[tokio::test]
async fn a_record_that_cannot_be_published_stops_the_batch_and_its_redelivery_republishes_nothing_before_it() {
    let tenant = Tenant::new().await;
    let inbox = Inbox::subscribe(&tenant.bucket.bucket_id).await;
    let first = tenant.uploaded(b"first", json!({})).await;
    let (first_pending, _, first_completed) = confirmation(&tenant, id_of(&first), None, 200).await;
    let second = tenant.uploaded(b"second", json!({})).await;
    let (second_pending, _, second_completed) = confirmation(&tenant, id_of(&second), None, 200).await;

    let completed_first = stream_record(Some(&first_pending), Some(&first_completed), 1, None);
    // A change of an upload whose old image was not sent (a stream without old images).
    let mut unreadable = stream_record(Some(&second_pending), Some(&second_completed), 2, None);
    unreadable["dynamodb"].as_object_mut().unwrap().remove("OldImage");
    let completed_second = stream_record(Some(&second_pending), Some(&second_completed), 3, None);

    let batch = [completed_first, unreadable, completed_second.clone()];
    assert_eq!(deliver(PUBLISHER, &batch).await, vec!["2".to_owned()]);
    let events = received(&inbox).await;
    assert_eq!(
        events.iter().map(|e| &e["detail"]["event_id"]).collect::<Vec<_>>(),
        ["event-1"],
        "what precedes the failure, and nothing after it"
    );
    // Lambda delivers again from the reported record: nothing before it is published again,
    // and the record still fails.
    assert_eq!(deliver(PUBLISHER, &batch[1..]).await, vec!["2".to_owned()]);
    assert_eq!(received(&inbox).await, Vec::<Value>::new());

    // A record delivered twice (after a failed invocation) is published twice, with one
    // event_id: what subscribers drop duplicates by.
    publish(std::slice::from_ref(&completed_second)).await;
    publish(&[completed_second]).await;
    let events = received(&inbox).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["detail"], events[1]["detail"]);
    assert_eq!(events[0]["detail"]["event_id"], "event-3");
}
