use super::TaskStatus;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const BATCH_TASK_TYPE: &str = "api_buckets_batches_process";

/// A batch of bucket objects handed to downstream processing. `auto_submit_batch` creates one
/// per confirmed upload, already submitted (QUEUED, with its own task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub batch_id: String,
    pub bucket_id: String,
    pub namespace_id: String,
    pub status: TaskStatus,
    pub object_ids: Vec<String>,
    #[serde(default)]
    pub task_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub submitted_at: Option<Timestamp>,
}

impl Batch {
    /// The batch as `GET /v1/buckets/{bucket_identifier}/batches/{batch_id}` shows it.
    pub fn view(&self) -> Value {
        json!({
            "batch_id": self.batch_id,
            "bucket_id": self.bucket_id,
            "status": self.status,
            "object_ids": self.object_ids,
            "task_id": self.task_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "submitted_at": self.submitted_at,
        })
    }
}
