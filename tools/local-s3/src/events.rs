//! S3's ObjectCreated events, delivered as AWS delivers them to this application: the
//! bucket sends its events to EventBridge, whose rule (`ObjectCreatedRule` in template.yaml)
//! queues those under a prefix in SQS, which runs a function. Here the same EventBridge
//! event, in the same SQS message envelope, goes to that function through `cargo lambda
//! watch`'s Lambda invoke endpoint, after the S3 response, and SQS's redelivery is kept: a
//! message the function reports failed (or whose invocation fails) is delivered again after
//! a visibility timeout, up to the queue's receive limit, and is then dropped with an error
//! line (where AWS would move it to the dead-letter queue). As the queue's event source
//! mapping does, it runs at most `MAX_CONCURRENCY` invocations at a time, so a burst of
//! uploads waits here, as in the queue, not in the function's.

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
/// Invocations at once (the mapping's `ScalingConfig.MaximumConcurrency` in template.yaml).
const MAX_CONCURRENCY: usize = 10;
/// An invocation that has not answered by then failed, as one past the function's timeout
/// (29 s in template.yaml) does; the message is delivered again.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(60);

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
    invocations: tokio::sync::Semaphore,
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
                    invocations: tokio::sync::Semaphore::new(MAX_CONCURRENCY),
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
        let _invocation = self.invocations.acquire().await.map_err(|err| err.to_string())?;
        let response = self
            .http
            .post(&self.url)
            .json(&sqs_event(message_id, body, receive))
            .timeout(INVOCATION_TIMEOUT)
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

#[cfg(test)]
mod concurrency_tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A function behind a loopback port that takes 50 ms per invocation: how many it ran,
    /// and the most at once.
    #[derive(Default)]
    struct SlowFunction {
        running: AtomicUsize,
        most: AtomicUsize,
        done: AtomicUsize,
    }

    async fn serve(function: Arc<SlowFunction>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/invocations", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let function = Arc::clone(&function);
                tokio::spawn(async move {
                    let running = function.running.fetch_add(1, Ordering::SeqCst) + 1;
                    function.most.fetch_max(running, Ordering::SeqCst);
                    // The request (small: one SQS envelope) up to the end of its body.
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 8192];
                    while !request.ends_with(b"}]}") {
                        let read = socket.read(&mut buffer).await.unwrap();
                        assert!(read > 0, "the request ended early");
                        request.extend_from_slice(&buffer[..read]);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    function.running.fetch_sub(1, Ordering::SeqCst);
                    function.done.fetch_add(1, Ordering::SeqCst);
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
                    socket.write_all(answer.as_bytes()).await.unwrap();
                });
            }
        });
        url
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_is_delivered_at_most_ten_invocations_at_a_time() {
        let function = Arc::new(SlowFunction::default());
        let notifier = Notifier::new(Some(serve(Arc::clone(&function)).await), "incoming/".into());
        for i in 0..40 {
            let key = format!("incoming/{i}");
            notifier.object_created(&Created {
                bucket: "b",
                key: &key,
                size: 1,
                etag: "\"e\"",
                reason: "PutObject",
            });
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while function.done.load(Ordering::SeqCst) < 40 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "delivered {:?} of 40",
                function.done
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(function.most.load(Ordering::SeqCst), MAX_CONCURRENCY);
    }
}
