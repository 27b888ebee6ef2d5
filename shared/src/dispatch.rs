//! Starting the asynchronous confirmation worker.
//!
//! In AWS a Step Functions execution runs it (named after the task, so starting it twice
//! starts it once; the state machine in `template.yaml` retries and catches). Locally the
//! worker runs under `cargo lambda watch` and is called through its Lambda Invoke API, with
//! the same Retry/Catch logic played by [`run_state_machine`].

use crate::aws::sdk_failure;
use crate::error::ApiError;
use crate::model::Task;
use serde_json::{Value, json};
use std::future::Future;
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Dispatcher {
    StepFunctions {
        client: aws_sdk_sfn::Client,
        state_machine_arn: String,
    },
    Local {
        client: aws_sdk_lambda::Client,
        function: String,
    },
    /// Nothing can run the worker: asynchronous confirmation answers 503.
    Unconfigured,
}

/// The result of one worker invocation, as a state machine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed { error_type: String, message: String },
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

pub fn confirm_payload(task_id: &str) -> Value {
    json!({ "action": "confirm", "task_id": task_id })
}

/// What the state machine's Catch passes on (`ResultPath: $.error`).
pub fn fail_payload(task_id: &str, error_type: &str, message: &str) -> Value {
    let cause = json!({ "errorType": error_type, "errorMessage": message }).to_string();
    json!({ "action": "fail", "task_id": task_id, "error": { "Error": error_type, "Cause": cause } })
}

/// The state machine: run the worker; retry retryable errors with backoff; on a final
/// error, or when retries run out, run the worker's `fail` action. Returns the last outcome.
pub async fn run_state_machine<F, Fut>(mut invoke: F, task_id: &str, policy: &RetryPolicy) -> Outcome
where
    F: FnMut(Value) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut attempt = 1;
    loop {
        let outcome = invoke(confirm_payload(task_id)).await;
        let Outcome::Failed { error_type, message } = &outcome else {
            return outcome;
        };
        if RETRYABLE_ERRORS.contains(&error_type.as_str()) && attempt < policy.max_attempts {
            tokio::time::sleep(policy.delay(attempt - 1)).await;
            attempt += 1;
            continue;
        }
        if let Outcome::Failed { error_type, message } = invoke(fail_payload(task_id, error_type, message)).await {
            tracing::error!(task_id, error_type, message, "the fail state itself failed");
        }
        return outcome;
    }
}

impl Dispatcher {
    /// Step Functions when `UPLOADS_STATE_MACHINE_ARN` is set; the local worker when
    /// `UPLOADS_LOCAL_WORKER` names it (with `AWS_ENDPOINT_URL_LAMBDA` at `cargo lambda watch`).
    pub fn new(sdk: &aws_config::SdkConfig, state_machine_arn: Option<String>, local_worker: Option<String>) -> Self {
        match (state_machine_arn, local_worker) {
            (Some(state_machine_arn), _) => Dispatcher::StepFunctions {
                client: aws_sdk_sfn::Client::new(sdk),
                state_machine_arn,
            },
            (None, Some(function)) => Dispatcher::Local {
                client: local_lambda_client(sdk),
                function,
            },
            (None, None) => Dispatcher::Unconfigured,
        }
    }

    pub async fn start(&self, task: &Task) -> Result<(), ApiError> {
        match self {
            Dispatcher::StepFunctions {
                client,
                state_machine_arn,
            } => {
                let started = client
                    .start_execution()
                    .state_machine_arn(state_machine_arn)
                    .name(&task.task_id)
                    .input(confirm_payload(&task.task_id).to_string())
                    .send()
                    .await;
                match started {
                    Ok(_) => Ok(()),
                    Err(err) if err.as_service_error().is_some_and(|e| e.is_execution_already_exists()) => Ok(()),
                    Err(err) => Err(sdk_failure("start execution", err)),
                }
            }
            Dispatcher::Local { client, function } => {
                let (client, function, task_id) = (client.clone(), function.clone(), task.task_id.clone());
                // Only locally does work outlive the response: the process keeps running.
                tokio::spawn(async move {
                    let invoke = |payload: Value| invoke_local(&client, &function, payload);
                    run_state_machine(invoke, &task_id, &RetryPolicy::LOCAL).await
                });
                Ok(())
            }
            Dispatcher::Unconfigured => {
                tracing::error!("asynchronous confirmation requested, but no dispatcher is configured");
                Err(ApiError::Unavailable)
            }
        }
    }
}

/// A Lambda client that makes one call per invocation: `run_state_machine` plays the
/// state machine's retries, and `cargo lambda watch` answers a function's error with a 5xx
/// that the SDK's own retries would otherwise repeat (each worker run made three).
fn local_lambda_client(sdk: &aws_config::SdkConfig) -> aws_sdk_lambda::Client {
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
        Ok(output) if output.function_error().is_none() => Outcome::Succeeded,
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
    async fn play(script: Vec<Outcome>) -> (Outcome, Vec<String>) {
        let script = Mutex::new(script.into_iter());
        let calls = Mutex::new(Vec::new());
        let outcome = run_state_machine(
            |payload: Value| {
                calls
                    .lock()
                    .unwrap()
                    .push(payload["action"].as_str().unwrap().to_owned());
                let next = if payload["action"] == "fail" {
                    assert!(payload["error"]["Cause"].as_str().unwrap().contains("happened"));
                    Outcome::Succeeded
                } else {
                    script.lock().unwrap().next().unwrap()
                };
                async move { next }
            },
            "task_x",
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
        let Dispatcher::Local { client, .. } = Dispatcher::new(&sdk, None, Some("worker".into())) else {
            panic!("expected the local dispatcher");
        };
        let retries = client.config().retry_config().expect("a retry config");
        assert_eq!(retries.max_attempts(), 1);
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
