use super::{BlobType, Multipart, UploadStatus};
use crate::ids::BucketId;
use crate::ids::{ObjectId, TaskId, TenantId, UploadId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// Where upload URLs write: the bytes of an upload not confirmed yet live under this prefix,
/// which the bucket's lifecycle rule expires (`template.yaml`). Confirmation copies them to
/// the final key (the same key without the prefix), which no upload URL can write.
pub const STAGING_PREFIX: &str = "incoming/";

/// An upload, serialized exactly as the contract's `UploadResponse` (field order included).
/// The same struct is stored in DynamoDB, with the key attributes added by the store and
/// null attributes left out; `presigned_url` is never stored, only filled in responses.
/// `s3_key` is the staging key until the upload completes, then the final key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub upload_id: UploadId,
    pub bucket_id: BucketId,
    pub filename: String,
    pub content_type: String,
    pub presigned_url_expiration: u32,
    pub s3_key: String,
    pub status: UploadStatus,
    pub create_object_on_confirm: bool,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// As declared at creation (optional), then the stored object's size once confirmed.
    #[serde(default)]
    pub file_size_bytes: Option<u64>,
    #[serde(default)]
    pub presigned_url: Option<String>,
    #[serde(default)]
    pub metadata: JsonMap,
    #[serde(default)]
    pub object_metadata: JsonMap,
    pub blob_property: String,
    pub blob_type: BlobType,
    /// SHA-256 hex. At creation, the hash the client declared (verified at confirmation);
    /// after confirmation, the hash of the stored bytes.
    #[serde(default)]
    pub file_hash: Option<String>,
    pub skip_duplicates: bool,
    #[serde(default)]
    pub is_duplicate: bool,
    #[serde(default)]
    pub duplicate_of_upload_id: Option<UploadId>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    #[serde(default)]
    pub verified_at: Option<Timestamp>,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub object_id: Option<ObjectId>,
    #[serde(default)]
    pub task_id: Option<TaskId>,
    /// The tenant whose quota the upload counts against (`quota`). Stored with the upload
    /// (the store writes it), never part of a response. Uploads created before quotas have
    /// none and count against nothing.
    #[serde(default, skip_serializing)]
    pub tenant_id: Option<TenantId>,
    /// Our extension: the upload's S3 multipart upload, when created with `multipart`
    /// (absent otherwise, so Mixpeek's clients never see it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multipart: Option<Multipart>,
    /// Our extension: whether S3's ObjectCreated event for the staged bytes confirms the
    /// upload (`confirm::auto`). Shown (and stored) only when created with
    /// `"auto_confirm": false`, so Mixpeek's clients never see it.
    #[serde(default = "auto_confirm_default", skip_serializing_if = "is_auto_confirmed")]
    pub auto_confirm: bool,
}

fn auto_confirm_default() -> bool {
    true
}

fn is_auto_confirmed(auto_confirm: &bool) -> bool {
    *auto_confirm
}

/// One status change of one upload. The store applies it as one conditional write (the
/// upload must still be in `before`'s status), moving it in the bucket's counters, so a
/// transition happens exactly once however many requests race.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub before: Upload,
    pub after: Upload,
}

impl Upload {
    /// A PENDING upload's URL cannot outlive the credentials that sign it: its `expires_at`
    /// comes no later than their `deadline`.
    pub fn expire_by(&mut self, deadline: Option<Timestamp>) {
        if let Some(deadline) = deadline.filter(|d| self.status == UploadStatus::Pending && *d < self.expires_at) {
            self.expires_at = deadline;
        }
    }

    /// Whether the URL expires before the `presigned_url_expiration` asked for (its signing
    /// credentials expire first).
    pub fn url_cut_short(&self) -> bool {
        self.expires_at < self.created_at.plus_seconds(self.presigned_url_expiration.into())
    }

    /// The key the bytes are kept under once confirmed: `{namespace_id}/{bucket_id}/{upload_id}/{filename}`.
    pub fn final_key(&self) -> &str {
        self.s3_key.strip_prefix(STAGING_PREFIX).unwrap_or(&self.s3_key)
    }

    /// The key the upload URL writes: the final key under `STAGING_PREFIX`.
    pub fn staging_key(&self) -> String {
        format!("{STAGING_PREFIX}{}", self.final_key())
    }

    /// The size the bucket's counters hold for this upload (unknown sizes count as 0).
    pub fn counted_bytes(&self) -> u64 {
        self.file_size_bytes.unwrap_or(0)
    }

    /// PENDING → PROCESSING: confirmed in the background by `task_id`.
    pub fn start_processing(&self, task_id: TaskId) -> Transition {
        self.becomes(Upload {
            status: UploadStatus::Processing,
            task_id: Some(task_id),
            message: Some("Upload confirmation is being processed in the background.".into()),
            ..self.clone()
        })
    }

    /// → FAILED, saying why.
    pub fn fail(&self, message: String) -> Transition {
        self.becomes(Upload {
            status: UploadStatus::Failed,
            message: Some(message),
            ..self.clone()
        })
    }

    pub(super) fn becomes(&self, after: Upload) -> Transition {
        Transition {
            before: self.clone(),
            after,
        }
    }
}
