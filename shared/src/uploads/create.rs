//! Create Upload: a PENDING upload with its presigned PUT URL, or a completed duplicate
//! when the bucket already holds the declared bytes.

use super::NewUpload;
use super::lookup::resolve_bucket;
use super::multipart;
use crate::app::App;
use crate::auth::Scope;
use crate::errors::{Failure, RequestError};
use crate::ids::{BucketRef, UploadId};
use crate::model::{Bucket, Upload, UploadStatus};
use crate::objects::PutRequirements;
use crate::quota::{Quota, UsageDelta};
use crate::store::{Conflict, StoreError};
use crate::time::Timestamp;
use serde_json::Value;
use std::time::Duration;

pub type CreateError = RequestError;

/// How often a write refused for the quota is tried again when a read of the usage shows
/// room (uploads ended between the two).
const QUOTA_ATTEMPTS: usize = 3;

/// Creates an upload and returns it: PENDING with its presigned PUT URL or, when the
/// declared `file_hash` names bytes a COMPLETED upload of the bucket already holds (and
/// `skip_duplicates`), COMPLETED at once as that upload's duplicate, with no URL.
pub async fn create_upload(
    app: &App,
    scope: &Scope,
    bucket: &BucketRef,
    body: Option<&Value>,
) -> Result<Upload, CreateError> {
    let (bucket, quota) = bucket_and_quota(app, scope, bucket).await?;
    let new = NewUpload::parse(body, max_file_size(&bucket, &quota))?;
    let checksum_required = new.checksum_required;
    let multipart = new.multipart;
    let deadline = app.objects.url_deadline().await?;
    let mut upload = build(app, scope, &bucket, new, UploadId::generate(), Timestamp::now()).await?;
    upload.expire_by(deadline);
    if let Some(ask) = multipart {
        multipart::start(app, &mut upload, ask).await?;
    }
    if let Err(err) = within_quota(app, &[&upload], &quota, || app.store.insert_upload(&upload, &quota)).await {
        multipart::abandon(app, &upload).await;
        return Err(err);
    }
    if upload.multipart.is_some() {
        return Ok(multipart::with_first_part_urls(app, upload).await?);
    }
    Ok(with_put_url(app, upload, checksum_required).await?)
}

/// The bucket the request names and its tenant's quota, read at once.
pub(super) async fn bucket_and_quota(
    app: &App,
    scope: &Scope,
    bucket: &BucketRef,
) -> Result<(Bucket, Quota), RequestError> {
    let (bucket, quota) = tokio::join!(
        resolve_bucket(app, scope, bucket),
        app.directory.quota(&scope.tenant_id)
    );
    Ok((bucket?, quota?))
}

/// The largest file the bucket and the tenant both accept.
pub(super) fn max_file_size(bucket: &Bucket, quota: &Quota) -> u64 {
    bucket.max_file_size_bytes.min(quota.max_file_size_bytes)
}

/// Runs `insert` (a store write of `uploads` conditional on `quota`). When the quota has no
/// room, reads the tenant's usage to say why; should uploads have ended meanwhile and made
/// room, the write is tried again.
pub(super) async fn within_quota<T, F, Fut>(
    app: &App,
    uploads: &[&Upload],
    quota: &Quota,
    mut insert: F,
) -> Result<T, RequestError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    for _ in 0..QUOTA_ATTEMPTS {
        match insert().await {
            Ok(done) => return Ok(done),
            Err(StoreError::Conflict(Conflict::OverQuota)) => {
                let Some((tenant, delta)) = UsageDelta::of_new(uploads) else {
                    return Err(Failure::bug("uploads without a tenant were refused for its quota").into());
                };
                let usage = app.store.usage(&tenant).await?;
                if let Some(exceeded) = delta.exceeds(quota, &usage) {
                    return Err(exceeded.into());
                }
            }
            // Deleted since this container looked it up (its directory cache may lag).
            Err(StoreError::Conflict(Conflict::Gone)) => {
                let bucket_id = uploads.first().map(|u| u.bucket_id.to_string()).unwrap_or_default();
                return Err(crate::errors::NotFound::new("bucket", bucket_id).into());
            }
            Err(StoreError::Conflict(other)) => {
                return Err(Failure::bug(format!("inserting uploads met {other:?}")).into());
            }
            Err(StoreError::Failure(failure)) => return Err(failure.into()),
        }
    }
    Err(Failure::Unavailable.into())
}

/// The upload a request makes: COMPLETED at once as a duplicate when the bucket already
/// holds the declared bytes, PENDING otherwise.
pub(super) async fn build(
    app: &App,
    scope: &Scope,
    bucket: &Bucket,
    new: NewUpload,
    upload_id: UploadId,
    now: Timestamp,
) -> Result<Upload, Failure> {
    let upload = match already_stored(app, bucket, &new).await? {
        Some(original) => new.into_duplicate(upload_id, bucket, now, &original),
        None => new.into_pending(upload_id, bucket, now),
    };
    Ok(Upload {
        tenant_id: Some(scope.tenant_id.clone()),
        ..upload
    })
}

/// A PENDING upload with a PUT URL valid until its `expires_at`, and a message saying which
/// headers the PUT carries; any other upload as it is (nothing to upload).
pub(super) async fn with_put_url(app: &App, mut upload: Upload, checksum_required: bool) -> Result<Upload, Failure> {
    if upload.status != UploadStatus::Pending || upload.multipart.is_some() {
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
