//! Starting the asynchronous confirmation worker.
//!
//! In AWS a Step Functions execution runs it (named after the task, so starting it twice
//! starts it once; the state machine in `template.yaml` retries and catches). Locally the
//! worker runs under `cargo lambda watch` and is called through its Lambda Invoke API, with
//! the same Retry/Catch logic played by [`run_state_machine`].

use crate::aws::{LazyClient, sdk_failure};
use crate::calls::CallCounter;
use crate::errors::Failure;
use crate::ids::TaskId;
use crate::model::{Task, TaskKind};
use aws_types::SdkConfig;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

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
/// Step Functions and Lambda clients behind it are linked into those binaries alone
/// (issue 13: binary size), so the starters sit behind a trait object.
#[derive(Clone, Debug, Default)]
pub struct Dispatcher {
    starter: Option<Arc<dyn StartWorker>>,
}

/// One way of running the worker for a task.
trait StartWorker: std::fmt::Debug + Send + Sync {
    fn start<'a>(&'a self, task: &'a Task, event: WorkerEvent) -> BoxFuture<'a, Result<(), Failure>>;
}

/// In AWS: a Step Functions execution named after the task.
#[derive(Debug)]
struct StepFunctions {
    client: LazyClient<aws_sdk_sfn::Client>,
    state_machine_arn: String,
}

/// Locally: the worker under `cargo lambda watch`, through its Lambda Invoke API.
#[derive(Debug)]
struct LocalWorker {
    client: LazyClient<aws_sdk_lambda::Client>,
    function: String,
}

/// The result of one worker invocation, as a state machine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// The worker did part of the work and asks to be run again (`"more": true`).
    Continue,
    Failed {
        error_type: String,
        message: String,
    },
}

/// The Retry clause of the state machine's confirm state.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first_interval: Duration,
    pub backoff_rate: u32,
}

/// Error types the state machine retries: the worker's own and Lambda's service errors.
pub const RETRYABLE_ERRORS: &[&str] = &[
    "RetryableError",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];

impl RetryPolicy {
    pub const LOCAL: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        first_interval: Duration::from_millis(200),
        backoff_rate: 2,
    };

    /// Exponential backoff with full jitter, as `JitterStrategy: FULL` does.
    fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.first_interval * self.backoff_rate.saturating_pow(retry);
        ceiling.mul_f64(rand::random_range(0.0..=1.0))
    }
}

/// What the state machine's Catch passes on for a worker error (`ResultPath: $.error`).
fn caught(error_type: &str, message: &str) -> Caught {
    let cause = serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string();
    Caught {
        error: Some(error_type.to_owned()),
        cause: Some(cause),
    }
}

/// The state machine: run the worker with `event`; run it again while it asks for more;
/// retry retryable errors with backoff; on a final error, or when retries run out, run the
/// worker's `fail` action. Returns the last outcome.
pub async fn run_state_machine<F, Fut>(mut invoke: F, event: WorkerEvent, policy: &RetryPolicy) -> Outcome
where
    F: FnMut(WorkerEvent) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let task_id = event.task_id().clone();
    let mut attempt = 1;
    loop {
        let outcome = invoke(event.clone()).await;
        if outcome == Outcome::Continue {
            attempt = 1;
            continue;
        }
        let Outcome::Failed { error_type, message } = &outcome else {
            return outcome;
        };
        if RETRYABLE_ERRORS.contains(&error_type.as_str()) && attempt < policy.max_attempts {
            tokio::time::sleep(policy.delay(attempt - 1)).await;
            attempt += 1;
            continue;
        }
        let fail = WorkerEvent::Fail {
            task_id: task_id.clone(),
            error: Some(caught(error_type, message)),
        };
        if let Outcome::Failed { error_type, message } = invoke(fail).await {
            tracing::error!(%task_id, error_type, message, "the fail state itself failed");
        }
        return outcome;
    }
}

impl Dispatcher {
    /// Step Functions when `UPLOADS_STATE_MACHINE_ARN` is set; the local worker when
    /// `UPLOADS_LOCAL_WORKER` names it (with `AWS_ENDPOINT_URL_LAMBDA` at `cargo lambda watch`).
    pub fn new(sdk: &SdkConfig, state_machine_arn: Option<String>, local_worker: Option<String>) -> Self {
        // Step Functions and Lambda calls are not counted: the counts are of DynamoDB and S3.
        let uncounted = CallCounter::default();
        let starter: Option<Arc<dyn StartWorker>> = match (state_machine_arn, local_worker) {
            (Some(state_machine_arn), _) => Some(Arc::new(StepFunctions {
                client: LazyClient::new(sdk, &uncounted),
                state_machine_arn,
            })),
            (None, Some(function)) => Some(Arc::new(LocalWorker {
                client: LazyClient::new(sdk, &uncounted),
                function,
            })),
            (None, None) => None,
        };
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

impl StartWorker for LocalWorker {
    fn start<'a>(&'a self, _task: &'a Task, event: WorkerEvent) -> BoxFuture<'a, Result<(), Failure>> {
        let (client, function) = (
            self.client.get(|sdk, _| local_lambda_client(sdk)).clone(),
            self.function.clone(),
        );
        // Only locally does work outlive the response: the process keeps running.
        tokio::spawn(async move {
            let invoke = |event: WorkerEvent| invoke_local(&client, &function, event.to_value());
            run_state_machine(invoke, event, &RetryPolicy::LOCAL).await
        });
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A Lambda client that makes one call per invocation: `run_state_machine` plays the
/// state machine's retries, and `cargo lambda watch` answers a function's error with a 5xx
/// that the SDK's own retries would otherwise repeat (each worker run made three).
fn local_lambda_client(sdk: &SdkConfig) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::config::Builder::from(sdk)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

async fn invoke_local(client: &aws_sdk_lambda::Client, function: &str, payload: Value) -> Outcome {
    let request = client
        .invoke()
        .function_name(function)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()));
    match request.send().await {
        Ok(output) if output.function_error().is_none() => {
            let answered: Option<Value> = output.payload().and_then(|p| serde_json::from_slice(p.as_ref()).ok());
            match answered {
                Some(answer) if answer.get("more") == Some(&Value::Bool(true)) => Outcome::Continue,
                _ => Outcome::Succeeded,
            }
        }
        Ok(output) => function_error(output.payload().map(|p| p.as_ref())).unwrap_or_else(|| Outcome::Failed {
            error_type: "Lambda.Unknown".into(),
            message: String::new(),
        }),
        // cargo lambda watch answers a function's error with an error status, which the SDK
        // reports as a failed call: the function's own error is still in the body.
        Err(err) => {
            function_error(err.raw_response().and_then(|r| r.body().bytes())).unwrap_or_else(|| Outcome::Failed {
                error_type: "Lambda.SdkClientException".to_owned(),
                message: aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
            })
        }
    }
}

/// The function's own error (`{"errorType", "errorMessage"}`) in an invocation's body.
fn function_error(body: Option<&[u8]>) -> Option<Outcome> {
    let body: Value = serde_json::from_slice(body?).ok()?;
    Some(Outcome::Failed {
        error_type: body.get("errorType")?.as_str()?.to_owned(),
        message: body
            .get("errorMessage")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const FAST: RetryPolicy = RetryPolicy {
        max_attempts: 4,
        first_interval: Duration::from_millis(1),
        backoff_rate: 2,
    };

    fn failed(error_type: &str) -> Outcome {
        Outcome::Failed {
            error_type: error_type.into(),
            message: format!("{error_type} happened"),
        }
    }

    /// Plays the state machine against scripted worker outcomes; returns the actions run.
    async fn play(script: Vec<Outcome>) -> (Outcome, Vec<&'static str>) {
        let script = Mutex::new(script.into_iter());
        let calls = Mutex::new(Vec::new());
        let task_id = TaskId::generate();
        let start = WorkerEvent::Confirm {
            task_id: task_id.clone(),
        };
        let outcome = run_state_machine(
            |event: WorkerEvent| {
                assert_eq!(event.task_id(), &task_id);
                let next = match &event {
                    WorkerEvent::Fail { error, .. } => {
                        calls.lock().unwrap().push("fail");
                        let caught = error.as_ref().expect("the caught error");
                        assert!(caught.message().contains("happened"));
                        Outcome::Succeeded
                    }
                    WorkerEvent::Confirm { .. } | WorkerEvent::ConfirmBatch { .. } => {
                        calls.lock().unwrap().push("confirm");
                        script.lock().unwrap().next().unwrap()
                    }
                };
                async move { next }
            },
            start,
            &FAST,
        )
        .await;
        (outcome, calls.into_inner().unwrap())
    }

    #[test]
    fn the_local_worker_is_invoked_once_per_state_machine_attempt() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let dispatcher = Dispatcher::new(&sdk, None, Some("worker".into()));
        assert!(format!("{dispatcher:?}").contains("LocalWorker"), "{dispatcher:?}");
        let client = local_lambda_client(&sdk);
        let retries = client.config().retry_config().expect("a retry config");
        assert_eq!(retries.max_attempts(), 1);
    }

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

    #[test]
    fn function_errors_are_read_from_the_invocation_body() {
        let body = br#"{"errorType": "FinalError", "errorMessage": "size differs"}"#;
        assert_eq!(
            function_error(Some(body)),
            Some(Outcome::Failed {
                error_type: "FinalError".into(),
                message: "size differs".into()
            })
        );
        assert_eq!(function_error(Some(b"<html>")), None);
        assert_eq!(function_error(None), None);
    }

    #[tokio::test]
    async fn retryable_errors_are_retried_until_success() {
        let (outcome, calls) = play(vec![
            failed("RetryableError"),
            failed("Lambda.ServiceException"),
            Outcome::Succeeded,
        ])
        .await;
        assert_eq!(outcome, Outcome::Succeeded);
        assert_eq!(calls, ["confirm", "confirm", "confirm"]);
    }

    #[tokio::test]
    async fn a_worker_asking_for_more_is_run_again_without_using_up_retries() {
        let mut script = vec![
            failed("RetryableError"),
            failed("RetryableError"),
            failed("RetryableError"),
        ];
        script.extend([
            Outcome::Continue,
            failed("RetryableError"),
            Outcome::Continue,
            Outcome::Succeeded,
        ]);
        let (outcome, calls) = play(script).await;
        assert_eq!(outcome, Outcome::Succeeded);
        assert_eq!(calls.len(), 7, "{calls:?}");
        assert!(!calls.contains(&"fail"));
    }

    #[tokio::test]
    async fn final_errors_go_straight_to_fail() {
        let (outcome, calls) = play(vec![failed("FinalError")]).await;
        assert_eq!(outcome, failed("FinalError"));
        assert_eq!(calls, ["confirm", "fail"]);
    }

    #[tokio::test]
    async fn exhausted_retries_fail_the_task() {
        let (outcome, calls) = play(vec![failed("RetryableError"); 4]).await;
        assert_eq!(outcome, failed("RetryableError"));
        assert_eq!(calls, ["confirm", "confirm", "confirm", "confirm", "fail"]);
    }
}
