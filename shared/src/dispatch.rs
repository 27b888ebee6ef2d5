//! Starting the asynchronous confirmation worker: a Step Functions execution of the
//! confirmation state machine in `template.yaml`, named after the task (so starting it twice
//! starts it once), which runs the worker, retries, loops and catches. The local stack runs
//! the same definition (`tools/sfn-local`), so there is one definition of Retry and Catch.

use crate::aws::{LazyClient, sdk_failure};
use crate::calls::CallCounter;
use crate::errors::Failure;
use crate::ids::TaskId;
use crate::model::{Task, TaskKind};
use aws_types::SdkConfig;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// What the state machine hands the worker: confirm a task's upload, or (its Catch) fail
/// the task with the error it caught (`ResultPath: $.error`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum WorkerEvent {
    Confirm {
        task_id: TaskId,
    },
    /// Confirm the items of a batch confirmation; a run that runs out of time saves what it
    /// did and answers the same event with `"more": true`, and the state machine runs it again.
    ConfirmBatch {
        task_id: TaskId,
    },
    Fail {
        task_id: TaskId,
        #[serde(default)]
        error: Option<Caught>,
    },
}

/// An error the state machine caught: its type, and its cause (for a function error, the
/// JSON `{"errorType", "errorMessage"}` the worker answered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Caught {
    #[serde(rename = "Error", default)]
    pub error: Option<String>,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

impl WorkerEvent {
    /// Reads an event; what does not parse is described, to fail the invocation finally.
    pub fn parse(payload: Value) -> Result<Self, String> {
        serde_json::from_value(payload).map_err(|err| format!("malformed worker event: {err}"))
    }

    pub fn task_id(&self) -> &TaskId {
        match self {
            WorkerEvent::Confirm { task_id }
            | WorkerEvent::ConfirmBatch { task_id }
            | WorkerEvent::Fail { task_id, .. } => task_id,
        }
    }

    /// The event that runs `task`, when a worker runs tasks of its kind.
    pub fn start(task: &Task) -> Option<Self> {
        let task_id = task.task_id.clone();
        match task.kind {
            TaskKind::Confirm { .. } => Some(WorkerEvent::Confirm { task_id }),
            TaskKind::ConfirmBatch { .. } => Some(WorkerEvent::ConfirmBatch { task_id }),
            TaskKind::ProcessBatch { .. } => None,
        }
    }

    /// What the worker answers when it did part of the work: this event again, marked for
    /// the state machine's loop.
    pub fn more(&self) -> Value {
        let mut value = self.to_value();
        if let Some(object) = value.as_object_mut() {
            object.insert("more".to_owned(), Value::Bool(true));
        }
        value
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Caught {
    /// The worker's `errorMessage` inside `Cause` when it is there, otherwise whatever was given.
    pub fn message(&self) -> String {
        let cause = self.cause.as_deref();
        let from_cause = cause
            .and_then(|c| serde_json::from_str::<Value>(c).ok())
            .and_then(|c| c["errorMessage"].as_str().map(str::to_owned));
        from_cause
            .or_else(|| cause.map(str::to_owned))
            .or_else(|| self.error.clone())
            .unwrap_or_else(|| "unknown error".to_owned())
    }
}

/// Starts the worker for tasks, or answers that nothing can (asynchronous confirmation then
/// answers 503). Only the functions that start tasks build one with [`Dispatcher::new`]: the
/// Step Functions client behind it is linked into those binaries alone (issue 13: binary
/// size), so the starter sits behind a trait object.
#[derive(Clone, Debug, Default)]
pub struct Dispatcher {
    starter: Option<Arc<dyn StartWorker>>,
}

/// What runs the worker for a task.
trait StartWorker: std::fmt::Debug + Send + Sync {
    fn start<'a>(&'a self, task: &'a Task, event: WorkerEvent) -> BoxFuture<'a, Result<(), Failure>>;
}

/// In AWS: a Step Functions execution named after the task.
#[derive(Debug)]
struct StepFunctions {
    client: LazyClient<aws_sdk_sfn::Client>,
    state_machine_arn: String,
}

impl Dispatcher {
    /// Step Functions when `UPLOADS_STATE_MACHINE_ARN` is set.
    pub fn new(sdk: &SdkConfig, state_machine_arn: Option<String>) -> Self {
        // Step Functions calls are not counted: the counts are of DynamoDB and S3.
        let uncounted = CallCounter::default();
        let starter: Option<Arc<dyn StartWorker>> = state_machine_arn.map(|state_machine_arn| {
            Arc::new(StepFunctions {
                client: LazyClient::new(sdk, &uncounted),
                state_machine_arn,
            }) as Arc<dyn StartWorker>
        });
        Self { starter }
    }

    /// Nothing can run the worker.
    pub fn unconfigured() -> Self {
        Self::default()
    }

    pub async fn start(&self, task: &Task) -> Result<(), Failure> {
        let event = WorkerEvent::start(task).ok_or_else(|| Failure::bug("no worker runs this task"))?;
        match &self.starter {
            Some(starter) => starter.start(task, event).await,
            None => {
                tracing::error!("asynchronous confirmation requested, but no dispatcher is configured");
                Err(Failure::Unavailable)
            }
        }
    }
}

impl StartWorker for StepFunctions {
    fn start<'a>(&'a self, task: &'a Task, event: WorkerEvent) -> BoxFuture<'a, Result<(), Failure>> {
        Box::pin(async move {
            let started = self
                .client
                .get(|sdk, _| aws_sdk_sfn::Client::new(sdk))
                .start_execution()
                .state_machine_arn(&self.state_machine_arn)
                .name(task.task_id.as_str())
                .input(event.to_value().to_string())
                .send()
                .await;
            match started {
                Ok(_) => Ok(()),
                Err(err) if err.as_service_error().is_some_and(|e| e.is_execution_already_exists()) => Ok(()),
                Err(err) => Err(sdk_failure("start execution", err)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_events_are_the_state_machines_payloads() {
        let task_id = TaskId::generate();
        let confirm = WorkerEvent::Confirm {
            task_id: task_id.clone(),
        };
        assert_eq!(
            confirm.to_value(),
            serde_json::json!({"action": "confirm", "task_id": task_id.as_str()})
        );
        // As the template's MarkFailed state builds it.
        let fail = serde_json::json!({"action": "fail", "task_id": task_id.as_str(), "error": {"Error": "FinalError", "Cause": "{\"errorType\": \"FinalError\", \"errorMessage\": \"size differs\"}"}});
        let WorkerEvent::Fail {
            error: Some(caught), ..
        } = WorkerEvent::parse(fail).unwrap()
        else {
            panic!("not a fail event");
        };
        assert_eq!(caught.message(), "size differs");
    }

    #[test]
    fn malformed_worker_events_are_described() {
        for payload in [
            serde_json::json!({"action": "confirm"}),
            serde_json::json!({"action": "explode", "task_id": "task_x"}),
            serde_json::json!({"task_id": "task_x"}),
            serde_json::json!("confirm"),
        ] {
            let err = WorkerEvent::parse(payload.clone()).unwrap_err();
            assert!(err.starts_with("malformed worker event: "), "{payload}: {err}");
        }
    }

    #[test]
    fn caught_messages_come_from_the_cause() {
        let cause = serde_json::json!({"errorType": "FinalError", "errorMessage": "size differs"}).to_string();
        let caught = |error: Option<&str>, cause: Option<&str>| Caught {
            error: error.map(str::to_owned),
            cause: cause.map(str::to_owned),
        };
        assert_eq!(caught(Some("FinalError"), Some(&cause)).message(), "size differs");
        assert_eq!(
            caught(Some("States.Timeout"), Some("took too long")).message(),
            "took too long"
        );
        assert_eq!(caught(Some("States.Timeout"), None).message(), "States.Timeout");
    }
}
