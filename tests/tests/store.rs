//! The DynamoDB adapter against DynamoDB Local: records round-trip, and names are claimed
//! exactly once even under concurrency.

use api_tests::app;
use bucket_uploads::tenancy;

#[tokio::test]
async fn concurrent_creates_of_one_name_yield_one_namespace() {
    let app = app().await;
    let tenant = tenancy::create_tenant(&app.store, "race").await.unwrap();
    let attempts = (0..8).map(|_| tenancy::create_namespace(&app.store, &tenant.tenant_id, "contested"));
    // Polled together, so the eight transactions really race.
    let results = futures::future::join_all(attempts).await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for loser in results.iter().filter_map(|r| r.as_ref().err()) {
        let answered = bucket_uploads::ApiError::from(loser.clone());
        assert_eq!(answered.status(), 400);
        assert_eq!(answered.body()["error"]["code"], "namespace_name_taken");
    }
    let found = app
        .store
        .namespace_by_name(&tenant.tenant_id, "contested")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&found, winners[0]);
    // The same name in another tenant is fine.
    let other = tenancy::create_tenant(&app.store, "other").await.unwrap();
    tenancy::create_namespace(&app.store, &other.tenant_id, "contested")
        .await
        .unwrap();
}

#[tokio::test]
async fn bucket_names_are_unique_per_namespace() {
    let app = app().await;
    let tenant = tenancy::create_tenant(&app.store, "t").await.unwrap();
    let ns = tenancy::create_namespace(&app.store, &tenant.tenant_id, "n")
        .await
        .unwrap();
    let first = tenancy::create_bucket(&app.store, &ns.namespace_id, "b", Some(10))
        .await
        .unwrap();
    let again = tenancy::create_bucket(&app.store, &ns.namespace_id, "b", None)
        .await
        .unwrap_err();
    assert_eq!(
        bucket_uploads::ApiError::from(again).body()["error"]["code"],
        "bucket_name_taken"
    );
    assert_eq!(
        app.store.bucket_by_name(&ns.namespace_id, "b").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(app.store.bucket(&first.bucket_id).await.unwrap(), Some(first));
    assert!(
        tenancy::create_bucket(&app.store, &ns.namespace_id, "bkt_sneaky", None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn api_keys_are_stored_hashed() {
    let app = app().await;
    let tenant = tenancy::create_tenant(&app.store, "t").await.unwrap();
    let key = tenancy::create_api_key(&app.store, &tenant.tenant_id, Some("ci".into()))
        .await
        .unwrap();
    let item = app
        .store
        .client()
        .get_item()
        .table_name(app.store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(key.record.key_id.to_string()),
        )
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("api_key".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let secret = key.plaintext.rsplit_once('_').unwrap().1;
    for value in item.values() {
        let text = format!("{value:?}");
        assert!(!text.contains(secret), "the stored item contains the secret: {text}");
    }
    assert_eq!(
        item["key_sha256"].as_s().unwrap(),
        &api_tests::sha256_hex(key.plaintext.as_bytes())
    );
}

/// Claims carry a copy of what they name (one read per name); a claim written before they
/// did still resolves, through the record it points at.
#[tokio::test]
async fn names_resolve_from_the_claim_and_from_claims_without_a_copy() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let app = app().await;
    let tenant = tenancy::create_tenant(&app.store, "t").await.unwrap();
    let ns = tenancy::create_namespace(&app.store, &tenant.tenant_id, "n")
        .await
        .unwrap();
    let bucket = tenancy::create_bucket(&app.store, &ns.namespace_id, "b", None)
        .await
        .unwrap();
    let claim_key = |pk: String| {
        [("pk", pk), ("sk", "claim".to_owned())].map(|(name, value)| (name.to_owned(), AttributeValue::S(value)))
    };
    let bucket_claim = claim_key(format!("bktname#{}#b", ns.namespace_id));
    let stored = app
        .store
        .client()
        .get_item()
        .table_name(app.store.table())
        .set_key(Some(bucket_claim.clone().into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(stored.contains_key("record"), "{stored:?}");
    assert_eq!(
        app.store.bucket_by_name(&ns.namespace_id, "b").await.unwrap(),
        Some(bucket.clone())
    );

    // An older claim: only the target id.
    app.store
        .client()
        .update_item()
        .table_name(app.store.table())
        .set_key(Some(bucket_claim.into()))
        .update_expression("REMOVE #r")
        .expression_attribute_names("#r", "record")
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.store.bucket_by_name(&ns.namespace_id, "b").await.unwrap(),
        Some(bucket)
    );
    assert_eq!(
        app.store.namespace_by_name(&tenant.tenant_id, "n").await.unwrap(),
        Some(ns)
    );
}
