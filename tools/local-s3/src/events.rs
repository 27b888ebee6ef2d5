//! S3's ObjectCreated events, delivered as AWS delivers them to this application: the
//! bucket sends its events to EventBridge, whose rule (`ObjectCreatedRule` in template.yaml)
//! queues those under a prefix in SQS, which runs a function. Here the same EventBridge
//! event, in the same SQS message envelope, goes to that function through `cargo lambda
//! watch`'s Lambda invoke endpoint, after the S3 response, and SQS's redelivery is kept: a
//! message the function reports failed (or whose invocation fails) is delivered again after
//! a visibility timeout, up to the queue's receive limit, and is then dropped with an error
//! line (where AWS would move it to the dead-letter queue).

use md5::{Digest, Md5};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How often a message is received before it goes to the dead-letter queue (the queue's
/// `maxReceiveCount` in template.yaml).
const MAX_RECEIVES: u32 = 5;
/// The first wait before a failed message is delivered again (doubling after each); AWS
/// waits the queue's visibility timeout, which a local run has no reason to.
const FIRST_REDELIVERY: Duration = Duration::from_millis(500);

/// Where events go, if anywhere.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    target: Option<Arc<Target>>,
}

#[derive(Debug)]
struct Target {
    /// The function's Lambda invoke URL.
    url: String,
    /// Only keys under this prefix (the rule's `detail.object.key` pattern).
    prefix: String,
    http: reqwest::Client,
}

/// An object as S3 reports it created.
pub struct Created<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub size: u64,
    pub etag: &'a str,
    /// S3's `reason`: PutObject, CopyObject or CompleteMultipartUpload.
    pub reason: &'static str,
}

impl Notifier {
    pub fn new(url: Option<String>, prefix: String) -> Self {
        Self {
            target: url.map(|url| {
                Arc::new(Target {
                    url,
                    prefix,
                    http: reqwest::Client::new(),
                })
            }),
        }
    }

    /// Delivers the event for `created` in the background, if it is one to deliver.
    pub fn object_created(&self, created: &Created<'_>) {
        let Some(target) = self.target.clone().filter(|t| created.key.starts_with(&t.prefix)) else {
            return;
        };
        let body = event(created).to_string();
        let key = created.key.to_owned();
        tokio::spawn(async move {
            let message_id = ulid::Ulid::new().to_string().to_ascii_lowercase();
            let mut wait = FIRST_REDELIVERY;
            for receive in 1..=MAX_RECEIVES {
                match target.deliver(&message_id, &body, receive).await {
                    Ok(()) => return,
                    Err(why) if receive < MAX_RECEIVES => {
                        tracing::warn!(%key, receive, %why, "ObjectCreated event to be delivered again");
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                    }
                    Err(why) => tracing::error!(%key, receive, %why, "ObjectCreated event dead-lettered"),
                }
            }
        });
    }
}

impl Target {
    /// One receive of the message: the invocation must succeed and not report it failed.
    async fn deliver(&self, message_id: &str, body: &str, receive: u32) -> Result<(), String> {
        let response = self
            .http
            .post(&self.url)
            .json(&sqs_event(message_id, body, receive))
            .send()
            .await
            .map_err(|err| format!("invocation failed: {err}"))?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .map_err(|err| format!("answer is not JSON ({status}): {err}"))?;
        if !status.is_success() {
            return Err(format!("function failed ({status}): {answer}"));
        }
        let failed = answer["batchItemFailures"]
            .as_array()
            .is_some_and(|failures| failures.iter().any(|f| f["itemIdentifier"] == message_id));
        if failed {
            return Err("the function reported the message failed".to_owned());
        }
        Ok(())
    }
}

/// The EventBridge event S3 sends (the key as stored, not URL-encoded; the time to the second).
fn event(created: &Created<'_>) -> Value {
    let now = chrono::Utc::now();
    json!({
        "version": "0",
        "id": ulid::Ulid::new().to_string().to_ascii_lowercase(),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "000000000000",
        "time": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{}", created.bucket)],
        "detail": {
            "version": "0",
            "bucket": {"name": created.bucket},
            "object": {
                "key": created.key,
                "size": created.size,
                "etag": created.etag.trim_matches('"'),
                "sequencer": format!("{:018X}", now.timestamp_nanos_opt().unwrap_or_default()),
            },
            "request-id": ulid::Ulid::new().to_string(),
            "requester": "000000000000",
            "source-ip-address": "127.0.0.1",
            "reason": created.reason,
        },
    })
}

/// The event as the SQS event source mapping hands it to the function.
fn sqs_event(message_id: &str, body: &str, receive: u32) -> Value {
    let now_ms = chrono::Utc::now().timestamp_millis().to_string();
    json!({"Records": [{
        "messageId": message_id,
        "receiptHandle": format!("local-{message_id}-{receive}"),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": receive.to_string(),
            "SentTimestamp": now_ms,
            "SenderId": "AIDAEVENTBRIDGE",
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hex::encode(Md5::digest(body.as_bytes())),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:object-created",
        "awsRegion": "us-east-1",
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_s3_sends_them() {
        let created = Created {
            bucket: "uploads",
            key: "incoming/a b+c.txt",
            size: 5,
            etag: "\"abc\"",
            reason: "PutObject",
        };
        let event = event(&created);
        assert_eq!(event["detail-type"], "Object Created");
        assert_eq!(event["detail"]["object"]["key"], "incoming/a b+c.txt");
        assert_eq!(event["detail"]["object"]["etag"], "abc");
        let message = sqs_event("m1", &event.to_string(), 2);
        let record = &message["Records"][0];
        assert_eq!(record["attributes"]["ApproximateReceiveCount"], "2");
        let body: Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, event);
    }
}
