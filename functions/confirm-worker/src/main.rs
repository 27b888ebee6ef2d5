//! The confirmation state machine's worker. `{"action": "confirm", "task_id"}` verifies and
//! records the task's upload; `{"action": "confirm_batch", "task_id"}` the items of a batch
//! confirmation (answering the event again with `"more": true` when it ran out of time);
//! `{"action": "fail", "task_id", "error": {"Error", "Cause"}}` (the Catch) marks the task
//! FAILED. Errors carry the type the state machine matches: `RetryableError` or
//! `FinalError`; an event that does not parse is final.

use bucket_uploads::confirm::worker::{self, Ran, WorkerError};
use bucket_uploads::dispatch::WorkerEvent;
use bucket_uploads::time::Timestamp;
use bucket_uploads::{App, Wiring};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use tracing::Instrument;

async fn handle(app: &App, payload: Value, deadline: Timestamp) -> Result<Value, WorkerError> {
    let event = WorkerEvent::parse(payload).map_err(WorkerError::Final)?;
    let span = tracing::info_span!("task", task_id = %event.task_id());
    match worker::handle(app, event.clone(), deadline).instrument(span).await? {
        Ran::Done(task) => serde_json::to_value(task.view())
            .map_err(|err| WorkerError::Final(format!("the task does not serialize: {err}"))),
        Ran::More => Ok(event.more()),
    }
}

/// When the invocation must end. Lambda sends its deadline as epoch milliseconds; `cargo
/// lambda watch` sends the function's timeout itself (milliseconds from now), which no
/// epoch deadline is as small as.
fn deadline_of(deadline_ms: u64, now: Timestamp) -> Timestamp {
    const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;
    if deadline_ms >= PLAUSIBLE_EPOCH_MS {
        Timestamp::from_epoch_millis(deadline_ms)
    } else {
        now.plus_millis(i64::try_from(deadline_ms).unwrap_or(i64::MAX))
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    bucket_uploads::logging::init();
    let app = Wiring::from_env()?.reading_objects().build();
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = deadline_of(event.context.deadline, Timestamp::now());
        handle(app, event.payload, deadline).await.map_err(|err| {
            tracing::warn!(error_type = err.error_type(), error = %err, "task run failed");
            Diagnostic {
                error_type: err.error_type().to_owned(),
                error_message: err.to_string(),
            }
        })
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_epoch_millis_or_a_timeout_from_now() {
        let now = Timestamp::parse("2026-11-29T23:00:00Z").unwrap();
        let epoch = 1_795_000_000_000;
        assert_eq!(deadline_of(epoch, now), Timestamp::from_epoch_millis(epoch));
        assert_eq!(deadline_of(600_000, now), now.plus_seconds(600));
    }
}
