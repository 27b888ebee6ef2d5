//! Auto-confirm: S3's ObjectCreated events for staged uploads (the bucket sends its events to
//! EventBridge, whose rule queues those under `incoming/` in SQS, which runs this function)
//! each confirm their upload as a client's confirmation would (`confirm::auto`). Messages
//! are independent and handled together; one that met an unavailable dependency, or that
//! does not read as an S3 event, is reported failed (`ReportBatchItemFailures`) and
//! delivered again, and after the queue's receive limit waits in its dead-letter queue.

mod event;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use bucket_uploads::confirm::auto::{self, Outcome};
use bucket_uploads::{App, Wiring};
use lambda_runtime::{LambdaEvent, service_fn};
use tracing::Instrument;

/// Whether the message is done with (`false`: deliver it again).
async fn handle_message(app: &App, message: &SqsMessage) -> bool {
    let created = match event::object_created(message.body.as_deref().unwrap_or_default()) {
        Ok(Some(created)) => created,
        Ok(None) => {
            tracing::info!("not an S3 Object Created event");
            return true;
        }
        Err(err) => {
            tracing::error!(error = %err, "unreadable message");
            return false;
        }
    };
    let span = tracing::info_span!("object created", key = %created.key);
    match auto::object_created(app, &created).instrument(span).await {
        Ok(Outcome::Ignored(why)) => tracing::info!(key = %created.key, why, "nothing to confirm"),
        Ok(Outcome::Confirmed(upload)) => {
            tracing::info!(upload_id = %upload.upload_id, status = %upload.status, "confirmed");
        }
        Ok(Outcome::Refused(err)) => {
            tracing::info!(key = %created.key, code = err.code(), error = %err, "not confirmed")
        }
        Err(failure) => {
            tracing::warn!(key = %created.key, error = %failure, "to be delivered again");
            return false;
        }
    }
    true
}

async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let handled = futures::future::join_all(event.records.iter().map(|message| async move {
        let span = tracing::info_span!("message", message_id = message.message_id.as_deref().unwrap_or(""));
        (message, handle_message(app, message).instrument(span).await)
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for (message, done) in handled {
        if !done && let Some(id) = &message.message_id {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id.clone();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    bucket_uploads::logging::init();
    let app = Wiring::from_env()?.starting_workers().build();
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let span = tracing::info_span!("queue batch", messages = event.payload.records.len());
        async move { Ok::<_, lambda_runtime::Error>(handle(app, event.payload).await) }.instrument(span)
    }))
    .await
}
