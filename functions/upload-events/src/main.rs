//! Consumes the table's stream (filtered to upload changes and new batches) and publishes
//! "Upload Completed", "Upload Failed", "Upload Deleted", "Upload Expired" and "Batch
//! Submitted" on the default EventBridge bus (`docs/events.md`). Records are published in
//! order; the first that cannot be is reported (`ReportBatchItemFailures`): Lambda retries
//! the batch from it, so nothing before it is published again.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use bucket_uploads::events::{self, Retry};
use bucket_uploads::{App, Wiring};
use lambda_runtime::{LambdaEvent, service_fn};
use tracing::Instrument;

async fn handle(app: &App, event: Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let unpublished = events::publish(&app.events, &event.records, Retry::DEFAULT).await;
    if let Some(record) = unpublished.and_then(|index| event.records.get(index)) {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = record.change.sequence_number.clone();
        response.batch_item_failures.push(failure);
    }
    response
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    bucket_uploads::logging::init();
    let app = Wiring::from_env()?.publishing_events().build();
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let span = tracing::info_span!("stream batch", records = event.payload.records.len());
        async move { Ok::<_, lambda_runtime::Error>(handle(app, event.payload).await) }.instrument(span)
    }))
    .await
}
