use super::TaskStatus;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

    /// The task as `GET /v1/tasks/{task_id}` shows it: Mixpeek's `TaskResponse`.
    pub fn view(&self) -> TaskView<'_> {
        TaskView {
            task_id: &self.task_id,
            task_type: &self.task_type,
            status: self.status,
            inputs: as_list(&self.inputs),
            outputs: self.outputs.as_ref().map(as_list),
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
    pub task_id: &'a str,
    pub task_type: &'a str,
    pub status: TaskStatus,
    pub inputs: Vec<&'a Value>,
    pub outputs: Option<Vec<&'a Value>>,
    pub error: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A stored list as it is; any other value as a list of one.
fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}
