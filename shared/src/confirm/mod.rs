//! Confirm Upload: verify the stored bytes, record them, deduplicate — exactly once.
//!
//! [`confirm_upload`] (the HTTP path) and the asynchronous worker ([`worker`]) share
//! verification ([`verify`]: check the staged bytes, copy them to the final key, where S3
//! computes their SHA-256) and recording (`record`: one transaction). They differ only in
//! the status they complete from (PENDING or PROCESSING) and in the task they complete along.

mod plan;
mod request;
mod verify;
pub mod worker;

pub use plan::{Completion, plan};
pub use request::ConfirmRequest;
pub use verify::{Located, Rejection, Verified, etags_match, locate, verify};

use crate::app::App;
use crate::auth::Scope;
use crate::error::ApiError;
use crate::ids::{IdKind, auto_batch_ids};
use crate::model::{Bucket, CONFIRM_TASK_TYPE, Task, TaskStatus, Upload};
use crate::store::Conflict;
use crate::time::Timestamp;
use crate::uploads::load_upload;
use serde::Serialize;
use serde_json::{Value, json};

/// How often a completion is retried when another upload of the same bytes wins the race
/// to become the original (each retry then completes as its duplicate).
const MAX_ATTEMPTS: usize = 4;

/// The contract's `ConfirmUploadResponse`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfirmResponse {
    pub upload_id: String,
    pub status: TaskStatus,
    pub etag: Option<String>,
    pub file_size_bytes: Option<u64>,
    pub file_hash: Option<String>,
    pub verified_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub object_id: Option<String>,
    pub task_id: Option<String>,
    pub batch_id: Option<String>,
    pub message: Option<String>,
}

impl From<Upload> for ConfirmResponse {
    /// Built from the stored record alone, so every confirmation of one upload answers alike.
    fn from(upload: Upload) -> Self {
        let batch_id = auto_batch_ids(&upload.upload_id)
            .filter(|(_, batch_task)| upload.task_id.as_ref() == Some(batch_task))
            .map(|(batch_id, _)| batch_id);
        Self {
            upload_id: upload.upload_id,
            status: upload.status,
            etag: upload.etag,
            file_size_bytes: upload.file_size_bytes,
            file_hash: upload.file_hash,
            verified_at: upload.verified_at,
            completed_at: upload.completed_at,
            object_id: upload.object_id,
            batch_id,
            task_id: upload.task_id,
            message: upload.message,
        }
    }
}

/// Objects this large are confirmed asynchronously whatever the request says.
pub const ASYNC_THRESHOLD_BYTES: u64 = 100 * 1024 * 1024;

/// `POST …/uploads/{upload_id}/confirm`.
pub async fn confirm_upload(
    app: &App,
    scope: &Scope,
    bucket_identifier: &str,
    upload_id: &str,
    body: Option<&Value>,
    run_async: bool,
) -> Result<ConfirmResponse, ApiError> {
    let request = ConfirmRequest::parse(body)?;
    let (bucket, upload) = load_upload(app, scope, bucket_identifier, upload_id).await?;
    confirm_loaded(app, &bucket, upload, &request, run_async).await
}

/// Confirms an upload already read from `bucket`: answers from its record when it is
/// settled or being confirmed, fails it when its URL expired, and otherwise verifies and
/// records it now or, for `run_async` or large objects, hands it to the worker.
pub async fn confirm_loaded(
    app: &App,
    bucket: &Bucket,
    upload: Upload,
    request: &ConfirmRequest,
    run_async: bool,
) -> Result<ConfirmResponse, ApiError> {
    match upload.status {
        TaskStatus::Pending => {}
        TaskStatus::Processing => return resume(app, upload).await,
        TaskStatus::Completed => return Ok(upload.into()),
        _ => return Err(refused(&upload)),
    }
    if Timestamp::now() > upload.expires_at {
        return expire(app, upload).await.map(ConfirmResponse::from);
    }
    let located = locate(&app.objects, &upload)
        .await?
        .ok_or_else(|| verify::not_uploaded(&upload))?;
    if run_async || located.info().size >= ASYNC_THRESHOLD_BYTES {
        return start_async(app, upload, request, &bucket.namespace_id).await;
    }
    let verified = match verify(
        &app.objects,
        &upload,
        request,
        bucket.max_file_size_bytes,
        Some(located),
    )
    .await
    {
        Ok(verified) => verified,
        Err(Rejection::Keep(err)) => return Err(err),
        Err(Rejection::Fail(err)) => return fail_unusable(app, &upload, err).await.map(ConfirmResponse::from),
    };
    let auto_batch = request.auto_submit_batch.then_some(bucket.namespace_id.as_str());
    record(app, &upload, &verified, None, auto_batch)
        .await
        .map(ConfirmResponse::from)
}

/// Records verified bytes: the completion transaction, retried as a duplicate when another
/// upload of the same bytes became the original first. `from` is the upload as it was
/// read (PENDING, or PROCESSING for the worker). With a task, the task completes in the
/// same transaction, its outputs describing the result; with `auto_batch_namespace`, the
/// submitted batch is created in it too. The staged copy goes once the upload completed.
async fn record(
    app: &App,
    from: &Upload,
    verified: &Verified,
    task: Option<&Task>,
    auto_batch_namespace: Option<&str>,
) -> Result<Upload, ApiError> {
    for _ in 0..MAX_ATTEMPTS {
        let marker = app.store.hash_marker(&from.bucket_id, &verified.file_hash).await?;
        let now = Timestamp::now();
        let completion = plan(
            from,
            verified,
            marker.as_ref(),
            IdKind::Object.generate(),
            now,
            auto_batch_namespace,
        );
        let task_done = task.map(|t| Task {
            status: TaskStatus::Completed,
            outputs: Some(outputs_of(&completion)),
            updated_at: now,
            ..t.clone()
        });
        match app.store.complete_upload(&completion, from, task_done.as_ref()).await? {
            Ok(()) => {
                remove_quietly(app, &[&from.staging_key()]).await;
                return Ok(completion.upload);
            }
            Err(Conflict::MarkerTaken) => continue,
            Err(Conflict::UploadChanged) => return settled(app, from).await,
        }
    }
    Err(ApiError::Unavailable)
}

/// What a completed confirmation task reports.
fn outputs_of(completion: &Completion) -> Value {
    let upload = &completion.upload;
    let batch = completion.batch.as_ref();
    json!({
        "batch_id": batch.map(|(b, _)| &b.batch_id),
        "batch_task_id": batch.map(|(_, t)| &t.task_id),
        "upload_id": upload.upload_id,
        "object_id": upload.object_id,
        "file_hash": upload.file_hash,
        "etag": upload.etag,
        "file_size_bytes": upload.file_size_bytes,
        "is_duplicate": upload.is_duplicate,
        "duplicate_of_upload_id": upload.duplicate_of_upload_id,
        "verified_at": upload.verified_at,
        "completed_at": upload.completed_at,
    })
}

/// Creates the confirmation task, moves the upload to PROCESSING, and starts the worker.
async fn start_async(
    app: &App,
    upload: Upload,
    request: &ConfirmRequest,
    namespace_id: &str,
) -> Result<ConfirmResponse, ApiError> {
    let inputs = json!({
        "upload_id": upload.upload_id,
        "bucket_id": upload.bucket_id,
        "etag": request.etag,
        "file_size_bytes": request.file_size_bytes,
        "auto_submit_batch": request.auto_submit_batch,
    });
    let task = Task::pending(
        IdKind::Task.generate(),
        CONFIRM_TASK_TYPE,
        namespace_id,
        inputs,
        Timestamp::now(),
    );
    let processing = Upload {
        status: TaskStatus::Processing,
        task_id: Some(task.task_id.clone()),
        message: Some("Upload confirmation is being processed in the background.".into()),
        ..upload.clone()
    };
    if !app.store.start_processing(&processing, &upload, &task).await? {
        // Another confirmation moved it first: answer as that one did.
        let current = app
            .store
            .upload(&processing.upload_id)
            .await?
            .ok_or_else(|| ApiError::not_found("upload", &processing.upload_id))?;
        return match current.status {
            TaskStatus::Processing => resume(app, current).await,
            TaskStatus::Completed => Ok(current.into()),
            _ => Err(refused(&current)),
        };
    }
    // Should this fail, the upload stays PROCESSING with a PENDING task, and the client's
    // retried confirmation starts it (execution names make that start happen once).
    app.dispatcher.start(&task).await?;
    Ok(processing.into())
}

/// A confirmation of an upload already PROCESSING: the same task, started again if it has
/// not run yet.
async fn resume(app: &App, upload: Upload) -> Result<ConfirmResponse, ApiError> {
    let task_id = upload.task_id.as_deref().ok_or(ApiError::Internal)?;
    if let Some(task) = app.store.task(task_id).await?
        && task.status == TaskStatus::Pending
    {
        app.dispatcher.start(&task).await?;
    }
    Ok(upload.into())
}

/// The upload after another request changed it first. When it is gone (deleted, or its
/// record expired meanwhile), the final copy this confirmation may have made belongs to
/// nothing and is removed; for the client the upload no longer exists.
async fn settled(app: &App, upload: &Upload) -> Result<Upload, ApiError> {
    let Some(current) = app.store.upload(&upload.upload_id).await? else {
        remove_quietly(app, &[upload.final_key()]).await;
        return Err(ApiError::not_found("upload", &upload.upload_id));
    };
    match current.status {
        TaskStatus::Completed => Ok(current),
        TaskStatus::Failed => Err(refused(&current)),
        _ => Err(ApiError::Unavailable),
    }
}

/// Marks an upload FAILED with `message` and removes its bytes (staged and copied). The
/// bytes go only after the status changed, so a confirmation that completed first never
/// loses them. `false` when it was no longer in `from`'s status.
async fn fail(app: &App, from: &Upload, message: String) -> Result<bool, ApiError> {
    let failed = Upload {
        status: TaskStatus::Failed,
        message: Some(message),
        ..from.clone()
    };
    if !app.store.fail_upload(&failed, from, None).await? {
        return Ok(false);
    }
    remove_quietly(app, &[&from.staging_key(), from.final_key()]).await;
    Ok(true)
}

/// Deletes objects whose loss is harmless: should a delete fail, the staging prefix's
/// lifecycle rule or the record's expiry (`expired-uploads`) removes them later.
async fn remove_quietly(app: &App, keys: &[&str]) {
    if let Err(err) = app.objects.delete_all(keys).await {
        tracing::warn!(error = %err, ?keys, "objects left for later removal");
    }
}

/// An upload whose bytes can never complete it: FAILED, bytes removed, and `err` answered.
async fn fail_unusable(app: &App, upload: &Upload, err: ApiError) -> Result<Upload, ApiError> {
    if fail(app, upload, err.message()).await? {
        Err(err)
    } else {
        settled(app, upload).await
    }
}

/// Marks an expired upload FAILED and removes its bytes.
async fn expire(app: &App, upload: Upload) -> Result<Upload, ApiError> {
    let message = format!(
        "Upload expired: its upload URL expired at {} before the upload was confirmed.",
        upload.expires_at
    );
    if fail(app, &upload, message).await? {
        Err(expired(&upload))
    } else {
        settled(app, &upload).await
    }
}

fn expired(upload: &Upload) -> ApiError {
    ApiError::BadRequest {
        message: format!(
            "The upload expired at {} and can no longer be confirmed; create a new upload.",
            upload.expires_at
        ),
        code: Some("upload_expired"),
        details: Some(json!({ "upload_id": upload.upload_id, "expires_at": upload.expires_at })),
    }
}

/// Why an upload that is neither PENDING, PROCESSING nor COMPLETED cannot be confirmed.
fn refused(upload: &Upload) -> ApiError {
    match upload.status {
        TaskStatus::Failed if Timestamp::now() > upload.expires_at => expired(upload),
        TaskStatus::Failed => ApiError::BadRequest {
            message: upload.message.clone().unwrap_or_else(|| "The upload failed.".into()),
            code: Some("upload_failed"),
            details: Some(json!({ "upload_id": upload.upload_id })),
        },
        other => ApiError::BadRequest {
            message: format!("The upload is {other} and cannot be confirmed now."),
            code: Some("upload_not_pending"),
            details: Some(json!({ "upload_id": upload.upload_id, "status": other })),
        },
    }
}
