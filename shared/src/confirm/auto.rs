//! Auto-confirm: S3 reports an object created under the staging prefix (a presigned PUT, or
//! the CompleteMultipartUpload that joins a multipart upload's parts), and the upload whose
//! staging key it is gets confirmed by the same orchestrator as a client's confirmation,
//! with what was given at creation. A client that never confirms sees its upload COMPLETED;
//! one that also confirms gets the same answer, whichever comes first (the transitions are
//! conditional writes), and its confirmation still applies its own claims and
//! `auto_submit_batch` (see `late`).

use super::{ConfirmError, ConfirmRequest, Origin, confirm};
use crate::app::App;
use crate::errors::Failure;
use crate::ids::{BucketId, NamespaceId, UploadId};
use crate::model::{STAGING_PREFIX, Upload, UploadStatus};
use crate::time::Timestamp;

/// An object S3 reports created.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectCreated {
    pub bucket: String,
    pub key: String,
    /// When S3 stored it (the event's time).
    pub stored_at: Timestamp,
}

/// What an event came to. Only a failure of a dependency is worth delivering again.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing to confirm, and why.
    Ignored(&'static str),
    /// The upload as the confirmation left it (COMPLETED, or PROCESSING in the worker).
    Confirmed(Box<Upload>),
    /// The orchestrator refused (a declared size the bytes do not match, say): the upload is
    /// as that left it, and the client's confirmation gets the same answer.
    Refused(ConfirmError),
}

/// The upload a staging key belongs to, as the key names it:
/// `incoming/{namespace_id}/{bucket_id}/{upload_id}/{filename}`.
fn named_by(key: &str) -> Option<(NamespaceId, BucketId, UploadId)> {
    let mut segments = key.strip_prefix(STAGING_PREFIX)?.splitn(4, '/');
    let namespace_id = NamespaceId::parse(segments.next()?)?;
    let bucket_id = BucketId::parse(segments.next()?)?;
    let upload_id = UploadId::parse(segments.next()?)?;
    segments.next().filter(|filename| !filename.is_empty())?;
    Some((namespace_id, bucket_id, upload_id))
}

/// Confirms the upload whose staged bytes `created` reports, unless it asked not to be.
pub async fn object_created(app: &App, created: &ObjectCreated) -> Result<Outcome, Failure> {
    if created.bucket != app.objects.bucket() {
        return Ok(Outcome::Ignored("another bucket"));
    }
    let Some((namespace_id, bucket_id, upload_id)) = named_by(&created.key) else {
        return Ok(Outcome::Ignored("not an upload's staging key"));
    };
    let Some(upload) = app.store.upload(&upload_id).await? else {
        return Ok(Outcome::Ignored("no such upload (deleted, or expired)"));
    };
    if upload.bucket_id != bucket_id {
        return Ok(Outcome::Ignored("the key names another bucket than the upload's"));
    }
    if !upload.auto_confirm {
        return Ok(Outcome::Ignored("created with auto_confirm false"));
    }
    if upload.status != UploadStatus::Pending {
        return Ok(Outcome::Ignored("confirmed already, or being confirmed"));
    }
    let Some(bucket) = app.store.bucket(&bucket_id).await? else {
        return Ok(Outcome::Ignored("the bucket is gone"));
    };
    if bucket.namespace_id != namespace_id {
        return Ok(Outcome::Ignored("the key names another namespace than the bucket's"));
    }
    let origin = Origin::Event {
        object_created_at: created.stored_at,
    };
    match confirm(app, &bucket, upload, &ConfirmRequest::default(), origin).await {
        Ok(upload) => Ok(Outcome::Confirmed(Box::new(upload))),
        Err(ConfirmError::Failure(failure)) => Err(failure),
        Err(refused) => Ok(Outcome::Refused(refused)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staging_key_names_its_upload() {
        let (ns, bkt, upl) = (NamespaceId::generate(), BucketId::generate(), UploadId::generate());
        let key = format!("incoming/{ns}/{bkt}/{upl}/summer clip (final)+ü.mp4");
        assert_eq!(named_by(&key), Some((ns.clone(), bkt.clone(), upl.clone())));
        let nested = format!("incoming/{ns}/{bkt}/{upl}/a/b.txt");
        assert!(named_by(&nested).is_some(), "filenames may hold slashes");
        for other in [
            format!("{ns}/{bkt}/{upl}/a.txt"),
            format!("incoming/{ns}/{bkt}/{upl}/"),
            format!("incoming/{ns}/{bkt}/{upl}"),
            format!("incoming/{bkt}/{ns}/{upl}/a.txt"),
            "incoming/x/y/z/a.txt".to_owned(),
        ] {
            assert_eq!(named_by(&other), None, "{other}");
        }
    }
}
