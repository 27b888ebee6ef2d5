use super::TaskStatus;
use crate::ids::{BatchId, BucketId, NamespaceId, ObjectId, TaskId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A batch of bucket objects handed to downstream processing. `auto_submit_batch` creates one
/// per confirmed upload, already submitted (QUEUED, with its own task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub batch_id: BatchId,
    pub bucket_id: BucketId,
    pub namespace_id: NamespaceId,
    pub status: TaskStatus,
    pub object_ids: Vec<ObjectId>,
    #[serde(default)]
    pub task_id: Option<TaskId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub submitted_at: Option<Timestamp>,
}

/// The batch as `GET /v1/buckets/{bucket_identifier}/batches/{batch_id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchView<'a> {
    pub batch_id: &'a BatchId,
    pub bucket_id: &'a BucketId,
    pub status: TaskStatus,
    pub object_ids: &'a [ObjectId],
    pub task_id: Option<&'a TaskId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub submitted_at: Option<Timestamp>,
}

impl Batch {
    pub fn view(&self) -> BatchView<'_> {
        BatchView {
            batch_id: &self.batch_id,
            bucket_id: &self.bucket_id,
            status: self.status,
            object_ids: &self.object_ids,
            task_id: self.task_id.as_ref(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            submitted_at: self.submitted_at,
        }
    }
}
