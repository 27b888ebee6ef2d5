//! Finding what a request names, within what its caller may see.

use crate::app::App;
use crate::auth::Scope;
use crate::errors::{Failure, NotFound, RequestError};
use crate::ids::{BucketRef, UploadId};
use crate::model::{Bucket, Upload};

/// Reading something: it may not be there (for this caller), or a dependency may fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    NotFound(#[from] NotFound),
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl From<ReadError> for RequestError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::NotFound(not_found) => not_found.into(),
            ReadError::Failure(failure) => failure.into(),
        }
    }
}

/// Resolves `{bucket_identifier}` (a bucket id or name) within the caller's namespace.
/// A bucket of another namespace is reported exactly like a missing one.
pub async fn resolve_bucket(app: &App, scope: &Scope, bucket: &BucketRef) -> Result<Bucket, ReadError> {
    let namespace_id = &scope.namespace.namespace_id;
    let found = match bucket {
        BucketRef::Id(id) => app
            .directory
            .bucket(id)
            .await?
            .filter(|b| &b.namespace_id == namespace_id),
        BucketRef::Name(name) => app.directory.bucket_by_name(namespace_id, name).await?,
    };
    Ok(found.ok_or_else(|| NotFound::new("bucket", bucket))?)
}

/// Resolves the caller's bucket and reads an upload of it, both reads at once (the upload id
/// alone names the item). An upload of another bucket is reported exactly like a missing
/// one; a bucket the caller cannot see is reported first, whatever the upload read found.
pub async fn load_upload(
    app: &App,
    scope: &Scope,
    bucket: &BucketRef,
    upload_id: &UploadId,
) -> Result<(Bucket, Upload), ReadError> {
    let (bucket, upload) = tokio::join!(resolve_bucket(app, scope, bucket), app.store.upload(upload_id));
    let bucket = bucket?;
    let upload = upload?
        .filter(|u| u.bucket_id == bucket.bucket_id)
        .ok_or_else(|| NotFound::new("upload", upload_id))?;
    Ok((bucket, upload))
}
