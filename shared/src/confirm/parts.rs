//! Completing a multipart upload before its bytes are verified: every part of the plan must
//! be in S3 at its exact size (and match the ETags the client sent, if it sent them); then
//! S3 joins them at the staging key, where verification goes on as for a single PUT.

use super::error::ConfirmError;
use super::request::ConfirmRequest;
use crate::app::App;
use crate::model::{Multipart, PartPlan, Upload, UploadedPart};
use crate::objects::{Completed, unquote};

/// What the parts came to.
#[derive(Debug, PartialEq)]
pub enum Parts {
    /// All there: completed now, or earlier (by another confirmation).
    Joined,
    /// All there, and the object is large: the worker joins them.
    Ready,
}

/// Checks the upload's parts in S3 and, unless `join` is false, completes its multipart
/// upload. An upload S3 no longer knows was completed (or aborted) by another request:
/// verification then finds the object, or that it is missing.
pub async fn complete(
    app: &App,
    upload: &Upload,
    multipart: &Multipart,
    request: &ConfirmRequest,
    join: bool,
) -> Result<Parts, ConfirmError> {
    let key = upload.staging_key();
    let Some(listed) = app.objects.list_parts(&key, &multipart.s3_upload_id).await? else {
        return Ok(Parts::Joined);
    };
    check(upload, multipart, request, &listed)?;
    if !join {
        return Ok(Parts::Ready);
    }
    match app
        .objects
        .complete_multipart(&key, &multipart.s3_upload_id, &listed, false)
        .await?
    {
        Completed::Done { .. } | Completed::NoSuchUpload | Completed::PreconditionFailed => Ok(Parts::Joined),
        Completed::Refused(reason) => Err(ConfirmError::PartsRefused {
            upload_id: upload.upload_id.clone(),
            reason,
        }),
    }
}

/// Every part of the plan is listed at its size, and the client's ETags are S3's.
fn check(
    upload: &Upload,
    multipart: &Multipart,
    request: &ConfirmRequest,
    listed: &[UploadedPart],
) -> Result<(), ConfirmError> {
    let plan = PartPlan::of(multipart);
    let size = upload.file_size_bytes.unwrap_or(0);
    let missing: Vec<u32> = (1..=plan.part_count)
        .filter(|n| !listed.iter().any(|p| p.part_number == *n))
        .collect();
    if !missing.is_empty() {
        return Err(ConfirmError::PartsMissing {
            upload_id: upload.upload_id.clone(),
            missing,
            part_count: plan.part_count,
        });
    }
    let refused = |reason: String| ConfirmError::PartsRefused {
        upload_id: upload.upload_id.clone(),
        reason,
    };
    for part in listed {
        let expected = plan.part_size(size, part.part_number);
        if expected != Some(part.size_bytes) {
            return Err(refused(format!(
                "part {} holds {} bytes, not the {} of the plan",
                part.part_number,
                part.size_bytes,
                expected.map_or_else(|| "none".to_owned(), |n| n.to_string())
            )));
        }
    }
    for sent in &request.parts {
        let held = listed.iter().find(|p| p.part_number == sent.part_number);
        if held.is_none_or(|p| !unquote(&p.etag).eq_ignore_ascii_case(unquote(&sent.etag))) {
            return Err(refused(format!(
                "part {} in S3 has ETag {}, not the {} sent",
                sent.part_number,
                held.map_or("(none)", |p| p.etag.as_str()),
                unquote(&sent.etag)
            )));
        }
    }
    Ok(())
}
