//! Verifying an uploaded object against its upload and the client's claims, and moving it
//! out of reach of the upload URL.
//!
//! The upload URL writes the staging key. Verification checks what HeadObject reports
//! there, then copies the object to the final key (`ObjectStore::copy_once`: only if the
//! final key is still free and the staged ETag unchanged), and S3's SHA-256 of the copy is
//! the upload's `file_hash`. Once the final key exists its bytes never change, so every
//! later or concurrent confirmation verifies those same bytes.

use super::error::{ConfirmError, Mismatch};
use super::request::ConfirmRequest;
use crate::errors::Failure;
use crate::model::{ConfirmProgress, PartPlan, Upload, Verified};
use crate::objects::{Copy, Hashed, LargeCopy, ObjectInfo, ObjectStore, PartCopy, RunBudget, unquote};
use crate::time::Timestamp;

/// How often the copy is retried when the staged object changed under it.
const MAX_COPY_ATTEMPTS: usize = 3;

/// Why verification produced nothing to record.
#[derive(Debug)]
pub enum Rejection {
    /// Nothing changes: the bytes are missing, a claim does not match them, or a dependency
    /// failed. The client may fix it and confirm again.
    Keep(ConfirmError),
    /// The stored bytes can never complete this upload (too large, not the declared hash):
    /// the upload becomes FAILED and its bytes are removed.
    Fail(ConfirmError),
}

impl From<ConfirmError> for Rejection {
    fn from(err: ConfirmError) -> Self {
        Rejection::Keep(err)
    }
}

impl From<Failure> for Rejection {
    fn from(failure: Failure) -> Self {
        Rejection::Keep(failure.into())
    }
}

/// What verification found the bytes to be.
#[derive(Debug)]
pub enum Verdict {
    Verified(Verified),
    /// A worker run used up its budget moving or hashing a large object: where it got.
    Unfinished(ConfirmProgress),
    /// The bytes pass the checks and are at the final key, but S3 kept no SHA-256 of them
    /// (a store that computes no checksum on copy, or bytes put there another way), and this
    /// function does not read objects: only the worker can hash them. Or the staged object
    /// is larger than one copy moves, which only the worker's runs can.
    Unhashed,
}

/// What a worker run may spend on a large object, and where earlier runs left it.
#[derive(Debug, Clone)]
pub struct LongWork<'a> {
    pub budget: RunBudget,
    pub progress: Option<&'a ConfirmProgress>,
}

/// Where HeadObject found an upload's bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Located {
    /// At the final key: an earlier confirmation copied them there.
    Final(ObjectInfo),
    /// At the staging key, where the upload URL put them.
    Staged(ObjectInfo),
}

impl Located {
    pub fn info(&self) -> &ObjectInfo {
        match self {
            Located::Final(info) | Located::Staged(info) => info,
        }
    }
}

/// The upload's bytes: at the staging key, where the upload URL put them, or else at the
/// final key, where an earlier confirmation copied them; `None` when neither exists. The
/// staging key comes first because a first confirmation (nearly every one) finds the bytes
/// there with one HeadObject; [`verify`] still lets bytes already at the final key win.
pub async fn locate(objects: &ObjectStore, upload: &Upload) -> Result<Option<Located>, Failure> {
    if let Some(info) = objects.head(&upload.staging_key()).await? {
        return Ok(Some(Located::Staged(info)));
    }
    located_final(objects, upload).await
}

async fn located_final(objects: &ObjectStore, upload: &Upload) -> Result<Option<Located>, Failure> {
    Ok(objects.head(upload.final_key()).await?.map(Located::Final))
}

pub(super) fn not_uploaded(upload: &Upload) -> ConfirmError {
    ConfirmError::NotUploaded {
        upload_id: upload.upload_id.clone(),
        s3_key: upload.s3_key.clone(),
    }
}

/// ETags compare without their quotes and case-insensitively; a multipart ETag (`…-N`)
/// compares as the string it is.
pub fn etags_match(a: &str, b: &str) -> bool {
    unquote(a).eq_ignore_ascii_case(unquote(b))
}

/// Verifies the upload's bytes (`located`, or wherever they are now when `None`) and moves
/// staged bytes to the final key, returning what to record.
pub async fn verify(
    objects: &ObjectStore,
    upload: &Upload,
    request: &ConfirmRequest,
    max_size: u64,
    located: Option<Located>,
    long_work: Option<&LongWork<'_>>,
) -> Result<Verdict, Rejection> {
    let mut located = located;
    for _ in 0..MAX_COPY_ATTEMPTS {
        let current = match located.take() {
            Some(found) => found,
            None => locate(objects, upload).await?.ok_or_else(|| not_uploaded(upload))?,
        };
        if let Err(rejection) = check_claims(upload, request, max_size, current.info()) {
            // Bytes an earlier confirmation verified and copied win over whatever was
            // staged since: judge those instead.
            if matches!(current, Located::Staged(_))
                && let Some(at_final) = located_final(objects, upload).await?
            {
                located = Some(at_final);
                continue;
            }
            return Err(rejection);
        }
        let (info, copied_hash) = match current {
            Located::Final(info) => (info.clone(), info.sha256_hex),
            Located::Staged(info) if info.size > objects.limits().single_copy_max_bytes => {
                let Some(work) = long_work else {
                    return Ok(Verdict::Unhashed);
                };
                match copy_in_parts(objects, upload, &info, work).await? {
                    LargeCopy::Copied => (info, None),
                    LargeCopy::Unfinished { copy_upload_id } => {
                        return Ok(Verdict::Unfinished(ConfirmProgress {
                            copy_upload_id: Some(copy_upload_id),
                            ..ConfirmProgress::default()
                        }));
                    }
                    LargeCopy::PreconditionFailed | LargeCopy::SourceMissing => {
                        located = located_final(objects, upload).await?;
                        continue;
                    }
                }
            }
            Located::Staged(info) => match objects
                .copy_once(&upload.staging_key(), upload.final_key(), &info.etag)
                .await?
            {
                Copy::Copied { sha256_hex } => (info, sha256_hex),
                // Another confirmation copied first (the final key is taken), or the staged
                // bytes changed or went since they were checked: the final key first, then
                // wherever they are.
                Copy::PreconditionFailed | Copy::SourceMissing => {
                    located = located_final(objects, upload).await?;
                    continue;
                }
            },
        };
        let file_hash = match (copied_hash, long_work) {
            (Some(hash), _) => hash,
            (None, _) if !objects.reads_objects() => return Ok(Verdict::Unhashed),
            (None, Some(work)) => {
                let from = work.progress.and_then(|p| p.hash.as_ref());
                match objects
                    .sha256_resumable(upload.final_key(), info.size, from, &work.budget)
                    .await?
                {
                    Hashed::Done(hash) => hash,
                    Hashed::Unfinished(hash) => {
                        return Ok(Verdict::Unfinished(ConfirmProgress {
                            hash: Some(hash),
                            ..ConfirmProgress::default()
                        }));
                    }
                    Hashed::Missing => return Err(not_uploaded(upload).into()),
                }
            }
            (None, None) => objects
                .sha256_hex(upload.final_key())
                .await?
                .ok_or_else(|| not_uploaded(upload))?,
        };
        return finish(upload, info, file_hash).map(Verdict::Verified);
    }
    tracing::warn!(upload_id = %upload.upload_id, "the staged object kept changing during confirmation");
    Err(Failure::Unavailable.into())
}

/// One run's share of copying a staged object too large for CopyObject to its final key,
/// cut as the upload was (so the copy's ETag is the staged one's).
async fn copy_in_parts(
    objects: &ObjectStore,
    upload: &Upload,
    staged: &ObjectInfo,
    work: &LongWork<'_>,
) -> Result<LargeCopy, Failure> {
    let plan = match &upload.multipart {
        Some(multipart) => PartPlan::of(multipart),
        None => PartPlan::new(staged.size, None, objects.min_part_size()).map_err(Failure::bug)?,
    };
    let staging_key = upload.staging_key();
    let copy = PartCopy {
        from: &staging_key,
        to: upload.final_key(),
        etag: &staged.etag,
        size: staged.size,
        plan,
        content_type: &upload.content_type,
    };
    let resume = work.progress.and_then(|p| p.copy_upload_id.as_deref());
    objects.copy_in_parts(&copy, resume, &work.budget).await
}

/// The client's `etag` and `file_size_bytes`, the size declared at creation, and the
/// bucket's maximum, against what S3 reports.
fn check_claims(upload: &Upload, request: &ConfirmRequest, max_size: u64, info: &ObjectInfo) -> Result<(), Rejection> {
    check_request_claims(request, &info.etag, info.size)?;
    if let Some(expected) = upload.file_size_bytes
        && expected != info.size
    {
        return Err(Rejection::Keep(ConfirmError::Mismatch(Mismatch::FileSize {
            expected,
            actual: info.size,
        })));
    }
    if info.size > max_size {
        return Err(Rejection::Fail(ConfirmError::TooLarge {
            max: max_size,
            actual: info.size,
        }));
    }
    Ok(())
}

/// The client's `etag` and `file_size_bytes` against the bytes' ETag and size (as S3
/// reports them, or as a confirmation recorded them).
pub(super) fn check_request_claims(request: &ConfirmRequest, etag: &str, size: u64) -> Result<(), ConfirmError> {
    if let Some(claimed) = &request.etag
        && !etags_match(claimed, etag)
    {
        return Err(ConfirmError::Mismatch(Mismatch::Etag {
            expected: unquote(claimed).to_owned(),
            actual: etag.to_owned(),
        }));
    }
    if let Some(expected) = request.file_size_bytes
        && expected != size
    {
        return Err(ConfirmError::Mismatch(Mismatch::FileSize { expected, actual: size }));
    }
    Ok(())
}

/// The declared hash, when there is one, must be the stored bytes'.
fn finish(upload: &Upload, info: ObjectInfo, file_hash: String) -> Result<Verified, Rejection> {
    if let Some(declared) = &upload.file_hash
        && *declared != file_hash
    {
        return Err(Rejection::Fail(ConfirmError::Mismatch(Mismatch::FileHash {
            expected: declared.clone(),
            actual: file_hash,
        })));
    }
    Ok(Verified {
        etag: info.etag,
        file_size_bytes: info.size,
        file_hash,
        verified_at: Timestamp::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_compare_without_quotes_or_case() {
        assert!(etags_match(
            "\"D41D8CD98F00B204E9800998ECF8427E\"",
            "d41d8cd98f00b204e9800998ecf8427e"
        ));
        assert!(etags_match("abc-3", "\"abc-3\""));
        assert!(!etags_match("abc-3", "abc"));
        assert!(!etags_match("abc", "abd"));
    }
}
