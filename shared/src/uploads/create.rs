//! Create Upload: a PENDING upload with its presigned PUT URL, or a completed duplicate
//! when the bucket already holds the declared bytes.

use super::NewUpload;
use super::lookup::resolve_bucket;
use crate::app::App;
use crate::auth::Scope;
use crate::errors::{Failure, RequestError};
use crate::ids::{BucketRef, UploadId};
use crate::model::{Bucket, Upload, UploadStatus};
use crate::objects::PutRequirements;
use crate::time::Timestamp;
use serde_json::Value;
use std::time::Duration;

pub type CreateError = RequestError;

/// Creates an upload and returns it: PENDING with its presigned PUT URL or, when the
/// declared `file_hash` names bytes a COMPLETED upload of the bucket already holds (and
/// `skip_duplicates`), COMPLETED at once as that upload's duplicate, with no URL.
pub async fn create_upload(
    app: &App,
    scope: &Scope,
    bucket: &BucketRef,
    body: Option<&Value>,
) -> Result<Upload, CreateError> {
    let bucket = resolve_bucket(app, scope, bucket).await?;
    let new = NewUpload::parse(body, bucket.max_file_size_bytes)?;
    let checksum_required = new.checksum_required;
    let deadline = app.objects.url_deadline().await?;
    let mut upload = build(app, &bucket, new, UploadId::generate(), Timestamp::now()).await?;
    upload.expire_by(deadline);
    app.store.insert_upload(&upload).await?;
    Ok(with_put_url(app, upload, checksum_required).await?)
}

/// The upload a request makes: COMPLETED at once as a duplicate when the bucket already
/// holds the declared bytes, PENDING otherwise.
pub(super) async fn build(
    app: &App,
    bucket: &Bucket,
    new: NewUpload,
    upload_id: UploadId,
    now: Timestamp,
) -> Result<Upload, Failure> {
    Ok(match already_stored(app, bucket, &new).await? {
        Some(original) => new.into_duplicate(upload_id, bucket, now, &original),
        None => new.into_pending(upload_id, bucket, now),
    })
}

/// A PENDING upload with a PUT URL valid until its `expires_at`, and a message saying which
/// headers the PUT carries; any other upload as it is (nothing to upload).
pub(super) async fn with_put_url(app: &App, mut upload: Upload, checksum_required: bool) -> Result<Upload, Failure> {
    if upload.status != UploadStatus::Pending {
        return Ok(upload);
    }
    let needs = PutRequirements {
        content_type: &upload.content_type,
        content_length: upload.file_size_bytes,
        sha256_hex: upload.file_hash.as_deref().filter(|_| checksum_required),
    };
    let remaining_ms = u64::try_from(Timestamp::now().millis_until(upload.expires_at)).unwrap_or(0);
    let expires_in = Duration::from_secs(remaining_ms.div_ceil(1000).max(1));
    let presigned = app.objects.presign_put(&upload.s3_key, &needs, expires_in).await?;
    let mut message = put_instructions(&needs);
    if upload.url_cut_short() {
        message.push_str(&format!(
            " The URL expires at {}, sooner than the {} s asked for: the credentials that sign it expire then.",
            upload.expires_at, upload.presigned_url_expiration
        ));
    }
    upload.presigned_url = Some(presigned.url);
    upload.message = Some(message);
    Ok(upload)
}

/// The COMPLETED upload of the bucket holding the bytes `new` declares, when it may stand
/// in for them: `skip_duplicates`, a declared hash, and no declared size that differs.
async fn already_stored(app: &App, bucket: &Bucket, new: &NewUpload) -> Result<Option<Upload>, Failure> {
    let Some(hash) = new.file_hash.as_deref().filter(|_| new.skip_duplicates) else {
        return Ok(None);
    };
    let Some(marker) = app.store.hash_marker(&bucket.bucket_id, hash).await? else {
        return Ok(None);
    };
    let original = app.store.upload(&marker.upload_id).await?;
    Ok(original.filter(|o| {
        o.status == UploadStatus::Completed && new.file_size_bytes.is_none_or(|size| Some(size) == o.file_size_bytes)
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
