use super::TaskStatus;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// An upload, serialized exactly as the contract's `UploadResponse` (field order included).
/// The same struct is stored in DynamoDB, with the key attributes added by the store and
/// null attributes left out; `presigned_url` is never stored, only filled in responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upload {
    pub upload_id: String,
    pub bucket_id: String,
    pub filename: String,
    pub content_type: String,
    pub presigned_url_expiration: u32,
    pub s3_key: String,
    pub status: TaskStatus,
    pub create_object_on_confirm: bool,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub file_size_bytes: u64,
    #[serde(default)]
    pub presigned_url: Option<String>,
    #[serde(default)]
    pub metadata: JsonMap,
    #[serde(default)]
    pub object_metadata: JsonMap,
    pub blob_property: String,
    pub blob_type: String,
    /// SHA-256 hex. At creation, the hash the client declared (and S3 will enforce);
    /// after confirmation, the hash of the stored bytes.
    #[serde(default)]
    pub file_hash: Option<String>,
    pub skip_duplicates: bool,
    #[serde(default)]
    pub is_duplicate: bool,
    #[serde(default)]
    pub duplicate_of_upload_id: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    #[serde(default)]
    pub verified_at: Option<Timestamp>,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub object_id: Option<String>,
    #[serde(default)]
    pub task_id: Option<String>,
}
