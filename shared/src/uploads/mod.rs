//! The upload use cases, independent of HTTP.

mod delete;
mod new_upload;

pub use delete::delete_upload;
pub use new_upload::{MAX_EXPIRATION_SECS, NewUpload};

use crate::app::App;
use crate::auth::{Caller, Scope};
use crate::error::ApiError;
use crate::ids::IdKind;
use crate::model::{Bucket, TaskStatus, Upload};
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

/// Creates an upload and returns it: PENDING with its presigned PUT URL or, when the
/// declared `file_hash` names bytes a COMPLETED upload of the bucket already holds (and
/// `skip_duplicates`), COMPLETED at once as that upload's duplicate, with no URL.
pub async fn create_upload(
    app: &App,
    scope: &Scope,
    bucket_identifier: &str,
    body: Option<&Value>,
) -> Result<Upload, ApiError> {
    let bucket = resolve_bucket(app, scope, bucket_identifier).await?;
    let new = NewUpload::parse(body, bucket.max_file_size_bytes)?;
    let (upload_id, now) = (IdKind::Upload.generate(), Timestamp::now());
    if let Some(original) = already_stored(app, &bucket, &new).await? {
        let duplicate = new.into_duplicate(upload_id, &bucket, now, &original);
        app.store.insert_upload(&duplicate).await?;
        return Ok(duplicate);
    }
    let checksum_required = new.checksum_required;
    let mut upload = new.into_pending(upload_id, &bucket, now);
    let needs = PutRequirements {
        content_type: &upload.content_type,
        content_length: upload.file_size_bytes,
        sha256_hex: upload.file_hash.as_deref().filter(|_| checksum_required),
    };
    let expires_in = Duration::from_secs(upload.presigned_url_expiration.into());
    let presigned_url = app.objects.presign_put(&upload.s3_key, &needs, expires_in).await?;
    let message = put_instructions(&needs);
    app.store.insert_upload(&upload).await?;
    upload.presigned_url = Some(presigned_url);
    upload.message = Some(message);
    Ok(upload)
}

/// The COMPLETED upload of the bucket holding the bytes `new` declares, when it may stand
/// in for them: `skip_duplicates`, a declared hash, and no declared size that differs.
async fn already_stored(app: &App, bucket: &Bucket, new: &NewUpload) -> Result<Option<Upload>, ApiError> {
    let Some(hash) = new.file_hash.as_deref().filter(|_| new.skip_duplicates) else {
        return Ok(None);
    };
    let Some(marker) = app.store.hash_marker(&bucket.bucket_id, hash).await? else {
        return Ok(None);
    };
    let original = app.store.upload(&marker.upload_id).await?;
    Ok(original.filter(|o| {
        o.status == TaskStatus::Completed && new.file_size_bytes.is_none_or(|size| Some(size) == o.file_size_bytes)
    }))
}

/// Tells the client exactly which headers its PUT must carry to match the signature.
fn put_instructions(needs: &PutRequirements<'_>) -> String {
    let mut message = format!(
        "PUT the file to presigned_url with the header Content-Type: {}",
        needs.content_type
    );
    if needs.sha256_hex.is_some() {
        message.push_str(" and x-amz-checksum-sha256: <base64 of the SHA-256 digest>");
    }
    if let Some(length) = needs.content_length {
        message.push_str(&format!(" ({length} bytes)"));
    }
    message.push_str(", then call confirm.");
    message
}

/// Reads an upload of the caller's bucket. With `with_download_url`, a COMPLETED upload
/// gets a fresh GET URL of its verified bytes in `presigned_url` (signed locally, no call
/// to S3); the PUT URL is never returned again.
pub async fn get_upload(
    app: &App,
    scope: &Scope,
    bucket_identifier: &str,
    upload_id: &str,
    with_download_url: bool,
) -> Result<Upload, ApiError> {
    let (_, mut upload) = load_upload(app, scope, bucket_identifier, upload_id).await?;
    if with_download_url {
        upload.presigned_url = download_url(app, &upload).await?;
    }
    Ok(upload)
}

/// A fresh GET URL for a verified (COMPLETED) upload's bytes; `None` for any other.
pub async fn download_url(app: &App, upload: &Upload) -> Result<Option<String>, ApiError> {
    if upload.status != TaskStatus::Completed {
        return Ok(None);
    }
    app.objects.presign_get(upload.final_key()).await.map(Some)
}

/// A task of the caller's namespace (`X-Namespace`) or, when the request names none (as
/// Mixpeek's SDK does for tasks), of any namespace of the caller's tenant. Any other task
/// is reported as missing.
pub async fn get_task(app: &App, caller: &Caller, task_id: &str) -> Result<crate::model::Task, ApiError> {
    let not_found = || ApiError::not_found("task", task_id);
    let task = app.store.task(task_id).await?.ok_or_else(not_found)?;
    let visible = match &caller.namespace {
        Some(namespace) => task.namespace_id == namespace.namespace_id,
        None => app
            .store
            .namespace(&task.namespace_id)
            .await?
            .is_some_and(|ns| ns.tenant_id == caller.tenant_id),
    };
    if visible { Ok(task) } else { Err(not_found()) }
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
