//! Confirm Upload: verify the stored bytes, record them, deduplicate — exactly once.
//!
//! [`complete`] is the one implementation of a confirmation; the synchronous endpoint calls
//! it directly, and the asynchronous worker is to call the same function.

mod plan;
mod request;
mod verify;

pub use plan::{Completion, plan};
pub use request::ConfirmRequest;
pub use verify::{Verified, etags_match, verify};

use crate::app::App;
use crate::auth::Scope;
use crate::error::ApiError;
use crate::ids::IdKind;
use crate::model::{TaskStatus, Upload};
use crate::store::Conflict;
use crate::time::Timestamp;
use crate::uploads::{load_upload, resolve_bucket};
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
        Self {
            upload_id: upload.upload_id,
            status: upload.status,
            etag: upload.etag,
            file_size_bytes: Some(upload.file_size_bytes),
            file_hash: upload.file_hash,
            verified_at: upload.verified_at,
            completed_at: upload.completed_at,
            object_id: upload.object_id,
            task_id: upload.task_id,
            batch_id: None,
            message: upload.message,
        }
    }
}

/// `POST …/uploads/{upload_id}/confirm`, synchronous path.
pub async fn confirm_upload(
    app: &App,
    scope: &Scope,
    bucket_identifier: &str,
    upload_id: &str,
    body: Option<&Value>,
    run_async: bool,
) -> Result<ConfirmResponse, ApiError> {
    let request = ConfirmRequest::parse(body)?;
    let bucket = resolve_bucket(app, scope, bucket_identifier).await?;
    let upload = load_upload(app, &bucket, upload_id).await?;
    if run_async || request.auto_submit_batch {
        return Err(ApiError::BadRequest {
            message: "Asynchronous confirmation (async=true) and auto_submit_batch are not available yet.".into(),
            code: Some("not_available"),
            details: Some(json!({ "async": run_async, "auto_submit_batch": request.auto_submit_batch })),
        });
    }
    complete(app, upload, &request).await.map(ConfirmResponse::from)
}

/// Takes an upload to COMPLETED (or FAILED, when it expired) exactly once and returns the
/// stored result. Confirming a COMPLETED upload returns it unchanged.
pub async fn complete(app: &App, upload: Upload, request: &ConfirmRequest) -> Result<Upload, ApiError> {
    match upload.status {
        TaskStatus::Completed => return Ok(upload),
        TaskStatus::Pending => {}
        TaskStatus::Failed => return Err(failed(&upload)),
        other => {
            return Err(ApiError::BadRequest {
                message: format!("The upload is {other} and cannot be confirmed now."),
                code: Some("upload_not_pending"),
                details: Some(json!({ "upload_id": upload.upload_id, "status": other })),
            });
        }
    }
    if Timestamp::now() > upload.expires_at {
        return expire(app, upload).await;
    }
    let verified = verify(&app.objects, &upload, request).await?;
    record(app, upload, &verified).await
}

async fn record(app: &App, upload: Upload, verified: &Verified) -> Result<Upload, ApiError> {
    for _ in 0..MAX_ATTEMPTS {
        let marker = app.store.hash_marker(&upload.bucket_id, &verified.file_hash).await?;
        let Completion {
            upload: completed,
            object,
            claim,
        } = plan(
            &upload,
            verified,
            marker.as_ref(),
            IdKind::Object.generate(),
            Timestamp::now(),
        );
        match app
            .store
            .complete_upload(&completed, object.as_ref(), claim.as_ref())
            .await?
        {
            Ok(()) => return Ok(completed),
            Err(Conflict::MarkerTaken) => continue,
            Err(Conflict::UploadChanged) => return settled(app, &upload.upload_id).await,
        }
    }
    Err(ApiError::Unavailable)
}

/// The upload after another request changed it first.
async fn settled(app: &App, upload_id: &str) -> Result<Upload, ApiError> {
    let current = app.store.upload(upload_id).await?.ok_or(ApiError::Internal)?;
    match current.status {
        TaskStatus::Completed => Ok(current),
        TaskStatus::Failed => Err(failed(&current)),
        _ => Err(ApiError::Unavailable),
    }
}

/// Marks an expired upload FAILED and deletes its object. The object goes only after the
/// status changed, so a confirmation that completed first never loses its bytes.
async fn expire(app: &App, upload: Upload) -> Result<Upload, ApiError> {
    let failed_upload = Upload {
        status: TaskStatus::Failed,
        message: Some(format!(
            "Upload expired: its upload URL expired at {} before the upload was confirmed.",
            upload.expires_at
        )),
        ..upload.clone()
    };
    if !app.store.fail_upload(&failed_upload).await? {
        return settled(app, &upload.upload_id).await;
    }
    // A failed delete leaves an orphan object for the bucket's lifecycle rules; the upload
    // is FAILED either way, which is what the client needs to know.
    let _ = app.objects.delete(&upload.s3_key).await;
    Err(expired(&upload))
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

fn failed(upload: &Upload) -> ApiError {
    if Timestamp::now() > upload.expires_at {
        return expired(upload);
    }
    ApiError::BadRequest {
        message: upload.message.clone().unwrap_or_else(|| "The upload failed.".into()),
        code: Some("upload_failed"),
        details: Some(json!({ "upload_id": upload.upload_id })),
    }
}
