//! Reading uploads, tasks and batches, each only by the callers who may see it.

use super::lookup::{ReadError, load_upload, resolve_bucket};
use crate::app::App;
use crate::auth::{Caller, Scope};
use crate::errors::{Failure, NotFound};
use crate::ids::{BatchId, BucketRef, TaskId, UploadId};
use crate::model::{Batch, Task, Upload, UploadStatus};

/// Reads an upload of the caller's bucket. With `with_download_url`, a COMPLETED upload
/// gets a fresh GET URL of its verified bytes in `presigned_url` (signed locally, no call
/// to S3); the PUT URL is never returned again.
pub async fn get_upload(
    app: &App,
    scope: &Scope,
    bucket: &BucketRef,
    upload_id: &UploadId,
    with_download_url: bool,
) -> Result<Upload, ReadError> {
    let (_, mut upload) = load_upload(app, scope, bucket, upload_id).await?;
    if with_download_url {
        upload.presigned_url = download_url(app, &upload).await?;
    }
    Ok(upload)
}

/// A fresh GET URL for a verified (COMPLETED) upload's bytes; `None` for any other.
pub async fn download_url(app: &App, upload: &Upload) -> Result<Option<String>, Failure> {
    if upload.status != UploadStatus::Completed {
        return Ok(None);
    }
    app.objects.presign_get(upload.final_key()).await.map(Some)
}

/// A task of the caller's namespace (`X-Namespace`) or, when the request names none (as
/// Mixpeek's SDK does for tasks), of any namespace of the caller's tenant. Any other task
/// is reported as missing.
pub async fn get_task(app: &App, caller: &Caller, task_id: &TaskId) -> Result<Task, ReadError> {
    let not_found = || NotFound::new("task", task_id);
    let task = app.store.task(task_id).await?.ok_or_else(not_found)?;
    let visible = match &caller.namespace {
        Some(namespace) => task.namespace_id == namespace.namespace_id,
        None => app
            .directory
            .namespace(&task.namespace_id)
            .await?
            .is_some_and(|ns| ns.tenant_id == caller.tenant_id),
    };
    if visible { Ok(task) } else { Err(not_found().into()) }
}

/// A batch of the caller's bucket; one of another bucket is reported as missing.
pub async fn get_batch(app: &App, scope: &Scope, bucket: &BucketRef, batch_id: &BatchId) -> Result<Batch, ReadError> {
    let (bucket, batch) = tokio::join!(resolve_bucket(app, scope, bucket), app.store.batch(batch_id));
    let bucket = bucket?;
    Ok(batch?
        .filter(|b| b.bucket_id == bucket.bucket_id)
        .ok_or_else(|| NotFound::new("batch", batch_id))?)
}
