//! Delete Upload: a PENDING or FAILED upload goes away, out of its bucket's counters and,
//! unless asked otherwise, with its bytes. An upload being confirmed or completed stays.

use super::lookup::{ReadError, load_upload};
use crate::app::App;
use crate::auth::Scope;
use crate::errors::{Failure, NotFound};
use crate::ids::{BucketRef, UploadId};
use crate::model::{Upload, UploadStatus};
use crate::store::StoreError;

/// How often the delete is retried when the upload changed status under it (PENDING to
/// FAILED, say) without becoming undeletable.
const MAX_ATTEMPTS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteError {
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// Only PENDING and FAILED uploads can be deleted.
    #[error("the upload is {status} and cannot be deleted")]
    NotDeletable { upload_id: UploadId, status: UploadStatus },
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl From<ReadError> for DeleteError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::NotFound(not_found) => not_found.into(),
            ReadError::Failure(failure) => failure.into(),
        }
    }
}

/// `DELETE …/uploads/{upload_id}`. The record goes in one conditional transaction (on the
/// status it was read with, with the counters), so a confirmation racing it either
/// completes first (and the delete is refused) or finds the upload gone; the bytes go
/// after (`delete_s3_object`), staged and copied alike.
pub async fn delete_upload(
    app: &App,
    scope: &Scope,
    bucket: &BucketRef,
    upload_id: &UploadId,
    delete_s3_object: bool,
) -> Result<(), DeleteError> {
    let (_, mut upload) = load_upload(app, scope, bucket, upload_id).await?;
    for _ in 0..MAX_ATTEMPTS {
        if !matches!(upload.status, UploadStatus::Pending | UploadStatus::Failed) {
            return Err(DeleteError::NotDeletable {
                upload_id: upload.upload_id,
                status: upload.status,
            });
        }
        match app.store.delete_upload(&upload).await {
            Ok(()) => {
                remove_bytes(app, &upload, delete_s3_object).await;
                return Ok(());
            }
            Err(StoreError::Conflict(_)) => {}
            Err(StoreError::Failure(failure)) => return Err(failure.into()),
        }
        upload = app
            .store
            .upload(upload_id)
            .await?
            .ok_or_else(|| NotFound::new("upload", upload_id))?;
    }
    Err(Failure::Unavailable.into())
}

/// The bytes go unless the client asked to keep them; a multipart upload's parts always go
/// (its upload is aborted: nothing can complete it any more). The record is gone already,
/// so a failed delete is logged, not answered: the lifecycle rules remove staged bytes and
/// parts, and only a confirmation that copied and then lost to this delete leaves a final
/// copy, which it removes itself.
async fn remove_bytes(app: &App, upload: &Upload, delete_s3_object: bool) {
    let removed = if delete_s3_object {
        app.objects.remove_upload(upload).await
    } else {
        app.objects.abort_parts(upload).await
    };
    if let Err(err) = removed {
        tracing::warn!(error = %err, upload_id = %upload.upload_id, "deleted upload's bytes left for the lifecycle rule");
    }
}
