//! AWS configuration, clients built on first use, and the classification of SDK failures.

use crate::calls::CallCounter;
use crate::errors::Failure;
use aws_sdk_dynamodb::error::SdkError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long a function's SDK call may take before it is a `Failure::Unavailable` (a 503
/// with `Retry-After`; in the worker, a retryable error), so that a dependency that accepts
/// connections and never answers costs a request seconds, not the function's whole timeout
/// with API Gateway's own answer at the end. Normal calls take milliseconds; an attempt gets
/// 3 s, a call with its retries 8 s, a connection 2 s. Pages and copies are longer and get
/// their own limits.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(8);

/// Timeouts of `attempt` per attempt and `operation` per call, retries included. The local
/// stack runs with them too (`make dev`'s smoke test pauses DynamoDB Local and expects the
/// 503 within 10 s).
pub fn timeouts(attempt: Duration, operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build()
}

/// rustls with ring, passed in explicitly so the SDK crates can be built without their
/// default (aws-lc) TLS stack.
fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// SDK configuration with aws-config's default provider chains (profiles, SSO, web
/// identity, IMDS…), for the operator CLI and tools run by people.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await
}

/// The SDK configuration a function runs with, read from the environment Lambda gives it:
/// region (`AWS_REGION`), credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, read when a call first needs them) and the standard
/// `AWS_ENDPOINT_URL[_<SERVICE>]` overrides (how the local stack is wired). None of the
/// default chains' other sources: a function never uses them, and linking them (an STS
/// client among them) would cost every binary a few hundred KB and its cold start the time
/// to build them.
pub fn function_sdk_config() -> SdkConfig {
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok()
        .map(aws_types::region::Region::new);
    SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(region)
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(http_client())
        // Timeouts need a timer.
        .sleep_impl(aws_smithy_async::rt::sleep::SharedAsyncSleep::new(
            aws_smithy_async::rt::sleep::TokioSleep::new(),
        ))
        .timeout_config(timeouts(ATTEMPT_TIMEOUT, OPERATION_TIMEOUT))
        .service_config(EnvEndpoints)
        .build()
}

/// `AWS_ENDPOINT_URL_<SERVICE>` (the service id upper-cased, spaces as `_`), else
/// `AWS_ENDPOINT_URL`, as aws-config reads them.
#[derive(Debug)]
struct EnvEndpoints;

impl aws_types::service_config::LoadServiceConfig for EnvEndpoints {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_ascii_uppercase().replace(' ', "_");
        std::env::var(format!("{}_{service}", key.env()))
            .or_else(|_| std::env::var(key.env()))
            .ok()
            .filter(|url| !url.is_empty())
    }
}

const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "ServiceUnavailable",
    "InternalServerError",
    "InternalError",
];

/// True when the failure is worth retrying: throttling, timeouts, transport or 5xx trouble.
/// The status counts as well as the code: an error answer to a HEAD request (S3's
/// HeadObject under SlowDown) has no body, hence no code.
pub fn is_retryable<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            status == 429 || status >= 500 || service.err().code().is_some_and(|code| RETRYABLE_CODES.contains(&code))
        }
        _ => false,
    }
}

/// For a request the code built wrongly (an SDK builder refused it): logs what and why.
/// `map_err(invalid_request("counters update"))`.
pub fn invalid_request<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> Failure {
    move |err| Failure::bug(format!("invalid AWS request ({what}): {err}"))
}

/// Logs an SDK failure with its full cause and classifies it.
pub fn sdk_failure<E>(context: &'static str, err: SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let retryable = is_retryable(&err);
    tracing::error!(context, retryable, error = %DisplayErrorContext(&err), "AWS call failed");
    if retryable {
        Failure::Unavailable
    } else {
        Failure::Bug(format!("{context} failed"))
    }
}

/// An SDK client built on its first call. Building one is then no part of a cold start,
/// and a function that never calls a service never builds it: the code that builds it is
/// reached only from the adapter methods that call the service, so a binary whose handler
/// never calls them does not even contain that SDK (LTO drops it).
#[derive(Clone)]
pub struct LazyClient<C> {
    client: Arc<OnceLock<C>>,
    sdk: SdkConfig,
    calls: CallCounter,
}

impl<C> LazyClient<C> {
    /// A client to be built from `sdk`, its calls counted by `calls`.
    pub fn new(sdk: &SdkConfig, calls: &CallCounter) -> Self {
        Self {
            client: Arc::default(),
            sdk: sdk.clone(),
            calls: calls.clone(),
        }
    }

    /// The client, built by `build` the first time.
    pub fn get(&self, build: impl FnOnce(&SdkConfig, &CallCounter) -> C) -> &C {
        self.client.get_or_init(|| build(&self.sdk, &self.calls))
    }
}

impl<C> std::fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyClient")
            .field("built", &self.client.get().is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::head_object::HeadObjectError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    /// HeadObject's error answers have no body: only the status tells them apart.
    fn head_object_answered(status: u16) -> SdkError<HeadObjectError, HttpResponse> {
        let raw = HttpResponse::new(StatusCode::try_from(status).expect("a status"), SdkBody::empty());
        let err = HeadObjectError::generic(aws_smithy_types::error::ErrorMetadata::builder().build());
        SdkError::service_error(err, raw)
    }

    #[test]
    fn bodyless_5xx_and_429_answers_are_retryable_and_4xx_are_not() {
        assert!(is_retryable(&head_object_answered(503)));
        assert!(is_retryable(&head_object_answered(500)));
        assert!(is_retryable(&head_object_answered(429)));
        assert!(!is_retryable(&head_object_answered(403)));
        assert!(!is_retryable(&head_object_answered(400)));
    }
}
