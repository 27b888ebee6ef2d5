//! The events published on EventBridge (`docs/events.md`): what each one says, and which
//! change of the table makes it. They are derived from the table's stream records alone
//! (`stream`), so a transition and its event cannot disagree and no event is lost between
//! a write and its publication: the stored record is the outbox. `publish` hands them to
//! the event bus in stream order.

mod publish;
mod stream;

pub use publish::{Retry, publish};
pub use stream::{UnreadableRecord, event_of, removed_by_ttl};

use crate::event_bus::Entry;
use crate::ids::{BatchId, BucketId, NamespaceId, ObjectId, TaskId, TenantId, UploadId};
use crate::model::{Upload, UploadStatus};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The version of [`UploadEvent`]'s fields. Within a version fields are only added; a
/// change that would break a subscriber gets a new version, announced first.
pub const UPLOAD_EVENT_SCHEMA_VERSION: u32 = 1;

/// The `detail-type` of a new submitted batch's event.
pub const BATCH_SUBMITTED: &str = "Batch Submitted";

/// What happened to an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadEventKind {
    /// Its confirmation stored it, or it was created COMPLETED as the duplicate of stored
    /// bytes (status COMPLETED).
    Completed,
    /// Its confirmation failed it (status FAILED; `message` says why).
    Failed,
    /// The delete endpoint removed it.
    Deleted,
    /// Its record expired (TTL) while it was still PENDING or PROCESSING.
    Expired,
}

impl UploadEventKind {
    pub const ALL: [UploadEventKind; 4] = [
        UploadEventKind::Completed,
        UploadEventKind::Failed,
        UploadEventKind::Deleted,
        UploadEventKind::Expired,
    ];

    /// The event's `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            UploadEventKind::Completed => "Upload Completed",
            UploadEventKind::Failed => "Upload Failed",
            UploadEventKind::Deleted => "Upload Deleted",
            UploadEventKind::Expired => "Upload Expired",
        }
    }
}

/// The `detail` of every upload event, schema version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadEvent {
    pub schema_version: u32,
    /// The stream record's id: the same on every delivery of one transition, so subscribers
    /// can drop the duplicates an at-least-once delivery may bring.
    pub event_id: String,
    /// When the change was written (the stream record's creation time).
    pub occurred_at: Timestamp,
    pub upload_id: UploadId,
    pub bucket_id: BucketId,
    pub namespace_id: NamespaceId,
    pub tenant_id: Option<TenantId>,
    /// The status after the transition; for a deleted or expired upload, the status it had.
    pub status: UploadStatus,
    pub filename: String,
    pub content_type: String,
    pub s3_key: String,
    pub file_size_bytes: Option<u64>,
    /// SHA-256 hex of the stored bytes: null until the upload completed (a hash declared at
    /// creation is a claim, not a fact, until then).
    pub file_hash: Option<String>,
    pub etag: Option<String>,
    pub object_id: Option<ObjectId>,
    pub is_duplicate: bool,
    pub duplicate_of_upload_id: Option<UploadId>,
    pub task_id: Option<TaskId>,
    pub message: Option<String>,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// The `detail` of "Batch Submitted": the fields the EventBridge Pipe that published it
/// before sent, unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSubmitted {
    pub batch_id: BatchId,
    pub bucket_id: BucketId,
    pub namespace_id: NamespaceId,
    pub task_id: Option<TaskId>,
}

/// One event to publish.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Upload {
        kind: UploadEventKind,
        detail: Box<UploadEvent>,
    },
    BatchSubmitted {
        occurred_at: Timestamp,
        detail: BatchSubmitted,
    },
}

impl Event {
    pub fn detail_type(&self) -> &'static str {
        match self {
            Event::Upload { kind, .. } => kind.detail_type(),
            Event::BatchSubmitted { .. } => BATCH_SUBMITTED,
        }
    }

    pub fn occurred_at(&self) -> Timestamp {
        match self {
            Event::Upload { detail, .. } => detail.occurred_at,
            Event::BatchSubmitted { occurred_at, .. } => *occurred_at,
        }
    }

    /// The entry handed to the bus.
    pub fn entry(&self) -> Result<Entry, serde_json::Error> {
        let detail = match self {
            Event::Upload { detail, .. } => serde_json::to_string(detail)?,
            Event::BatchSubmitted { detail, .. } => serde_json::to_string(detail)?,
        };
        Ok(Entry {
            detail_type: self.detail_type(),
            detail,
            time: self.occurred_at(),
        })
    }
}

impl UploadEvent {
    /// The detail of `kind` for `upload` as a stream record with id `event_id`, written at
    /// `occurred_at`, shows it. `None` when the upload's key names no namespace.
    pub fn new(upload: &Upload, event_id: &str, occurred_at: Timestamp) -> Option<Self> {
        Some(Self {
            schema_version: UPLOAD_EVENT_SCHEMA_VERSION,
            event_id: event_id.to_owned(),
            occurred_at,
            upload_id: upload.upload_id.clone(),
            bucket_id: upload.bucket_id.clone(),
            namespace_id: namespace_of(upload)?,
            tenant_id: upload.tenant_id.clone(),
            status: upload.status,
            filename: upload.filename.clone(),
            content_type: upload.content_type.clone(),
            s3_key: upload.s3_key.clone(),
            file_size_bytes: upload.file_size_bytes,
            file_hash: upload
                .file_hash
                .clone()
                .filter(|_| upload.status == UploadStatus::Completed),
            etag: upload.etag.clone(),
            object_id: upload.object_id.clone(),
            is_duplicate: upload.is_duplicate,
            duplicate_of_upload_id: upload.duplicate_of_upload_id.clone(),
            task_id: upload.task_id.clone(),
            message: upload.message.clone(),
            created_at: upload.created_at,
            completed_at: upload.completed_at,
        })
    }
}

/// The namespace an upload belongs to. Its record does not say; its keys do:
/// `{namespace_id}/{bucket_id}/{upload_id}/{filename}`, staged under `incoming/` (see
/// `NewUpload::into_pending`). A duplicate's key is its original's, in the same bucket.
/// Reading the bucket instead would cost a read per event, and the bucket may be gone by
/// the time its upload's deletion is published.
fn namespace_of(upload: &Upload) -> Option<NamespaceId> {
    upload.final_key().split('/').next().and_then(NamespaceId::parse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BucketId, NamespaceId, UploadId};
    use crate::model::Bucket;
    use crate::uploads::NewUpload;

    pub(super) fn pending_upload() -> Upload {
        let bucket = Bucket {
            bucket_id: BucketId::generate(),
            namespace_id: NamespaceId::generate(),
            name: "photos".into(),
            max_file_size_bytes: Bucket::DEFAULT_MAX_FILE_SIZE_BYTES,
            created_at: Timestamp::now(),
        };
        let body = serde_json::json!({"filename": "a.txt", "content_type": "text/plain", "file_size_bytes": 3});
        NewUpload::parse(Some(&body), 10).expect("a valid upload").into_pending(
            UploadId::generate(),
            &bucket,
            Timestamp::now(),
        )
    }

    #[test]
    fn the_namespace_is_read_from_the_staging_and_the_final_key() {
        let upload = pending_upload();
        let namespace = upload.s3_key.split('/').nth(1).unwrap().to_owned();
        assert_eq!(namespace_of(&upload).unwrap().as_str(), namespace);
        let completed = Upload {
            s3_key: upload.final_key().to_owned(),
            ..upload.clone()
        };
        assert_eq!(namespace_of(&completed).unwrap().as_str(), namespace);
        let elsewhere = Upload {
            s3_key: "somewhere/else".into(),
            ..upload
        };
        assert_eq!(namespace_of(&elsewhere), None);
    }

    #[test]
    fn the_hash_is_published_once_the_bytes_are_verified() {
        let declared = Upload {
            file_hash: Some("ab".repeat(32)),
            ..pending_upload()
        };
        let now = Timestamp::now();
        assert_eq!(UploadEvent::new(&declared, "e1", now).unwrap().file_hash, None);
        let completed = Upload {
            status: UploadStatus::Completed,
            ..declared
        };
        let event = UploadEvent::new(&completed, "e1", now).unwrap();
        assert_eq!(event.file_hash, Some("ab".repeat(32)));
        assert_eq!(event.schema_version, 1);
    }

    /// The documented fields, each present (null when unknown), and no others.
    #[test]
    fn the_detail_has_the_documented_fields() {
        let event = UploadEvent::new(&pending_upload(), "e1", Timestamp::now()).unwrap();
        let value = serde_json::to_value(&event).unwrap();
        let mut fields: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        let mut documented = vec![
            "schema_version",
            "event_id",
            "occurred_at",
            "upload_id",
            "bucket_id",
            "namespace_id",
            "tenant_id",
            "status",
            "filename",
            "content_type",
            "s3_key",
            "file_size_bytes",
            "file_hash",
            "etag",
            "object_id",
            "is_duplicate",
            "duplicate_of_upload_id",
            "task_id",
            "message",
            "created_at",
            "completed_at",
        ];
        documented.sort_unstable();
        assert_eq!(fields, documented);
    }
}
