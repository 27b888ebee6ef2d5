//! What a confirmation still asks of an upload that another confirmation took first (S3's
//! ObjectCreated event, an earlier call, a batch item): its claims about the bytes are
//! checked against what was recorded (or is stored), and `auto_submit_batch` submits the
//! batch the upload would have had. So a client that always confirms gets the answers it
//! would have got had it confirmed first, whoever did.

use super::error::ConfirmError;
use super::request::ConfirmRequest;
use super::verify::{check_request_claims, locate};
use crate::app::App;
use crate::errors::{Failure, NotFound};
use crate::ids::auto_batch_ids;
use crate::model::{Bucket, TaskStatus, Upload, UploadStatus};
use crate::store::{Conflict, StoreError};
use crate::time::Timestamp;

/// Whether a request asks anything of an upload confirmed by another.
pub(super) fn asks_anything(request: &ConfirmRequest) -> bool {
    request.etag.is_some() || request.file_size_bytes.is_some() || request.auto_submit_batch
}

/// A COMPLETED upload: the claims against its record (no I/O), then its batch, if asked.
pub(super) async fn completed(
    app: &App,
    bucket: &Bucket,
    upload: Upload,
    request: &ConfirmRequest,
) -> Result<Upload, ConfirmError> {
    if let (Some(etag), Some(size)) = (&upload.etag, upload.file_size_bytes) {
        check_request_claims(request, etag, size)?;
    }
    let (_, batch_task) = auto_batch_ids(&upload.upload_id);
    if !request.auto_submit_batch || upload.task_id.as_ref() == Some(&batch_task) {
        return Ok(upload);
    }
    // Without the batch's task id the upload may still have its batch (an asynchronous
    // confirmation's completion submits it and keeps its own task id): the transaction
    // then finds it and changes nothing.
    let Some(late) = upload.late_batch(&bucket.namespace_id, Timestamp::now()) else {
        return Ok(upload);
    };
    match app.store.submit_late_batch(&late).await {
        Ok(()) => Ok(late.transition.after),
        Err(StoreError::Conflict(_)) => current(app, &upload).await,
        Err(StoreError::Failure(failure)) => Err(failure.into()),
    }
}

/// A PROCESSING upload (another confirmation's task has it): the claims against the bytes
/// as S3 holds them, and the batch asked of the task, which submits it when it completes.
pub(super) async fn processing(
    app: &App,
    bucket: &Bucket,
    upload: Upload,
    request: &ConfirmRequest,
) -> Result<Upload, ConfirmError> {
    if (request.etag.is_some() || request.file_size_bytes.is_some())
        && let Some(located) = locate(&app.objects, &upload).await?
    {
        check_request_claims(request, &located.info().etag, located.info().size)?;
    }
    if !request.auto_submit_batch {
        return Ok(upload);
    }
    let task_id = upload
        .task_id
        .as_ref()
        .ok_or_else(|| Failure::bug(format!("PROCESSING upload {} has no task", upload.upload_id)))?;
    match app.store.ask_task_for_batch(task_id).await {
        Ok(()) => return Ok(upload),
        Err(StoreError::Conflict(Conflict::TaskChanged)) => {}
        Err(StoreError::Conflict(_)) => return Err(Failure::Unavailable.into()),
        Err(StoreError::Failure(failure)) => return Err(failure.into()),
    }
    // Asking already, or no longer running: which one, the task says.
    match app.store.task(task_id).await?.map(|t| t.status) {
        Some(TaskStatus::Pending) => Ok(upload),
        Some(_) => {
            let now = current(app, &upload).await?;
            match now.status {
                UploadStatus::Completed => Box::pin(completed(app, bucket, now, request)).await,
                UploadStatus::Failed => Err(super::refusal(&now)),
                _ => Ok(now),
            }
        }
        None => Err(Failure::bug(format!("task {task_id} is gone")).into()),
    }
}

async fn current(app: &App, upload: &Upload) -> Result<Upload, ConfirmError> {
    app.store
        .upload(&upload.upload_id)
        .await?
        .ok_or_else(|| NotFound::new("upload", &upload.upload_id).into())
}
