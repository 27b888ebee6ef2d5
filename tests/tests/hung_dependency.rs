//! A dependency that accepts connections and never answers costs a request seconds, not the
//! function's whole timeout: the SDK timeouts (`bucket_uploads::aws`) turn it into
//! `Failure::Unavailable`, which the edge answers as a 503 with `Retry-After`
//! (`tests/tests/unavailable.rs` checks that answer) and the worker as a retryable error.

use bucket_uploads::app::{App, Settings};
use bucket_uploads::auth::{AuthError, authenticate};
use bucket_uploads::aws::{ATTEMPT_TIMEOUT, OPERATION_TIMEOUT, function_sdk_config, timeouts};
use bucket_uploads::errors::Failure;
use bucket_uploads::ids::UploadId;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Every service's endpoint: a listener that accepts connections and never answers.
#[derive(Debug)]
struct Everything(String);

impl aws_types::service_config::LoadServiceConfig for Everything {
    fn load_config(&self, _: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        Some(self.0.clone())
    }
}

async fn app_whose_dependencies_never_answer() -> App {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    // The production values, which the functions run with.
    let sdk = function_sdk_config()
        .to_builder()
        .service_config(Everything(url))
        .timeout_config(timeouts(ATTEMPT_TIMEOUT, OPERATION_TIMEOUT))
        .build();
    App::new(&sdk, &Settings::from_env().expect("make test sets the environment"))
}

/// Runs `call`, and returns its result and how long it took.
async fn timed<T>(call: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let result = call.await;
    (result, started.elapsed())
}

#[tokio::test]
async fn a_dynamodb_that_never_answers_is_unavailable_within_the_operation_timeout() {
    let app = app_whose_dependencies_never_answer().await;
    let (read, took) = timed(app.store.upload(&UploadId::generate())).await;
    assert_eq!(read, Err(Failure::Unavailable));
    assert!(took >= ATTEMPT_TIMEOUT, "answered in {took:?}: it did wait");
    assert!(took < OPERATION_TIMEOUT + Duration::from_secs(2), "took {took:?}");

    // Authentication, the first thing every request does, is unavailable the same way,
    // not a 401.
    let key = "sk_key_01m8n26fm5yjz3wwg28x0z9mx1_rEyt3VxMnWdhShpZuox8rv1wVpHlPx9LZtbLzHI3";
    let (auth, took) = timed(authenticate(
        &app.directory,
        Some(&format!("Bearer {key}")),
        Some("media"),
    ))
    .await;
    assert!(
        matches!(auth, Err(AuthError::Failure(Failure::Unavailable))),
        "{auth:?}"
    );
    assert!(took < OPERATION_TIMEOUT + Duration::from_secs(2), "took {took:?}");
}

#[tokio::test]
async fn an_s3_that_never_answers_is_unavailable_within_the_operation_timeout() {
    let app = app_whose_dependencies_never_answer().await;
    let (head, took) = timed(app.objects.exists("incoming/a/b/c/d.bin")).await;
    assert_eq!(head, Err(Failure::Unavailable));
    assert!(took < OPERATION_TIMEOUT + Duration::from_secs(2), "took {took:?}");
}

/// What a test's code logs, as text.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An attempt that stalls names its service and operation in the log, so that a slow
/// request shows which dependency held it: here every dependency reads the request, then
/// hangs up without answering after longer than `SLOW_ATTEMPT`.
#[tokio::test]
async fn a_stalled_attempt_is_logged_with_its_service_and_operation() {
    use bucket_uploads::calls::SLOW_ATTEMPT;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(SLOW_ATTEMPT + Duration::from_millis(300)).await;
                drop(connection);
            });
        }
    });
    let sdk = function_sdk_config()
        .to_builder()
        .service_config(Everything(url))
        .timeout_config(aws_smithy_types::timeout::TimeoutConfig::disabled())
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .build();
    let app = App::new(&sdk, &Settings::from_env().expect("make test sets the environment"));
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    assert_eq!(app.store.upload(&UploadId::generate()).await, Err(Failure::Unavailable));
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = logged
        .lines()
        .find(|line| line.contains("slow backend call attempt"))
        .unwrap_or_else(|| panic!("no slow-attempt line in:\n{logged}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("service=\"DynamoDB\""), "{line}");
    assert!(line.contains("operation=\"GetItem\""), "{line}");
    assert!(line.contains("status=None"), "no response arrived: {line}");
}

#[test]
fn every_call_has_a_timeout() {
    let configured = timeouts(ATTEMPT_TIMEOUT, OPERATION_TIMEOUT);
    assert_eq!(configured.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
    assert_eq!(configured.operation_timeout(), Some(OPERATION_TIMEOUT));
    assert!(configured.connect_timeout().is_some());
}
