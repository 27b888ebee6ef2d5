//! The upload use cases, independent of HTTP.

mod new_upload;

pub use new_upload::{MAX_EXPIRATION_SECS, NewUpload};

use crate::app::App;
use crate::auth::Scope;
use crate::error::ApiError;
use crate::ids::IdKind;
use crate::model::{Bucket, Upload};
use crate::objects::PutRequirements;
use crate::time::Timestamp;
use serde_json::Value;
use std::time::Duration;

/// Resolves `{bucket_identifier}` (a bucket id or name) within the caller's namespace.
/// A bucket of another namespace is reported exactly like a missing one.
pub async fn resolve_bucket(app: &App, scope: &Scope, identifier: &str) -> Result<Bucket, ApiError> {
    let namespace_id = &scope.namespace.namespace_id;
    let found = if identifier.starts_with(IdKind::Bucket.prefix()) {
        app.store
            .bucket(identifier)
            .await?
            .filter(|b| &b.namespace_id == namespace_id)
    } else {
        app.store.bucket_by_name(namespace_id, identifier).await?
    };
    found.ok_or_else(|| ApiError::not_found("bucket", identifier))
}

/// Resolves the caller's bucket and reads an upload of it, both reads at once (the upload id
/// alone names the item). An upload of another bucket is reported exactly like a missing
/// one; a bucket the caller cannot see is reported first, whatever the upload read found.
pub async fn load_upload(
    app: &App,
    scope: &Scope,
    bucket_identifier: &str,
    upload_id: &str,
) -> Result<(Bucket, Upload), ApiError> {
    let (bucket, upload) = tokio::join!(
        resolve_bucket(app, scope, bucket_identifier),
        app.store.upload(upload_id)
    );
    let bucket = bucket?;
    let upload = upload?
        .filter(|u| u.bucket_id == bucket.bucket_id)
        .ok_or_else(|| ApiError::not_found("upload", upload_id))?;
    Ok((bucket, upload))
}

/// Creates a PENDING upload and returns it with its presigned PUT URL.
pub async fn create_upload(
    app: &App,
    scope: &Scope,
    bucket_identifier: &str,
    body: Option<&Value>,
) -> Result<Upload, ApiError> {
    let bucket = resolve_bucket(app, scope, bucket_identifier).await?;
    let new = NewUpload::parse(body, bucket.max_file_size_bytes)?;
    let mut upload = new.into_pending(IdKind::Upload.generate(), &bucket, Timestamp::now());
    let needs = PutRequirements {
        content_type: &upload.content_type,
        content_length: upload.file_size_bytes,
        sha256_hex: upload.file_hash.as_deref(),
    };
    let expires_in = Duration::from_secs(upload.presigned_url_expiration.into());
    let presigned_url = app.objects.presign_put(&upload.s3_key, &needs, expires_in).await?;
    let message = put_instructions(&needs);
    app.store.insert_upload(&upload).await?;
    upload.presigned_url = Some(presigned_url);
    upload.message = Some(message);
    Ok(upload)
}

/// Tells the client exactly which headers its PUT must carry to match the signature.
fn put_instructions(needs: &PutRequirements<'_>) -> String {
    let mut message = format!(
        "PUT the file to presigned_url with headers Content-Type: {}, Content-Length: {}, x-amz-tagging: {} and If-None-Match: *",
        needs.content_type,
        needs.content_length,
        crate::objects::unconfirmed_tagging()
    );
    if needs.sha256_hex.is_some() {
        message.push_str(" and x-amz-checksum-sha256: <base64 of the SHA-256 digest>");
    }
    message.push_str(", then call confirm.");
    message
}

/// Reads an upload of the caller's bucket. With `with_download_url`, an upload whose object
/// exists gets a fresh GET URL in `presigned_url`; the PUT URL is never returned again.
pub async fn get_upload(
    app: &App,
    scope: &Scope,
    bucket_identifier: &str,
    upload_id: &str,
    with_download_url: bool,
) -> Result<Upload, ApiError> {
    let (_, mut upload) = load_upload(app, scope, bucket_identifier, upload_id).await?;
    if with_download_url && app.objects.exists(&upload.s3_key).await? {
        upload.presigned_url = Some(app.objects.presign_get(&upload.s3_key).await?);
    }
    Ok(upload)
}

/// A task of the caller's namespace; another namespace's task is reported as missing.
pub async fn get_task(app: &App, scope: &Scope, task_id: &str) -> Result<crate::model::Task, ApiError> {
    app.store
        .task(task_id)
        .await?
        .filter(|t| t.namespace_id == scope.namespace.namespace_id)
        .ok_or_else(|| ApiError::not_found("task", task_id))
}

/// A batch of the caller's bucket; one of another bucket is reported as missing.
pub async fn get_batch(
    app: &App,
    scope: &Scope,
    bucket_identifier: &str,
    batch_id: &str,
) -> Result<crate::model::Batch, ApiError> {
    let (bucket, batch) = tokio::join!(resolve_bucket(app, scope, bucket_identifier), app.store.batch(batch_id));
    let bucket = bucket?;
    batch?
        .filter(|b| b.bucket_id == bucket.bucket_id)
        .ok_or_else(|| ApiError::not_found("batch", batch_id))
}
