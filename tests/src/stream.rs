//! The table's stream, for the functions that consume it. DynamoDB Local has no stream
//! consumer, so a test reads an item before and after a write and builds the record
//! DynamoDB would send for it (NEW_AND_OLD_IMAGES), then hands it to the function under
//! `cargo lambda watch` as its event source mapping would.

use crate::{api_url, expect_json, http};
use aws_sdk_dynamodb::types::AttributeValue;
use bucket_uploads::App;
use bucket_uploads::store::schema::{PARTITION_KEY, SORT_KEY};
use serde_json::{Value, json};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

/// The key of item `pk`/`sk`.
pub fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([
        (PARTITION_KEY.to_owned(), AttributeValue::S(pk.to_owned())),
        (SORT_KEY.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

/// The item `pk`/`sk` as stored now (strongly consistent), if there is one.
pub async fn raw_item(app: &App, pk: &str, sk: &str) -> Option<Item> {
    let store = &app.store;
    store
        .client()
        .get_item()
        .table_name(store.table())
        .set_key(Some(key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .expect("read an item")
        .item
}

/// Deletes the item `pk`/`sk`, as DynamoDB's TTL would (DynamoDB Local keeps expired items).
pub async fn delete_item(app: &App, pk: &str, sk: &str) {
    let store = &app.store;
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .set_key(Some(key(pk, sk)))
        .send()
        .await
        .expect("delete an item");
}

/// Who made a change, as a stream record's `userIdentity` says: DynamoDB's TTL.
pub fn by_ttl() -> Option<Value> {
    Some(json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"}))
}

/// The record of one change: INSERT (`old` none), MODIFY (both) or REMOVE (`new` none).
/// `sequence` is its SequenceNumber and names its eventID (`event-{sequence}`); `user` its
/// userIdentity (none for a request's write).
pub fn stream_record(old: Option<&Item>, new: Option<&Item>, sequence: u32, user: Option<Value>) -> Value {
    let image = |item: &Item| serde_json::to_value(serde_dynamo::Item::from(item.clone())).expect("an image");
    let some = old.or(new).expect("an old or a new image");
    let keys: Item = some
        .iter()
        .filter(|(name, _)| *name == PARTITION_KEY || *name == SORT_KEY)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let event_name = match (old, new) {
        (None, Some(_)) => "INSERT",
        (Some(_), Some(_)) => "MODIFY",
        _ => "REMOVE",
    };
    let mut change = json!({
        "ApproximateCreationDateTime": 1_790_000_000 + u64::from(sequence),
        "Keys": image(&keys),
        "SequenceNumber": sequence.to_string(),
        "SizeBytes": 512,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(old) = old {
        change["OldImage"] = image(old);
    }
    if let Some(new) = new {
        change["NewImage"] = image(new);
    }
    let mut record = json!({
        "eventID": format!("event-{sequence}"),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/uploads/stream/2026-01-01T00:00:00.000",
        "dynamodb": change,
    });
    if let Some(user) = user {
        record["userIdentity"] = user;
    }
    record
}

/// Invokes `function` through `cargo lambda watch` with a batch of stream records and returns
/// the sequence numbers it reported as failed.
pub async fn deliver(function: &str, records: &[Value]) -> Vec<String> {
    let url = format!("{}/2015-03-31/functions/{function}/invocations", api_url());
    let response = http()
        .post(url)
        .json(&json!({ "Records": records }))
        .send()
        .await
        .unwrap_or_else(|err| panic!("invoke {function}: {err}"));
    let answer = expect_json(response, 200).await;
    answer["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a batch response: {answer}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().expect("an item identifier").to_owned())
        .collect()
}
