//! The local event bus: moto's EventBridge (`AWS_ENDPOINT_URL_EVENTBRIDGE`, where the
//! functions publish). A test subscribes a queue (moto's SQS, `AWS_ENDPOINT_URL_SQS`) to the
//! events of its own bucket with a rule on the default bus, as a subscriber in AWS would,
//! and reads back what was published. moto delivers to the queue within the PutEvents call,
//! so once the publisher answered, its events are there.

use aws_sdk_eventbridge::types::Target;
use bucket_uploads::event_bus::SOURCE;
use bucket_uploads::ids::BucketId;
use serde_json::{Value, json};

pub struct Inbox {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Inbox {
    /// A new queue receiving every event whose detail names `bucket_id`.
    pub async fn subscribe(bucket_id: &BucketId) -> Self {
        let sdk = bucket_uploads::aws::function_sdk_config();
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        let name = format!("events-{bucket_id}");
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("create a queue (is AWS_ENDPOINT_URL_SQS moto?)")
            .queue_url
            .expect("a queue URL");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("the queue's ARN")
            .attributes
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
            .expect("a QueueArn");
        let pattern = json!({"source": [SOURCE], "detail": {"bucket_id": [bucket_id]}});
        events
            .put_rule()
            .name(&name)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("put a rule on the default bus (is AWS_ENDPOINT_URL_EVENTBRIDGE moto?)");
        let target = Target::builder().id("inbox").arn(arn).build().expect("a target");
        let answer = events
            .put_targets()
            .rule(&name)
            .targets(target)
            .send()
            .await
            .expect("target the queue");
        assert_eq!(answer.failed_entry_count(), 0, "{answer:?}");
        Self { sqs, queue_url }
    }

    /// The events received since the last call (each as EventBridge delivers it: `source`,
    /// `detail-type`, `time`, `detail`…), taken off the queue.
    pub async fn drain(&self) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive events");
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return events;
            }
            for message in messages {
                let body = message.body.as_deref().expect("a message body");
                events.push(serde_json::from_str(body).unwrap_or_else(|_| panic!("not an event: {body}")));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle.as_deref().expect("a receipt handle"))
                    .send()
                    .await
                    .expect("delete a received event");
            }
        }
    }
}
