//! Delete Upload: a PENDING or FAILED upload goes away, out of its bucket's counters and,
//! unless asked otherwise, with its bytes. An upload being confirmed or completed stays.

use super::load_upload;
use crate::app::App;
use crate::auth::Scope;
use crate::error::ApiError;
use crate::model::{TaskStatus, Upload};
use serde_json::json;

/// How often the delete is retried when the upload changed status under it (PENDING to
/// FAILED, say) without becoming undeletable.
const MAX_ATTEMPTS: usize = 4;

/// `DELETE …/uploads/{upload_id}`. The record goes in one conditional transaction (on the
/// status it was read with, with the counters), so a confirmation racing it either
/// completes first (and the delete is refused) or finds the upload gone; the bytes go
/// after (`delete_s3_object`), staged and copied alike.
pub async fn delete_upload(
    app: &App,
    scope: &Scope,
    bucket_identifier: &str,
    upload_id: &str,
    delete_s3_object: bool,
) -> Result<(), ApiError> {
    let (_, mut upload) = load_upload(app, scope, bucket_identifier, upload_id).await?;
    for _ in 0..MAX_ATTEMPTS {
        if !matches!(upload.status, TaskStatus::Pending | TaskStatus::Failed) {
            return Err(not_deletable(&upload));
        }
        if app.store.delete_upload(&upload).await? {
            if delete_s3_object {
                remove_bytes(app, &upload).await;
            }
            return Ok(());
        }
        upload = app
            .store
            .upload(upload_id)
            .await?
            .ok_or_else(|| ApiError::not_found("upload", upload_id))?;
    }
    Err(ApiError::Unavailable)
}

/// The record is gone already, so a failed delete is logged, not answered: the staging
/// prefix's lifecycle rule removes staged bytes, and only a confirmation that copied and
/// then lost to this delete leaves a final copy, which it removes itself.
async fn remove_bytes(app: &App, upload: &Upload) {
    let keys = [upload.staging_key(), upload.final_key().to_owned()];
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    if let Err(err) = app.objects.delete_all(&keys).await {
        tracing::warn!(error = %err, upload_id = %upload.upload_id, "deleted upload's bytes left for the lifecycle rule");
    }
}

fn not_deletable(upload: &Upload) -> ApiError {
    ApiError::Conflict {
        message: format!(
            "The upload is {} and cannot be deleted: only PENDING and FAILED uploads can.",
            upload.status
        ),
        code: "upload_not_deletable",
        details: Some(json!({ "upload_id": upload.upload_id, "status": upload.status })),
    }
}
