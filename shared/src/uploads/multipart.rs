//! Multipart uploads (our extension): starting S3's multipart upload at creation, part URLs
//! (the first ones in the create answer, any others from `POST …/uploads/{id}/parts`), and
//! what S3 holds already, for resuming.

use super::lookup::load_upload;
use super::new_upload::MultipartAsk;
use crate::app::App;
use crate::auth::Scope;
use crate::errors::{Failure, Invalid, Loc, RequestError};
use crate::ids::{BucketRef, UploadId};
use crate::model::multipart::{MAX_PARTS_PER_REQUEST, PART_URLS_IN_CREATE};
use crate::model::{Multipart, PartPlan, PartUrl, Upload, UploadStatus, UploadedPart};
use crate::objects::PartRequest;
use crate::time::Timestamp;
use crate::validate::FieldReader;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// The body keys the parts endpoint accepts.
pub const ACCEPTED_KEYS: &[&str] = &["part_numbers", "checksums_sha256"];

/// The answer of `POST …/uploads/{upload_id}/parts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartsAnswer {
    pub upload_id: UploadId,
    pub part_size_bytes: u64,
    pub part_count: u32,
    /// URLs for the parts asked for, in the order asked.
    pub parts: Vec<PartUrl>,
    /// What S3 holds already, by part number.
    pub uploaded_parts: Vec<UploadedPart>,
    pub expires_at: Timestamp,
}

/// The parts endpoint's request: part numbers, and optionally each one's SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartsRequest {
    part_numbers: Vec<u32>,
    checksums_sha256: Option<Vec<String>>,
}

/// Settles the part plan of a PENDING upload asked as multipart and starts its S3 multipart
/// upload at the staging key. The plan is checked before S3 is called.
pub(super) async fn start(app: &App, upload: &mut Upload, ask: MultipartAsk) -> Result<(), RequestError> {
    if upload.status != UploadStatus::Pending {
        return Ok(());
    }
    let size = upload
        .file_size_bytes
        .ok_or_else(|| Failure::bug("a multipart upload without a declared size was let through"))?;
    let plan = PartPlan::new(size, ask.part_size_bytes, app.objects.min_part_size()).map_err(|msg| {
        Invalid::at(
            vec![Loc::from("body"), Loc::from("part_size_bytes")],
            "value_error",
            msg,
        )
    })?;
    let s3_upload_id = app
        .objects
        .create_multipart(&upload.staging_key(), &upload.content_type)
        .await?;
    upload.multipart = Some(Multipart {
        s3_upload_id,
        part_size_bytes: plan.part_size_bytes,
        part_count: plan.part_count,
        parts: Vec::new(),
    });
    Ok(())
}

/// A create that failed after S3's multipart upload was started leaves nothing behind.
pub(super) async fn abandon(app: &App, upload: &Upload) {
    if let Some(multipart) = &upload.multipart
        && let Err(err) = app
            .objects
            .abort_multipart(&upload.staging_key(), &multipart.s3_upload_id)
            .await
    {
        tracing::warn!(error = %err, "multipart upload left for the lifecycle rule");
    }
}

/// A stored multipart upload with URLs for its first parts, and a message on what to do.
pub(super) async fn with_first_part_urls(app: &App, mut upload: Upload) -> Result<Upload, Failure> {
    let Some(multipart) = upload
        .multipart
        .as_ref()
        .filter(|_| upload.status == UploadStatus::Pending)
    else {
        return Ok(upload);
    };
    let first: Vec<u32> = (1..=multipart.part_count.min(PART_URLS_IN_CREATE)).collect();
    let urls = part_urls(app, &upload, &first, None).await?;
    let more = if multipart.part_count > PART_URLS_IN_CREATE {
        format!(
            " The first {PART_URLS_IN_CREATE} part URLs are here; POST the others' part_numbers to …/uploads/{}/parts.",
            upload.upload_id
        )
    } else {
        String::new()
    };
    upload.message = Some(format!(
        "PUT each of the {} parts to its URL with the headers listed for it, then call confirm.{more}",
        multipart.part_count
    ));
    if let Some(multipart) = upload.multipart.as_mut() {
        multipart.parts = urls;
    }
    Ok(upload)
}

/// URLs for `numbers`, each signing the part's exact size (and its SHA-256 when given),
/// valid until the upload expires.
async fn part_urls(
    app: &App,
    upload: &Upload,
    numbers: &[u32],
    checksums: Option<&[String]>,
) -> Result<Vec<PartUrl>, Failure> {
    let (Some(multipart), Some(size)) = (&upload.multipart, upload.file_size_bytes) else {
        return Err(Failure::bug("part URLs for an upload that is not multipart"));
    };
    let plan = PartPlan::of(multipart);
    let remaining_ms = u64::try_from(Timestamp::now().millis_until(upload.expires_at)).unwrap_or(0);
    let expires_in = Duration::from_secs(remaining_ms.div_ceil(1000).max(1));
    let key = upload.staging_key();
    let mut urls = Vec::with_capacity(numbers.len());
    for (i, number) in numbers.iter().enumerate() {
        let size_bytes = plan
            .part_size(size, *number)
            .ok_or_else(|| Failure::bug("a part number past the last was let through"))?;
        let part = PartRequest {
            part_number: *number,
            size_bytes,
            sha256_hex: checksums.and_then(|c| c.get(i)).map(String::as_str),
        };
        urls.push(
            app.objects
                .presign_part(&key, &multipart.s3_upload_id, part, expires_in)
                .await?,
        );
    }
    Ok(urls)
}

/// `POST …/uploads/{upload_id}/parts`: URLs for the parts asked for, and the parts S3 holds.
pub async fn request_parts(
    app: &App,
    scope: &Scope,
    bucket: &BucketRef,
    upload_id: &UploadId,
    body: Option<&Value>,
) -> Result<PartsAnswer, RequestError> {
    let (_, upload) = load_upload(app, scope, bucket, upload_id).await?;
    let Some(multipart) = upload.multipart.clone() else {
        return Err(not_multipart(&upload).into());
    };
    let request = PartsRequest::parse(body, multipart.part_count)?;
    if upload.status != UploadStatus::Pending || Timestamp::now() > upload.expires_at {
        return Err(not_pending(&upload).into());
    }
    let staging_key = upload.staging_key();
    let (urls, uploaded) = tokio::join!(
        part_urls(app, &upload, &request.part_numbers, request.checksums_sha256.as_deref()),
        app.objects.list_parts(&staging_key, &multipart.s3_upload_id)
    );
    Ok(PartsAnswer {
        upload_id: upload.upload_id.clone(),
        part_size_bytes: multipart.part_size_bytes,
        part_count: multipart.part_count,
        parts: urls?,
        uploaded_parts: uploaded?.unwrap_or_default(),
        expires_at: upload.expires_at,
    })
}

fn not_multipart(upload: &Upload) -> Invalid {
    Invalid::at(
        vec![Loc::from("path"), Loc::from("upload_id")],
        "value_error",
        format!(
            "Upload {} is a single-PUT upload: it has no parts (create it with \"multipart\": true)",
            upload.upload_id
        ),
    )
}

fn not_pending(upload: &Upload) -> Invalid {
    let why = if upload.status == UploadStatus::Pending {
        format!("its upload URLs expired at {}", upload.expires_at)
    } else {
        format!("it is {}", upload.status)
    };
    Invalid::at(
        vec![Loc::from("path"), Loc::from("upload_id")],
        "value_error",
        format!("Upload {} takes no more parts: {why}", upload.upload_id),
    )
}

impl PartsRequest {
    fn parse(body: Option<&Value>, part_count: u32) -> Result<Self, Invalid> {
        let missing = || Invalid::at(vec![Loc::from("body")], "missing", "Field required");
        let body = body.filter(|b| !b.is_null()).ok_or_else(missing)?;
        let mut r = FieldReader::object(body, vec![Loc::from("body")])?;
        r.forbid_unknown(ACCEPTED_KEYS);
        r.finish()?;
        let mut errors = Vec::new();
        let at = |field: &str, i: Option<usize>| {
            let mut loc = vec![Loc::from("body"), Loc::from(field)];
            loc.extend(i.map(Loc::from));
            loc
        };
        let part_numbers: Vec<u32> = match body.get("part_numbers") {
            Some(Value::Array(items)) if items.len() <= MAX_PARTS_PER_REQUEST => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item.as_u64().and_then(|n| u32::try_from(n).ok()) {
                    Some(n) if (1..=part_count).contains(&n) => Some(n),
                    _ => {
                        errors.push(crate::errors::FieldError::new(
                            at("part_numbers", Some(i)),
                            "value_error",
                            format!("a part number of this upload: 1 to {part_count}"),
                        ));
                        None
                    }
                })
                .collect(),
            Some(Value::Array(_)) => {
                errors.push(crate::errors::FieldError::new(
                    at("part_numbers", None),
                    "too_long",
                    format!("at most {MAX_PARTS_PER_REQUEST} part numbers in one request"),
                ));
                Vec::new()
            }
            None | Some(Value::Null) => Vec::new(),
            Some(_) => {
                errors.push(crate::errors::FieldError::new(
                    at("part_numbers", None),
                    "list_type",
                    "Input should be a valid list",
                ));
                Vec::new()
            }
        };
        let checksums_sha256 = match body.get("checksums_sha256") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) if items.len() == part_numbers.len() => {
                let mut digests = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item
                        .as_str()
                        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    {
                        Some(hex) => digests.push(hex.to_ascii_lowercase()),
                        None => errors.push(crate::errors::FieldError::new(
                            at("checksums_sha256", Some(i)),
                            "string_pattern_mismatch",
                            "a SHA-256 digest: 64 hexadecimal characters",
                        )),
                    }
                }
                Some(digests)
            }
            Some(_) => {
                errors.push(crate::errors::FieldError::new(
                    at("checksums_sha256", None),
                    "value_error",
                    "one SHA-256 (hex) per part number, in the same order",
                ));
                None
            }
        };
        if !errors.is_empty() {
            return Err(Invalid(errors));
        }
        Ok(Self {
            part_numbers,
            checksums_sha256,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn part_numbers_are_the_uploads_own_and_digests_pair_with_them() {
        let ok = PartsRequest::parse(Some(&json!({"part_numbers": [3, 1]})), 3).unwrap();
        assert_eq!(ok.part_numbers, vec![3, 1]);
        assert_eq!(ok.checksums_sha256, None);
        let empty = PartsRequest::parse(Some(&json!({})), 3).unwrap();
        assert!(empty.part_numbers.is_empty(), "listing only");
        let digest = "AB".repeat(32);
        let with = PartsRequest::parse(Some(&json!({"part_numbers": [2], "checksums_sha256": [digest]})), 3).unwrap();
        assert_eq!(with.checksums_sha256, Some(vec!["ab".repeat(32)]));
        for bad in [
            json!({"part_numbers": [0]}),
            json!({"part_numbers": [4]}),
            json!({"part_numbers": ["1"]}),
            json!({"part_numbers": 1}),
            json!({"part_numbers": [1, 2], "checksums_sha256": [digest]}),
            json!({"part_numbers": [1], "checksums_sha256": ["xyz"]}),
            json!({"parts": [1]}),
            json!({"part_numbers": (1..=1001).collect::<Vec<u32>>()}),
        ] {
            assert!(PartsRequest::parse(Some(&bad), 3).is_err(), "{bad}");
        }
    }
}
