//! The confirmation state machine's worker. `{"action": "confirm", "task_id"}` verifies and
//! records the task's upload; `{"action": "fail", "task_id", "error": {"Error", "Cause"}}`
//! (the Catch) marks the task and the upload FAILED. Errors carry the type the state
//! machine matches: `RetryableError` or `FinalError`; an event that does not parse is final.

use bucket_uploads::App;
use bucket_uploads::confirm::worker::{self, WorkerError};
use bucket_uploads::dispatch::WorkerEvent;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use tracing::Instrument;

async fn handle(app: &App, payload: Value) -> Result<Value, WorkerError> {
    let event = WorkerEvent::parse(payload).map_err(WorkerError::Final)?;
    let span = tracing::info_span!("task", task_id = %event.task_id());
    let task = worker::handle(app, event).instrument(span).await?;
    serde_json::to_value(task.view()).map_err(|err| WorkerError::Final(format!("the task does not serialize: {err}")))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = App::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(app, event.payload).await.map_err(|err| {
            tracing::warn!(error_type = err.error_type(), error = %err, "task run failed");
            Diagnostic {
                error_type: err.error_type().to_owned(),
                error_message: err.to_string(),
            }
        })
    }))
    .await
}
