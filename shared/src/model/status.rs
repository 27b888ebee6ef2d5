use serde::{Deserialize, Serialize};
use std::fmt;

/// The contract's `TaskStatusEnum`: the statuses of tasks and batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    Pending,
    Queued,
    InProgress,
    Processing,
    Completed,
    CompletedWithErrors,
    Failed,
    Canceled,
    Interrupted,
    Unknown,
    Skipped,
    Draft,
    Active,
    Archived,
    Suspended,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 15] = [
        TaskStatus::Pending,
        TaskStatus::Queued,
        TaskStatus::InProgress,
        TaskStatus::Processing,
        TaskStatus::Completed,
        TaskStatus::CompletedWithErrors,
        TaskStatus::Failed,
        TaskStatus::Canceled,
        TaskStatus::Interrupted,
        TaskStatus::Unknown,
        TaskStatus::Skipped,
        TaskStatus::Draft,
        TaskStatus::Active,
        TaskStatus::Archived,
        TaskStatus::Suspended,
    ];

    /// The wire name, e.g. `IN_PROGRESS`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::Queued => "QUEUED",
            TaskStatus::InProgress => "IN_PROGRESS",
            TaskStatus::Processing => "PROCESSING",
            TaskStatus::Completed => "COMPLETED",
            TaskStatus::CompletedWithErrors => "COMPLETED_WITH_ERRORS",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Canceled => "CANCELED",
            TaskStatus::Interrupted => "INTERRUPTED",
            TaskStatus::Unknown => "UNKNOWN",
            TaskStatus::Skipped => "SKIPPED",
            TaskStatus::Draft => "DRAFT",
            TaskStatus::Active => "ACTIVE",
            TaskStatus::Archived => "ARCHIVED",
            TaskStatus::Suspended => "SUSPENDED",
        }
    }

    /// Terminal statuses never change again (contract: "Terminal Statuses").
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::CompletedWithErrors | TaskStatus::Failed | TaskStatus::Canceled
        )
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The statuses an upload takes: PENDING, then COMPLETED or FAILED, through PROCESSING when
/// it is confirmed asynchronously. They serialize as the contract's `TaskStatusEnum` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UploadStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl UploadStatus {
    pub const ALL: [UploadStatus; 4] = [
        UploadStatus::Pending,
        UploadStatus::Processing,
        UploadStatus::Completed,
        UploadStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UploadStatus::Pending => "PENDING",
            UploadStatus::Processing => "PROCESSING",
            UploadStatus::Completed => "COMPLETED",
            UploadStatus::Failed => "FAILED",
        }
    }
}

impl fmt::Display for UploadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_the_contract_enum() {
        let names: Vec<String> = TaskStatus::ALL
            .iter()
            .map(|s| serde_json::to_value(s).unwrap().as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "PENDING",
                "QUEUED",
                "IN_PROGRESS",
                "PROCESSING",
                "COMPLETED",
                "COMPLETED_WITH_ERRORS",
                "FAILED",
                "CANCELED",
                "INTERRUPTED",
                "UNKNOWN",
                "SKIPPED",
                "DRAFT",
                "ACTIVE",
                "ARCHIVED",
                "SUSPENDED"
            ]
        );
        for status in TaskStatus::ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    #[test]
    fn upload_statuses_are_contract_names() {
        for status in UploadStatus::ALL {
            let wire = serde_json::to_value(status).unwrap();
            assert_eq!(wire, status.as_str());
            let as_task: TaskStatus = serde_json::from_value(wire).unwrap();
            assert_eq!(as_task.as_str(), status.as_str());
        }
    }
}
