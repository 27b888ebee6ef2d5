//! Why a confirmation did not complete its upload. The messages are the ones clients read
//! (and the ones a failed upload keeps); the HTTP edge adds the status, `code` and details.

use crate::errors::{Failure, Invalid, NotFound};
use crate::ids::UploadId;
use crate::model::UploadStatus;
use crate::quota::QuotaExceeded;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// Nothing at the staging key (nor a copy at the final one): the upload stays PENDING.
    #[error("The file has not been uploaded yet: PUT it to the presigned URL, then confirm again.")]
    NotUploaded { upload_id: UploadId, s3_key: String },
    /// The stored bytes are not what the client or the upload says they are.
    #[error("The uploaded file's {} does not match: expected {}, found {}.", .0.field(), .0.expected(), .0.actual())]
    Mismatch(Mismatch),
    /// More bytes than the bucket accepts (only an upload created without a size gets here).
    #[error("The uploaded file has {actual} bytes, more than the maximum of {max} this bucket accepts.")]
    TooLarge { max: u64, actual: u64 },
    /// Confirmed after its URL expired: the upload is (now) FAILED.
    #[error("The upload expired at {expires_at} and can no longer be confirmed; create a new upload.")]
    Expired { upload_id: UploadId, expires_at: Timestamp },
    /// The upload FAILED earlier, for `message`.
    #[error("{message}")]
    Failed { upload_id: UploadId, message: String },
    #[error("The upload is {status} and cannot be confirmed now.")]
    NotPending { upload_id: UploadId, status: UploadStatus },
    /// A multipart upload whose parts are not all there yet: the upload stays PENDING.
    #[error("Not every part has been uploaded yet: missing {} (of {part_count}). PUT them (POST …/parts gives fresh URLs), then confirm again.", list(.missing))]
    PartsMissing {
        upload_id: UploadId,
        missing: Vec<u32>,
        part_count: u32,
    },
    /// S3 (or the check before it) refused the parts as they are: the upload stays PENDING,
    /// and re-uploading the parts named fixes it.
    #[error("The parts cannot complete the upload: {reason}")]
    PartsRefused { upload_id: UploadId, reason: String },
    /// A worker run used up its time with work left, saved in its task; the state machine
    /// runs it again. Never answered to a client.
    #[error("the confirmation goes on in the next run")]
    Unfinished,
    /// The tenant's quota has no room for the stored bytes: the upload is (now) FAILED.
    #[error(transparent)]
    OverQuota(QuotaExceeded),
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl ConfirmError {
    /// The machine-readable code a client branches on (the envelope's `error.code`, and a
    /// batch item's `code`).
    pub fn code(&self) -> &'static str {
        match self {
            ConfirmError::Invalid(_) => "validation_error",
            ConfirmError::NotFound(_) => "not_found",
            ConfirmError::NotUploaded { .. } => "file_not_uploaded",
            ConfirmError::Mismatch(Mismatch::Etag { .. }) => "etag_mismatch",
            ConfirmError::Mismatch(Mismatch::FileSize { .. }) => "file_size_mismatch",
            ConfirmError::Mismatch(Mismatch::FileHash { .. }) => "file_hash_mismatch",
            ConfirmError::TooLarge { .. } => "file_too_large",
            ConfirmError::Expired { .. } => "upload_expired",
            ConfirmError::Failed { .. } => "upload_failed",
            ConfirmError::NotPending { .. } => "upload_not_pending",
            ConfirmError::PartsMissing { .. } => "parts_not_uploaded",
            ConfirmError::PartsRefused { .. } => "invalid_parts",
            ConfirmError::Unfinished => "service_unavailable",
            ConfirmError::OverQuota(exceeded) => exceeded.code(),
            ConfirmError::Failure(Failure::Unavailable) => "service_unavailable",
            ConfirmError::Failure(Failure::Bug(_)) => "internal_error",
        }
    }

    /// The message a client reads: for what it cannot see, exactly what a read of it says.
    pub fn client_message(&self) -> String {
        match self {
            ConfirmError::NotFound(not_found) => not_found.message(),
            ConfirmError::Failure(Failure::Unavailable) => {
                "The service is temporarily unavailable, please retry".into()
            }
            ConfirmError::Failure(Failure::Bug(_)) => "Internal server error".into(),
            other => other.to_string(),
        }
    }
}

/// `1, 2, 5` (the first 20, then how many more).
fn list(numbers: &[u32]) -> String {
    let mut shown: Vec<String> = numbers.iter().take(20).map(u32::to_string).collect();
    if numbers.len() > 20 {
        shown.push(format!("and {} more", numbers.len() - 20));
    }
    shown.join(", ")
}

/// What did not match, expected and actual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    Etag { expected: String, actual: String },
    FileSize { expected: u64, actual: u64 },
    FileHash { expected: String, actual: String },
}

impl Mismatch {
    pub fn field(&self) -> &'static str {
        match self {
            Mismatch::Etag { .. } => "etag",
            Mismatch::FileSize { .. } => "file_size_bytes",
            Mismatch::FileHash { .. } => "file_hash",
        }
    }

    /// The expected value as JSON (strings quoted, sizes as numbers).
    pub fn expected(&self) -> serde_json::Value {
        match self {
            Mismatch::Etag { expected, .. } | Mismatch::FileHash { expected, .. } => expected.as_str().into(),
            Mismatch::FileSize { expected, .. } => (*expected).into(),
        }
    }

    pub fn actual(&self) -> serde_json::Value {
        match self {
            Mismatch::Etag { actual, .. } | Mismatch::FileHash { actual, .. } => actual.as_str().into(),
            Mismatch::FileSize { actual, .. } => (*actual).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_differs() {
        let size = ConfirmError::Mismatch(Mismatch::FileSize {
            expected: 13,
            actual: 12,
        });
        assert_eq!(
            size.to_string(),
            "The uploaded file's file_size_bytes does not match: expected 13, found 12."
        );
        let etag = ConfirmError::Mismatch(Mismatch::Etag {
            expected: "0123".into(),
            actual: "abcd".into(),
        });
        assert_eq!(
            etag.to_string(),
            "The uploaded file's etag does not match: expected \"0123\", found \"abcd\"."
        );
    }
}
