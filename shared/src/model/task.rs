use super::TaskStatus;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const CONFIRM_TASK_TYPE: &str = "api_buckets_uploads_confirm";

/// An asynchronous operation. Terminal statuses never change again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub task_id: String,
    pub task_type: String,
    pub status: TaskStatus,
    /// The namespace whose callers may read the task.
    pub namespace_id: String,
    pub inputs: Value,
    #[serde(default)]
    pub outputs: Option<Value>,
    #[serde(default)]
    pub error_message: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Task {
    /// A new task, not started yet.
    pub fn pending(task_id: String, task_type: &str, namespace_id: &str, inputs: Value, now: Timestamp) -> Self {
        Self {
            task_id,
            task_type: task_type.to_owned(),
            status: TaskStatus::Pending,
            namespace_id: namespace_id.to_owned(),
            inputs,
            outputs: None,
            error_message: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The task as `GET /v1/tasks/{task_id}` shows it.
    pub fn view(&self) -> Value {
        json!({
            "task_id": self.task_id,
            "task_type": self.task_type,
            "status": self.status,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "error_message": self.error_message,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}
