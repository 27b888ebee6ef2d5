//! Consumes the table's stream (filtered to TTL removals of upload records): each expired
//! upload's bytes are deleted and it leaves its bucket's counters. Records are handled in
//! order and the first that fails is reported (`ReportBatchItemFailures`): Lambda retries
//! the batch from it, so nothing after it is skipped and nothing before it is redone.

mod stream;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use bucket_uploads::{App, Wiring, expiry};
use lambda_runtime::{LambdaEvent, service_fn};
use tracing::Instrument;

async fn handle(app: &App, event: Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in &event.records {
        let handled = match stream::expired_upload(record) {
            None => Ok(()),
            Some(Ok(upload)) => {
                let span = tracing::info_span!("expired upload", upload_id = %upload.upload_id);
                expiry::forget(app, &upload)
                    .instrument(span)
                    .await
                    .map_err(|err| err.to_string())
            }
            Some(Err(err)) => {
                tracing::error!(error = %err, event_id = %record.event_id, "unreadable stream record");
                Err(err)
            }
        };
        if handled.is_err() {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    bucket_uploads::logging::init();
    let app = Wiring::from_env()?.build();
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let span = tracing::info_span!("stream batch", records = event.payload.records.len());
        async move { Ok::<_, lambda_runtime::Error>(handle(app, event.payload).await) }.instrument(span)
    }))
    .await
}
