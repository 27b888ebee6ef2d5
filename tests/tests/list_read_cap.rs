//! What one List request may read is capped (`listing::MAX_ITEMS_READ`): a page deeper than
//! the cap, or a filter the indexes cannot narrow over more uploads than it, is a 400
//! `list_too_broad` that says how to narrow it; a status filter or a created_at range that
//! does narrow it is answered.

use api_tests::{Tenant, expect_error, expect_json};
use aws_sdk_dynamodb::types::AttributeValue;
use bucket_uploads::listing::{ListError, MAX_ITEMS_READ, Reading, TooBroad, list_bucket_reading};
use bucket_uploads::model::UploadStatus;
use bucket_uploads::query::{ListRequest, PageParams};
use bucket_uploads::time::Timestamp;
use serde_json::json;

#[tokio::test]
async fn a_page_deeper_than_the_cap_is_a_400_with_its_code() {
    let tenant = Tenant::new().await;
    tenant
        .create_upload(json!({"filename": "a.txt", "content_type": "text/plain"}))
        .await;
    let deepest = MAX_ITEMS_READ - 20;
    let fine = expect_json(tenant.list("", json!({"offset": deepest, "limit": 20})).await, 200).await;
    assert_eq!(fine["results"], json!([]));
    assert_eq!(fine["pagination"]["total"], 1);

    for (query, body) in [
        ("", json!({"offset": deepest + 1, "limit": 20})),
        (&*format!("?offset={}&limit=1", MAX_ITEMS_READ), json!({})),
    ] {
        let envelope = expect_error(tenant.list(query, body).await, 400, "BadRequestError").await;
        assert_eq!(envelope["error"]["code"], "list_too_broad", "{envelope}");
        assert_eq!(
            envelope["error"]["details"]["max_items_read"], MAX_ITEMS_READ,
            "{envelope}"
        );
        let message = envelope["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("offset + limit") && message.contains("created_at"),
            "{message}"
        );
    }
}

/// The bucket's counters say it holds more PENDING uploads than the cap.
async fn counted_as_huge(tenant: &Tenant) {
    let store = &tenant.app.store;
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(tenant.bucket.bucket_id.to_string()))
        .key("sk", AttributeValue::S("counters".into()))
        .update_expression("ADD #c :n")
        .expression_attribute_names("#c", format!("count_{}", UploadStatus::Pending))
        .expression_attribute_values(":n", AttributeValue::N((MAX_ITEMS_READ + 1).to_string()))
        .send()
        .await
        .expect("update the counters");
}

#[tokio::test]
async fn a_filter_over_more_uploads_than_the_cap_is_refused_before_reading() {
    let tenant = Tenant::new().await;
    let done = tenant.uploaded(b"done", json!({"metadata": {"campaign": "c3"}})).await;
    expect_json(tenant.confirm(done["upload_id"].as_str().unwrap(), None).await, 200).await;
    counted_as_huge(&tenant).await;

    // PENDING holds the counted cap + 1, COMPLETED one more.
    for (filters, in_scope) in [
        (json!({"metadata.campaign": "c3"}), MAX_ITEMS_READ + 2),
        (
            json!({"status": "PENDING", "metadata.campaign": "c3"}),
            MAX_ITEMS_READ + 1,
        ),
        (json!({"NOT": {"status": "COMPLETED"}}), MAX_ITEMS_READ + 2),
    ] {
        let response = tenant.list("", json!({ "filters": filters })).await;
        let envelope = expect_error(response, 400, "BadRequestError").await;
        assert_eq!(envelope["error"]["code"], "list_too_broad", "{envelope}");
        assert_eq!(envelope["error"]["details"]["uploads_in_scope"], in_scope, "{filters}");
        let message = envelope["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("status filter") && message.contains("created_at range"),
            "{message}"
        );
    }

    // Narrowed by status, or by created_at (judged as it is read), it is answered.
    let narrowed = [
        json!({"AND": [{"status": "COMPLETED"}, {"metadata.campaign": "c3"}]}),
        json!({"AND": [
            {"field": "created_at", "operator": "gte", "value": Timestamp::now().plus_seconds(-600).to_string()},
            {"metadata.campaign": "c3"},
        ]}),
    ];
    for filters in narrowed {
        let listed = expect_json(tenant.list("", json!({"filters": filters})).await, 200).await;
        assert_eq!(listed["pagination"]["total"], 1, "{filters}");
        assert_eq!(listed["results"][0]["upload_id"], done["upload_id"]);
    }
    // A plain listing, and one of a status alone, read one page whatever the bucket holds:
    // the totals come from the counters.
    expect_json(tenant.list("", json!({})).await, 200).await;
    let pending = expect_json(tenant.list("", json!({"filters": {"status": "PENDING"}})).await, 200).await;
    assert_eq!(pending["pagination"]["total"], MAX_ITEMS_READ + 1, "{pending}");
}

#[tokio::test]
async fn a_range_that_reads_past_the_cap_stops_there() {
    let tenant = Tenant::new().await;
    let started = Timestamp::now();
    for i in 0..12 {
        tenant
            .create_upload(json!({"filename": format!("f{i}.txt"), "content_type": "text/plain", "metadata": {"i": i}}))
            .await;
    }
    let capped = Reading {
        max_items_read: 5,
        ..Reading::DEFAULT
    };
    let since = |t: Timestamp| {
        json!({"filters": {"AND": [
            {"field": "created_at", "operator": "gte", "value": t.to_string()},
            {"field": "metadata.i", "operator": "gte", "value": 0},
        ]}})
    };
    let request = ListRequest::parse(Some(&since(started.plus_seconds(-1))), PageParams::default()).unwrap();
    let refused = list_bucket_reading(&tenant.app, &tenant.bucket, &request, capped).await;
    assert!(
        matches!(
            refused,
            Err(ListError::TooBroad(TooBroad::Filter { in_scope: None, cap: 5 }))
        ),
        "{refused:?}"
    );
    // The same reading over a range holding fewer items than the cap.
    let request = ListRequest::parse(Some(&since(Timestamp::now().plus_seconds(60))), PageParams::default()).unwrap();
    let listed = list_bucket_reading(&tenant.app, &tenant.bucket, &request, capped)
        .await
        .unwrap();
    assert_eq!((listed.page.total, listed.items_read), (0, 0));
}
