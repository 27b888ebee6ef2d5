//! The default EventBridge bus, where the events of `crate::events` are published with source
//! `bucket-uploads`. Only the function that publishes builds one with [`EventBus::new`]
//! (`Wiring::publishing_events`): the EventBridge client is linked into no other binary.

use crate::aws::{LazyClient, sdk_failure};
use crate::calls::CallCounter;
use crate::errors::Failure;
use crate::time::Timestamp;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_types::SdkConfig;
use futures::future::BoxFuture;
use std::sync::Arc;

/// Every event's `source`.
pub const SOURCE: &str = "bucket-uploads";

/// One event as the bus takes it (source and bus are the sink's).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub detail_type: &'static str,
    pub detail: String,
    pub time: Timestamp,
}

/// What the bus answered for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    Published,
    /// Refused, with the bus's error code (throttled, an internal error…).
    Failed(String),
}

/// Where events go: EventBridge ([`EventBus`]), or a fake in tests.
pub trait EventSink: Send + Sync {
    /// Publishes up to ten entries; one outcome per entry, in order. `Err` when the call as
    /// a whole failed (no entry was published).
    fn put<'a>(&'a self, entries: &'a [Entry]) -> BoxFuture<'a, Result<Vec<EntryOutcome>, Failure>>;
}

/// The event bus, or nothing (a function that does not publish).
#[derive(Clone, Debug, Default)]
pub struct EventBus {
    sink: Option<Arc<EventBridge>>,
}

#[derive(Debug)]
struct EventBridge {
    client: LazyClient<aws_sdk_eventbridge::Client>,
}

impl EventBus {
    /// The account's default bus, through a client built on first use.
    pub fn new(sdk: &SdkConfig) -> Self {
        // EventBridge calls are not counted: the counts are of DynamoDB and S3.
        let uncounted = CallCounter::default();
        Self {
            sink: Some(Arc::new(EventBridge {
                client: LazyClient::new(sdk, &uncounted),
            })),
        }
    }

    /// Nothing is published.
    pub fn unconfigured() -> Self {
        Self::default()
    }
}

impl EventSink for EventBus {
    fn put<'a>(&'a self, entries: &'a [Entry]) -> BoxFuture<'a, Result<Vec<EntryOutcome>, Failure>> {
        match &self.sink {
            Some(sink) => sink.put(entries),
            None => Box::pin(async {
                tracing::error!("events to publish, but no event bus is configured");
                Err(Failure::Unavailable)
            }),
        }
    }
}

impl EventBridge {
    fn put<'a>(&'a self, entries: &'a [Entry]) -> BoxFuture<'a, Result<Vec<EntryOutcome>, Failure>> {
        Box::pin(async move {
            let request: Vec<PutEventsRequestEntry> = entries
                .iter()
                .map(|entry| {
                    PutEventsRequestEntry::builder()
                        .source(SOURCE)
                        .detail_type(entry.detail_type)
                        .detail(&entry.detail)
                        .time(aws_smithy_types::DateTime::from_millis(entry.time.epoch_millis()))
                        .build()
                })
                .collect();
            let output = self
                .client
                .get(|sdk, _| aws_sdk_eventbridge::Client::new(sdk))
                .put_events()
                .set_entries(Some(request))
                .send()
                .await
                .map_err(|err| sdk_failure("put events", err))?;
            if output.entries().len() != entries.len() {
                return Err(Failure::bug(format!(
                    "put events: {} entries sent, {} answered",
                    entries.len(),
                    output.entries().len()
                )));
            }
            Ok(output
                .entries()
                .iter()
                .map(|answer| match answer.error_code() {
                    Some(code) => EntryOutcome::Failed(code.to_owned()),
                    None => EntryOutcome::Published,
                })
                .collect())
        })
    }
}
