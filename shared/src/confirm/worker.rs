//! The asynchronous confirmation worker: what the state machine's task states run.
//!
//! `Confirm` runs the same orchestrator as every confirmation ([`super::confirm`]) for the
//! task's upload, from PROCESSING, completing the task in the same transaction. It is
//! idempotent: a re-run after a crash or a retry, or two runs at once, converge on one
//! result. `Fail` (the state machine's Catch) fails the task and its upload. Errors are
//! typed so the state machine retries only what a retry can fix.

use super::batch;
use super::{ConfirmError, ConfirmRequest, Origin, confirm};
use crate::app::App;
use crate::dispatch::WorkerEvent;
use crate::errors::Failure;
use crate::ids::TaskId;
use crate::model::{Task, TaskKind, TaskStatus, Upload, UploadStatus};
use crate::store::StoreError;
use crate::time::Timestamp;

/// How the state machine must treat a failed run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// Throttling, timeouts, 5xx: retry with backoff.
    #[error("{0}")]
    Retryable(String),
    /// The bytes do not match, the object is missing, the event or task makes no sense, a
    /// bug: retrying cannot help; the task and its upload become FAILED.
    #[error("{0}")]
    Final(String),
}

impl WorkerError {
    /// The error type the state machine's `Retry` and `Catch` match on.
    pub fn error_type(&self) -> &'static str {
        match self {
            WorkerError::Retryable(_) => "RetryableError",
            WorkerError::Final(_) => "FinalError",
        }
    }
}

impl From<Failure> for WorkerError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Unavailable => WorkerError::Retryable(failure.to_string()),
            Failure::Bug(_) => WorkerError::Final(failure.to_string()),
        }
    }
}

impl From<ConfirmError> for WorkerError {
    fn from(err: ConfirmError) -> Self {
        match err {
            ConfirmError::Failure(failure) => failure.into(),
            other => WorkerError::Final(other.to_string()),
        }
    }
}

/// What a run of the worker came to.
#[derive(Debug)]
pub enum Ran {
    /// The task as it then stands.
    Done(Box<Task>),
    /// Part of the work is done (time ran out): the state machine runs the same event again.
    More,
}

/// Runs one event of the state machine, within `deadline` (the invocation's).
pub async fn handle(app: &App, event: WorkerEvent, deadline: Timestamp) -> Result<Ran, WorkerError> {
    match event {
        WorkerEvent::Confirm { task_id } => match run_until(app, &task_id, deadline).await {
            Ok(task) => Ok(Ran::Done(Box::new(task))),
            Err(Unfinished) => Ok(Ran::More),
            Err(Stopped(err)) => Err(err),
        },
        WorkerEvent::ConfirmBatch { task_id } => {
            let task = current(app, &task_id).await?;
            Ok(batch::run(app, task, deadline).await?)
        }
        WorkerEvent::Fail { task_id, error } => {
            let message = error.map_or_else(|| "unknown error".to_owned(), |caught| caught.message());
            Ok(Ran::Done(Box::new(fail(app, &task_id, &message).await?)))
        }
    }
}

async fn load(app: &App, task_id: &TaskId) -> Result<(Task, Upload), WorkerError> {
    let task = current(app, task_id).await?;
    let TaskKind::Confirm { inputs, .. } = &task.kind else {
        return Err(WorkerError::Final(format!("task {task_id} is not a confirmation")));
    };
    let upload = app
        .store
        .upload(&inputs.upload_id)
        .await?
        .ok_or_else(|| WorkerError::Final(format!("unknown upload {}", inputs.upload_id)))?;
    Ok((task, upload))
}

async fn current(app: &App, task_id: &TaskId) -> Result<Task, WorkerError> {
    app.store
        .task(task_id)
        .await?
        .ok_or_else(|| WorkerError::Final(format!("unknown task {task_id}")))
}

/// Why a run of a single confirmation ended without its task.
#[derive(Debug)]
pub enum RunEnd {
    /// Work is left (saved in the task) for the next run.
    Unfinished,
    Stopped(WorkerError),
}
use RunEnd::{Stopped, Unfinished};

impl<E: Into<WorkerError>> From<E> for RunEnd {
    fn from(err: E) -> Self {
        Stopped(err.into())
    }
}

/// Confirms the task's upload in one run of up to 15 minutes (Lambda's longest); returns the
/// task, COMPLETED. Work left over is an error here: the state machine's runs go on with it.
pub async fn run(app: &App, task_id: &TaskId) -> Result<Task, WorkerError> {
    match run_until(app, task_id, Timestamp::now().plus_seconds(900)).await {
        Ok(task) => Ok(task),
        Err(Unfinished) => Err(WorkerError::Retryable("work is left for another run".into())),
        Err(Stopped(err)) => Err(err),
    }
}

/// Confirms the task's upload within `deadline`; returns the task, COMPLETED.
pub async fn run_until(app: &App, task_id: &TaskId, deadline: Timestamp) -> Result<Task, RunEnd> {
    let (task, upload) = load(app, task_id).await?;
    let TaskKind::Confirm { inputs, .. } = &task.kind else {
        return Err(Stopped(WorkerError::Final(format!(
            "task {task_id} is not a confirmation"
        ))));
    };
    let bucket = app
        .store
        .bucket(&upload.bucket_id)
        .await?
        .ok_or_else(|| WorkerError::Final(format!("unknown bucket {}", upload.bucket_id)))?;
    let request = ConfirmRequest::from(inputs);
    match confirm(app, &bucket, upload, &request, Origin::Worker(&task, deadline)).await {
        Ok(_) => Ok(current(app, task_id).await?),
        Err(ConfirmError::Unfinished) => Err(Unfinished),
        Err(err) => Err(Stopped(err.into())),
    }
}

/// Marks the task and its upload FAILED with `message` (the state machine's `Catch`) and
/// removes the upload's bytes. A task that already ended is left as it is; a re-run after
/// the upload failed removes the bytes again (deletes are idempotent), so a failed delete
/// is retried by the state machine.
pub async fn fail(app: &App, task_id: &TaskId, message: &str) -> Result<Task, WorkerError> {
    let task = current(app, task_id).await?;
    if let TaskKind::ConfirmBatch { .. } = task.kind {
        return fail_batch(app, task, message).await;
    }
    let (task, upload) = load(app, task_id).await?;
    if !task.status.is_terminal() && upload.status == UploadStatus::Processing {
        let failed_task = task.fail(message, Timestamp::now());
        let transition = upload.fail(format!("Confirmation failed: {message}"));
        match app.store.fail_upload(&transition, Some(&failed_task)).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(StoreError::Failure(failure)) => return Err(failure.into()),
        }
    }
    let task = current(app, task_id).await?;
    if task.status == TaskStatus::Failed {
        app.objects.remove_upload(&upload).await?;
    }
    Ok(task)
}

/// A batch confirmation that cannot go on: the task FAILED with `message`. Its uploads stay
/// as their items left them (each item's confirmation is complete or did nothing).
async fn fail_batch(app: &App, task: Task, message: &str) -> Result<Task, WorkerError> {
    if task.status.is_terminal() {
        return Ok(task);
    }
    match app
        .store
        .update_task(&task.fail(message, Timestamp::now()), task.status)
        .await
    {
        Ok(()) | Err(StoreError::Conflict(_)) => current(app, &task.task_id).await,
        Err(StoreError::Failure(failure)) => Err(failure.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confirm::Mismatch;
    use crate::errors::NotFound;

    #[test]
    fn only_unavailable_dependencies_are_retried() {
        assert_eq!(WorkerError::from(Failure::Unavailable).error_type(), "RetryableError");
        assert_eq!(
            WorkerError::from(ConfirmError::Failure(Failure::Unavailable)).error_type(),
            "RetryableError"
        );
        assert_eq!(
            WorkerError::from(Failure::Bug("a stored item does not parse".into())).error_type(),
            "FinalError",
            "a bug is not retried"
        );
        let mismatch = ConfirmError::Mismatch(Mismatch::FileSize {
            expected: 13,
            actual: 12,
        });
        assert_eq!(
            WorkerError::from(mismatch),
            WorkerError::Final("The uploaded file's file_size_bytes does not match: expected 13, found 12.".into())
        );
        assert_eq!(
            WorkerError::from(ConfirmError::NotFound(NotFound::new("upload", "x"))).error_type(),
            "FinalError"
        );
    }
}
