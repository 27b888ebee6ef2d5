use super::{BlobType, JsonMap};
use crate::ids::{BucketId, ObjectId, UploadId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A bucket object, created when an upload is confirmed with `create_object_on_confirm`.
/// It holds one blob: the uploaded bytes, by S3 key and content hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketObject {
    pub object_id: ObjectId,
    pub bucket_id: BucketId,
    pub upload_id: UploadId,
    pub blob_property: String,
    pub blob_type: BlobType,
    pub s3_key: String,
    pub content_type: String,
    pub file_size_bytes: u64,
    /// SHA-256 hex of the blob's bytes.
    pub content_hash: String,
    #[serde(default)]
    pub metadata: JsonMap,
    pub created_at: Timestamp,
}

/// Marks the first completed upload of a bucket with a given SHA-256: later uploads with the
/// same bytes are its duplicates. Written in the completing transaction, never changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HashMarker {
    pub bucket_id: BucketId,
    pub file_hash: String,
    pub upload_id: UploadId,
    #[serde(default)]
    pub object_id: Option<ObjectId>,
}
