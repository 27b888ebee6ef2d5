//! S3's ObjectCreated event as auto-confirm receives it: the EventBridge event the bucket
//! sends, in the message the queue's event source mapping hands the function.

use serde_json::{Value, json};

/// The queue's message (one record) for the event of `key` in `bucket`.
pub fn message(bucket: &str, key: &str) -> Value {
    let event = json!({
        "version": "0", "id": "e1", "detail-type": "Object Created", "source": "aws.s3",
        "account": "000000000000", "time": "2026-12-06T10:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": {"key": key, "size": 3, "etag": "e"},
                   "request-id": "r", "requester": "000000000000", "reason": "PutObject"},
    });
    json!({"Records": [{
        "messageId": "m1", "receiptHandle": "h1", "body": event.to_string(), "attributes": {},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:object-created", "awsRegion": "us-east-1",
    }]})
}
