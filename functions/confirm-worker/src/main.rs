//! The confirmation state machine's worker. `{"action": "confirm", "task_id"}` verifies and
//! records the task's upload; `{"action": "fail", "task_id", "error": {"Error", "Cause"}}`
//! (the Catch) marks the task and the upload FAILED. Errors carry the type the state
//! machine matches: `RetryableError` or `FinalError`.

use bucket_uploads::App;
use bucket_uploads::confirm::worker::{self, WorkerError};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::Value;
use tracing::Instrument;

#[derive(Deserialize)]
struct WorkerEvent {
    action: String,
    task_id: String,
    #[serde(default)]
    error: Option<Caught>,
}

#[derive(Deserialize)]
struct Caught {
    #[serde(rename = "Error")]
    error: Option<String>,
    #[serde(rename = "Cause")]
    cause: Option<String>,
}

async fn handle(app: &App, event: WorkerEvent) -> Result<Value, WorkerError> {
    let task = match event.action.as_str() {
        "confirm" => worker::run(app, &event.task_id).await?,
        "fail" => {
            let caught = event.error.as_ref();
            let message = worker::caught_message(
                caught.and_then(|c| c.error.as_deref()),
                caught.and_then(|c| c.cause.as_deref()),
            );
            worker::fail(app, &event.task_id, &message).await?
        }
        other => return Err(WorkerError::Final(format!("unknown action '{other}'"))),
    };
    serde_json::to_value(task.view()).map_err(|err| WorkerError::Final(format!("the task does not serialize: {err}")))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = App::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<WorkerEvent>| {
        let span = tracing::info_span!("task", action = %event.payload.action, task_id = %event.payload.task_id);
        async move {
            handle(app, event.payload).await.map_err(|err| {
                tracing::warn!(error_type = err.error_type(), error = %err, "task run failed");
                Diagnostic {
                    error_type: err.error_type().to_owned(),
                    error_message: err.to_string(),
                }
            })
        }
        .instrument(span)
    }))
    .await
}
