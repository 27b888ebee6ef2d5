//! AWS client construction and the classification of SDK failures.

use crate::errors::Failure;
use aws_sdk_dynamodb::error::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Shared SDK configuration. The HTTP client is rustls with ring, passed in explicitly so
/// the SDK crates can be built without their default (aws-lc) TLS stack. Endpoints follow
/// the standard `AWS_ENDPOINT_URL_<SERVICE>` variables, which is how the local stack is wired.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client)
        .load()
        .await
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
pub fn is_retryable<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => service.err().code().is_some_and(|code| RETRYABLE_CODES.contains(&code)),
        _ => false,
    }
}

/// For a request the code built wrongly (an SDK builder refused it): logs what and why.
/// `map_err(invalid_request("counters update"))`.
pub fn invalid_request<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> Failure {
    move |err| Failure::bug(format!("invalid AWS request ({what}): {err}"))
}

/// Logs an SDK failure with its full cause and classifies it.
pub fn sdk_failure<E, R>(context: &'static str, err: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let retryable = is_retryable(&err);
    tracing::error!(context, retryable, error = %DisplayErrorContext(&err), "AWS call failed");
    if retryable {
        Failure::Unavailable
    } else {
        Failure::Bug(format!("{context} failed"))
    }
}
