//! The upload use cases, independent of HTTP.

mod new_upload;

pub use new_upload::NewUpload;

use crate::app::App;
use crate::auth::Scope;
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

/// Creates a PENDING upload and returns it with its presigned PUT URL.
pub async fn create_upload(
    app: &App,
    scope: &Scope,
    bucket_identifier: &str,
    body: Option<&Value>,
) -> Result<Upload, ApiError> {
    let bucket = resolve_bucket(app, scope, bucket_identifier).await?;
    let new = NewUpload::parse(body, bucket.max_file_size_bytes)?;
    let upload_id = IdKind::Upload.generate();
    let s3_key = format!(
        "{}/{}/{}/{}",
        bucket.namespace_id, bucket.bucket_id, upload_id, new.filename
    );
    let created_at = Timestamp::now();
    let needs = PutRequirements {
        content_type: &new.content_type,
        content_length: new.file_size_bytes,
        sha256_hex: new.file_hash.as_deref(),
    };
    let expiration = new.presigned_url_expiration;
    let presigned_url = app
        .objects
        .presign_put(&s3_key, &needs, Duration::from_secs(expiration.into()))
        .await?;
    let message = put_instructions(&needs);

    let mut upload = Upload {
        upload_id,
        bucket_id: bucket.bucket_id,
        filename: new.filename,
        content_type: new.content_type,
        presigned_url_expiration: expiration,
        s3_key,
        status: TaskStatus::Pending,
        create_object_on_confirm: new.create_object_on_confirm,
        created_at,
        expires_at: created_at.plus_seconds(expiration.into()),
        file_size_bytes: new.file_size_bytes,
        presigned_url: None,
        metadata: new.metadata,
        object_metadata: new.object_metadata,
        blob_property: new.blob_property,
        blob_type: new.blob_type,
        file_hash: new.file_hash,
        skip_duplicates: new.skip_duplicates,
        is_duplicate: false,
        duplicate_of_upload_id: None,
        message: None,
        completed_at: None,
        verified_at: None,
        etag: None,
        object_id: None,
        task_id: None,
    };
    app.store.insert_upload(&upload).await?;
    upload.presigned_url = Some(presigned_url);
    upload.message = Some(message);
    Ok(upload)
}

/// Tells the client exactly which headers its PUT must carry to match the signature.
fn put_instructions(needs: &PutRequirements<'_>) -> String {
    let mut message = format!(
        "PUT the file to presigned_url with headers Content-Type: {} and Content-Length: {}",
        needs.content_type, needs.content_length
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
    let bucket = resolve_bucket(app, scope, bucket_identifier).await?;
    let mut upload = app
        .store
        .upload(upload_id)
        .await?
        .filter(|u| u.bucket_id == bucket.bucket_id)
        .ok_or_else(|| ApiError::not_found("upload", upload_id))?;
    if with_download_url && app.objects.exists(&upload.s3_key).await? {
        upload.presigned_url = Some(app.objects.presign_get(&upload.s3_key).await?);
    }
    Ok(upload)
}
