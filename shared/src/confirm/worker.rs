//! The asynchronous confirmation worker: what the state machine's task states run.
//!
//! `run` verifies and records exactly like the synchronous path (same functions), from
//! PROCESSING, completing the task in the same transaction. It is idempotent: a re-run after
//! a crash or a retry, or two runs at once, converge on one result. Errors are typed so the
//! state machine retries the retryable ones and hands final ones to `fail`.

use super::{ConfirmRequest, Rejection, record, verify};
use crate::app::App;
use crate::error::ApiError;
use crate::model::{Task, TaskStatus, Upload};
use crate::time::Timestamp;
use serde_json::Value;

/// How the state machine must treat a failed run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// Throttling, timeouts, 5xx: retry with backoff.
    #[error("{0}")]
    Retryable(String),
    /// The bytes do not match, the object is missing, the task is unknown: retrying
    /// cannot help; the task and its upload become FAILED.
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

impl From<ApiError> for WorkerError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Unavailable | ApiError::Internal => WorkerError::Retryable(err.to_string()),
            ApiError::BadRequest { message, .. } => WorkerError::Final(message),
            other => WorkerError::Final(other.body()["error"]["message"].as_str().unwrap_or("failed").to_owned()),
        }
    }
}

async fn load(app: &App, task_id: &str) -> Result<(Task, Upload), WorkerError> {
    let task = app
        .store
        .task(task_id)
        .await?
        .ok_or_else(|| WorkerError::Final(format!("unknown task {task_id}")))?;
    let upload_id = task.inputs.get("upload_id").and_then(Value::as_str).unwrap_or_default();
    let upload = app
        .store
        .upload(upload_id)
        .await?
        .ok_or_else(|| WorkerError::Final(format!("unknown upload {upload_id}")))?;
    Ok((task, upload))
}

async fn current(app: &App, task_id: &str) -> Result<Task, WorkerError> {
    app.store
        .task(task_id)
        .await?
        .ok_or_else(|| WorkerError::Final(format!("unknown task {task_id}")))
}

/// Confirms the task's upload; returns the task, COMPLETED.
pub async fn run(app: &App, task_id: &str) -> Result<Task, WorkerError> {
    let (task, upload) = load(app, task_id).await?;
    if task.status.is_terminal() || upload.status != TaskStatus::Processing {
        return current(app, task_id).await;
    }
    let request = ConfirmRequest {
        etag: task.inputs.get("etag").and_then(Value::as_str).map(str::to_owned),
        file_size_bytes: task.inputs.get("file_size_bytes").and_then(Value::as_u64),
        auto_submit_batch: task
            .inputs
            .get("auto_submit_batch")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let bucket = app
        .store
        .bucket(&upload.bucket_id)
        .await?
        .ok_or_else(|| WorkerError::Final(format!("unknown bucket {}", upload.bucket_id)))?;
    let verified = verify(&app.objects, &upload, &request, bucket.max_file_size_bytes, None)
        .await
        .map_err(|rejection| match rejection {
            Rejection::Keep(err) | Rejection::Fail(err) => WorkerError::from(err),
        })?;
    let auto_batch = request.auto_submit_batch.then_some(task.namespace_id.as_str());
    record(app, &upload, &verified, Some(&task), auto_batch).await?;
    current(app, task_id).await
}

/// Marks the task and its upload FAILED with `message` (the state machine's `Catch`) and
/// removes the upload's bytes. A task that already ended is left as it is; a re-run after
/// the upload failed removes the bytes again (deletes are idempotent), so a failed delete
/// is retried by the state machine.
pub async fn fail(app: &App, task_id: &str, message: &str) -> Result<Task, WorkerError> {
    let (task, upload) = load(app, task_id).await?;
    if !task.status.is_terminal() && upload.status == TaskStatus::Processing {
        let now = Timestamp::now();
        let failed_task = Task {
            status: TaskStatus::Failed,
            error_message: Some(message.to_owned()),
            updated_at: now,
            ..task.clone()
        };
        let failed_upload = Upload {
            status: TaskStatus::Failed,
            message: Some(format!("Confirmation failed: {message}")),
            ..upload.clone()
        };
        app.store
            .fail_upload(&failed_upload, &upload, Some(&failed_task))
            .await?;
    }
    let task = current(app, task_id).await?;
    if task.status == TaskStatus::Failed {
        app.objects
            .delete_all(&[&upload.staging_key(), upload.final_key()])
            .await?;
    }
    Ok(task)
}

/// The message of an error the state machine caught: the worker's `errorMessage` inside
/// `Cause` when it is there, otherwise whatever was given.
pub fn caught_message(error: Option<&str>, cause: Option<&str>) -> String {
    let from_cause = cause
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .and_then(|c| c["errorMessage"].as_str().map(str::to_owned));
    from_cause
        .or_else(|| cause.map(str::to_owned))
        .or_else(|| error.map(str::to_owned))
        .unwrap_or_else(|| "unknown error".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_messages_come_from_the_cause() {
        let cause = serde_json::json!({"errorType": "FinalError", "errorMessage": "size differs"}).to_string();
        assert_eq!(caught_message(Some("FinalError"), Some(&cause)), "size differs");
        assert_eq!(
            caught_message(Some("States.Timeout"), Some("took too long")),
            "took too long"
        );
        assert_eq!(caught_message(Some("States.Timeout"), None), "States.Timeout");
    }

    #[test]
    fn api_errors_map_to_retryable_or_final() {
        assert_eq!(WorkerError::from(ApiError::Unavailable).error_type(), "RetryableError");
        assert_eq!(WorkerError::from(ApiError::Internal).error_type(), "RetryableError");
        let mismatch = ApiError::BadRequest {
            message: "size".into(),
            code: Some("file_size_mismatch"),
            details: None,
        };
        assert_eq!(WorkerError::from(mismatch), WorkerError::Final("size".into()));
        assert_eq!(
            WorkerError::from(ApiError::not_found("upload", "x")).error_type(),
            "FinalError"
        );
    }
}
