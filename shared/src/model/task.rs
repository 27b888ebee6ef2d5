use super::TaskStatus;
use crate::ids::{BatchId, BucketId, NamespaceId, ObjectId, TaskId, UploadId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

pub const CONFIRM_TASK_TYPE: &str = "api_buckets_uploads_confirm";
pub const BATCH_CONFIRM_TASK_TYPE: &str = "api_buckets_uploads_batch_confirm";
pub const BATCH_TASK_TYPE: &str = "api_buckets_batches_process";

/// An asynchronous operation. Terminal statuses never change again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub task_id: TaskId,
    pub status: TaskStatus,
    /// The namespace whose callers may read the task.
    pub namespace_id: NamespaceId,
    /// `task_type` with its inputs and outputs.
    #[serde(flatten)]
    pub kind: TaskKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Where a confirmation of an object too large for one worker run stands between runs
    /// (stored, never shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ConfirmProgress>,
}

/// Where a long confirmation left off: the multipart copy to the final key under way, and
/// the SHA-256 of the final object's first bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmProgress {
    /// S3's id of the multipart copy to the final key (objects above one CopyObject).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_upload_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<HashProgress>,
    /// The runs that ended with work left.
    #[serde(default)]
    pub runs: u32,
}

/// How far a hash of an object got: its first `offset` bytes, and the hasher's state then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashProgress {
    pub offset: u64,
    /// The hasher's saved state, base64.
    pub state: String,
}

/// What a task does, with what, and (once done) what came of it; `task_type` on the wire
/// (the SDK's `TaskType` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task_type")]
pub enum TaskKind {
    #[serde(rename = "api_buckets_uploads_confirm")]
    Confirm {
        inputs: ConfirmInputs,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outputs: Option<Box<ConfirmOutputs>>,
    },
    /// Confirms many uploads of one bucket; `outputs` holds one result per confirmation,
    /// in request order, as items are done.
    #[serde(rename = "api_buckets_uploads_batch_confirm")]
    ConfirmBatch {
        inputs: BatchConfirmInputs,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        outputs: Vec<ItemResult>,
    },
    #[serde(rename = "api_buckets_batches_process")]
    ProcessBatch { inputs: BatchInputs },
}

/// What a batch confirmation was asked: confirmations of uploads of one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchConfirmInputs {
    pub bucket_id: BucketId,
    pub confirmations: Vec<ConfirmItem>,
}

/// One confirmation of a batch, as the client gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmItem {
    pub upload_id: UploadId,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub file_size_bytes: Option<u64>,
}

/// What one confirmation of a batch came to: the upload COMPLETED (with its object), or an
/// error's `code` and message (the upload then stays as the error left it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    pub upload_id: UploadId,
    pub status: TaskStatus,
    #[serde(default)]
    pub object_id: Option<ObjectId>,
    #[serde(default)]
    pub file_hash: Option<String>,
    #[serde(default)]
    pub is_duplicate: bool,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// What an asynchronous confirmation was asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmInputs {
    pub upload_id: UploadId,
    pub bucket_id: BucketId,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub file_size_bytes: Option<u64>,
    #[serde(default)]
    pub auto_submit_batch: bool,
}

/// What an asynchronous confirmation recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmOutputs {
    pub batch_id: Option<BatchId>,
    pub batch_task_id: Option<TaskId>,
    pub upload_id: UploadId,
    pub object_id: Option<ObjectId>,
    pub file_hash: Option<String>,
    pub etag: Option<String>,
    pub file_size_bytes: Option<u64>,
    pub is_duplicate: bool,
    pub duplicate_of_upload_id: Option<UploadId>,
    pub verified_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
}

/// What a submitted batch holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchInputs {
    pub batch_id: BatchId,
    pub bucket_id: BucketId,
    pub object_ids: Vec<ObjectId>,
}

impl Task {
    /// A new task, not started yet.
    pub fn pending(task_id: TaskId, namespace_id: NamespaceId, kind: TaskKind, now: Timestamp) -> Self {
        Self {
            task_id,
            status: TaskStatus::Pending,
            namespace_id,
            kind,
            error_message: None,
            created_at: now,
            updated_at: now,
            progress: None,
        }
    }

    /// The task with `progress` saved, one more run counted.
    pub fn with_progress(&self, progress: ConfirmProgress, now: Timestamp) -> Task {
        let runs = self.progress.as_ref().map_or(0, |p| p.runs) + 1;
        Task {
            progress: Some(ConfirmProgress { runs, ..progress }),
            updated_at: now,
            ..self.clone()
        }
    }

    /// The task FAILED, saying why.
    pub fn fail(&self, message: &str, now: Timestamp) -> Task {
        Task {
            status: TaskStatus::Failed,
            error_message: Some(message.to_owned()),
            updated_at: now,
            ..self.clone()
        }
    }

    /// The task as `GET /v1/tasks/{task_id}` shows it.
    pub fn view(&self) -> TaskView<'_> {
        let (task_type, inputs, outputs) = match &self.kind {
            TaskKind::Confirm { inputs, outputs } => (
                CONFIRM_TASK_TYPE,
                vec![TaskData::ConfirmInputs(inputs)],
                outputs.as_deref().map(|o| vec![TaskData::ConfirmOutputs(o)]),
            ),
            TaskKind::ConfirmBatch { inputs, outputs } => (
                BATCH_CONFIRM_TASK_TYPE,
                inputs.confirmations.iter().map(TaskData::ConfirmItem).collect(),
                (!outputs.is_empty()).then(|| outputs.iter().map(TaskData::ItemResult).collect()),
            ),
            TaskKind::ProcessBatch { inputs } => (BATCH_TASK_TYPE, vec![TaskData::BatchInputs(inputs)], None),
        };
        TaskView {
            task_id: &self.task_id,
            task_type,
            status: self.status,
            inputs,
            outputs,
            error: self.error_message.as_deref(),
            error_message: self.error_message.as_deref(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Mixpeek's `TaskResponse`: `inputs` and `outputs` are lists (of ids or objects), and the
/// failure text is `error`. `error_message`, `created_at` and `updated_at` are ours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskView<'a> {
    pub task_id: &'a TaskId,
    pub task_type: &'static str,
    pub status: TaskStatus,
    pub inputs: Vec<TaskData<'a>>,
    pub outputs: Option<Vec<TaskData<'a>>>,
    pub error: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One entry of a task's `inputs` or `outputs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TaskData<'a> {
    ConfirmInputs(&'a ConfirmInputs),
    ConfirmOutputs(&'a ConfirmOutputs),
    BatchInputs(&'a BatchInputs),
    ConfirmItem(&'a ConfirmItem),
    ItemResult(&'a ItemResult),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirm_task() -> Task {
        let inputs = ConfirmInputs {
            upload_id: UploadId::generate(),
            bucket_id: BucketId::generate(),
            etag: Some("abc".into()),
            file_size_bytes: None,
            auto_submit_batch: true,
        };
        Task::pending(
            TaskId::generate(),
            NamespaceId::generate(),
            TaskKind::Confirm { inputs, outputs: None },
            Timestamp::now(),
        )
    }

    #[test]
    fn a_task_stores_its_type_beside_its_inputs_and_reads_back() {
        let task = confirm_task();
        let json = serde_json::to_value(&task).unwrap();
        assert_eq!(json["task_type"], CONFIRM_TASK_TYPE);
        assert_eq!(json["inputs"]["etag"], "abc");
        assert!(json.get("outputs").is_none());
        let item: serde_dynamo::Item = serde_dynamo::to_item(&task).unwrap();
        let back: Task = serde_dynamo::from_item(item).unwrap();
        assert_eq!(back, task);
    }

    #[test]
    fn the_view_is_the_sdks_task_response() {
        let task = confirm_task().fail("size differs", Timestamp::now());
        let view = serde_json::to_value(task.view()).unwrap();
        assert_eq!(view["task_type"], CONFIRM_TASK_TYPE);
        assert_eq!(view["status"], "FAILED");
        assert!(view["inputs"].is_array() && view["inputs"][0]["upload_id"].is_string());
        assert_eq!(view["outputs"], serde_json::Value::Null);
        assert_eq!(view["error"], "size differs");
        assert_eq!(view["error_message"], "size differs");
    }

    #[test]
    fn a_task_of_an_unknown_type_does_not_parse() {
        let mut json = serde_json::to_value(confirm_task()).unwrap();
        json["task_type"] = "api_something_else".into();
        assert!(serde_json::from_value::<Task>(json).is_err());
    }
}
