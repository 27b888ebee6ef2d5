//! Verifying an uploaded object against its upload and the client's claims.

use super::request::ConfirmRequest;
use crate::error::ApiError;
use crate::model::Upload;
use crate::objects::{ObjectInfo, ObjectStore, unquote};
use crate::time::Timestamp;
use serde_json::json;

/// The facts about the stored bytes that a confirmation records.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub etag: String,
    pub file_size_bytes: u64,
    /// The SHA-256 of the stored bytes, never an ETag.
    pub file_hash: String,
    pub verified_at: Timestamp,
}

pub(super) fn not_uploaded(upload: &Upload) -> ApiError {
    ApiError::BadRequest {
        message: "The file has not been uploaded yet: PUT it to the presigned URL, then confirm again.".into(),
        code: Some("file_not_uploaded"),
        details: Some(json!({ "upload_id": upload.upload_id, "s3_key": upload.s3_key })),
    }
}

fn mismatch(code: &'static str, what: &str, expected: serde_json::Value, actual: serde_json::Value) -> ApiError {
    ApiError::BadRequest {
        message: format!("The uploaded file's {what} does not match: expected {expected}, found {actual}."),
        code: Some(code),
        details: Some(json!({ "field": what, "expected": expected, "actual": actual })),
    }
}

/// ETags compare without their quotes and case-insensitively; a multipart ETag (`…-N`)
/// compares as the string it is.
pub fn etags_match(a: &str, b: &str) -> bool {
    unquote(a).eq_ignore_ascii_case(unquote(b))
}

/// Checks the object exists and matches the upload's recorded size and the client's etag
/// and size, then establishes its SHA-256: from the checksum S3 verified when the upload
/// signed one, otherwise by streaming the object.
pub async fn verify(objects: &ObjectStore, upload: &Upload, request: &ConfirmRequest) -> Result<Verified, ApiError> {
    let info = objects
        .head(&upload.s3_key)
        .await?
        .ok_or_else(|| not_uploaded(upload))?;
    verify_info(objects, upload, request, info).await
}

/// `verify`, given what HeadObject already told about the object.
pub async fn verify_info(
    objects: &ObjectStore,
    upload: &Upload,
    request: &ConfirmRequest,
    info: ObjectInfo,
) -> Result<Verified, ApiError> {
    if let Some(etag) = &request.etag
        && !etags_match(etag, &info.etag)
    {
        return Err(mismatch(
            "etag_mismatch",
            "etag",
            json!(unquote(etag)),
            json!(info.etag),
        ));
    }
    if let Some(size) = request.file_size_bytes
        && size != info.size
    {
        return Err(mismatch(
            "file_size_mismatch",
            "file_size_bytes",
            json!(size),
            json!(info.size),
        ));
    }
    if info.size != upload.file_size_bytes {
        return Err(mismatch(
            "file_size_mismatch",
            "file_size_bytes",
            json!(upload.file_size_bytes),
            json!(info.size),
        ));
    }
    let file_hash = match info.sha256_hex {
        Some(hash) => hash,
        None => objects
            .sha256_hex(&upload.s3_key)
            .await?
            .ok_or_else(|| not_uploaded(upload))?,
    };
    // S3 enforced the declared hash on the PUT; this catches bytes written another way.
    if let Some(declared) = &upload.file_hash
        && *declared != file_hash
    {
        return Err(mismatch(
            "file_hash_mismatch",
            "file_hash",
            json!(declared),
            json!(file_hash),
        ));
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
