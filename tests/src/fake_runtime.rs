//! A minimal Lambda Runtime API (and Step Functions' StartExecution, for the functions that
//! start the state machine): it hands a function process one event, takes its answer, and
//! holds its next poll, so the bench can time the process's start and read its memory once
//! it is idle again, as Lambda leaves it between requests, and tests can feed a function
//! the very event API Gateway would.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

/// One invocation of a fresh process.
pub struct Invocation {
    /// Process start to its first poll for an event.
    pub init: Duration,
    /// Event handed over to answer received.
    pub handled: Duration,
    /// `response` or `error`, and the body.
    pub outcome: String,
    pub answer: serde_json::Value,
    /// Resident memory once idle again, and its peak, in KiB.
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

#[derive(Default)]
struct State {
    event: Mutex<Option<Vec<u8>>>,
    first_poll: Mutex<Option<Instant>>,
    delivered: Mutex<Option<Instant>>,
    answer: Mutex<Option<(String, Instant, Bytes)>>,
    answered: Notify,
    idle: Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn reply(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a response")
}

async fn serve(state: Arc<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if path == NEXT {
        let now = Instant::now();
        lock(&state.first_poll).get_or_insert(now);
        let event = lock(&state.event).take();
        let Some(event) = event else {
            // The one event was answered: the process is idle. Hold the poll, as Lambda does.
            state.idle.notify_one();
            std::future::pending::<()>().await;
            unreachable!()
        };
        *lock(&state.delivered) = Some(Instant::now());
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() + 900_000)
            .unwrap_or_default();
        return Response::builder()
            .status(200)
            .header("lambda-runtime-aws-request-id", "bench-request")
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            .header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000")
            .body(Full::new(Bytes::from(event)))
            .expect("a response");
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if target.as_deref() == Some("AWSStepFunctions.StartExecution") {
        let started = serde_json::json!({"executionArn": "arn:aws:states:us-east-1:123456789012:execution:bench:run", "startDate": 1.7e9});
        return reply(200, started.to_string().into_bytes());
    }
    let outcome = if path.ends_with("/response") {
        "response"
    } else {
        "error"
    };
    *lock(&state.answer) = Some((outcome.to_owned(), Instant::now(), body));
    state.answered.notify_one();
    reply(202, b"{}".to_vec())
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// Starts `binary` with `env` against a fresh fake Runtime API, hands it `event`, and
/// returns how that went once the process polls again (it is then killed).
pub async fn invoke_once(
    binary: &Path,
    env: &[(String, String)],
    event: &serde_json::Value,
    timeout: Duration,
) -> Invocation {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let state = Arc::new(State::default());
    *lock(&state.event) = Some(event.to_string().into_bytes());
    let server_state = state.clone();
    let server = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let state = server_state.clone();
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(serve(state, request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_ENDPOINT_URL_SFN", format!("http://{address}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| panic!("start {}: {err}", binary.display()));
    let pid = child.id().expect("a pid");
    tokio::time::timeout(timeout, state.answered.notified())
        .await
        .unwrap_or_else(|_| panic!("{} did not answer within {timeout:?}", binary.display()));
    // Idle again: its next poll arrived (or it gave up polling).
    let _ = tokio::time::timeout(Duration::from_secs(10), state.idle.notified()).await;
    let rss_kib = proc_status_kib(pid, "VmRSS:");
    let peak_rss_kib = proc_status_kib(pid, "VmHWM:");
    let _ = child.kill().await;
    server.abort();

    let first_poll = lock(&state.first_poll).expect("the process polled");
    let delivered = lock(&state.delivered).expect("the event was handed over");
    let (outcome, answered_at, body) = lock(&state.answer).take().expect("an answer");
    Invocation {
        init: first_poll - started,
        handled: answered_at - delivered,
        outcome,
        answer: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        rss_kib,
        peak_rss_kib,
    }
}

/// The environment a function gets: the local services, and Lambda's own variables.
pub fn function_env(function: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_EVENTBRIDGE",
        "UPLOADS_TABLE",
        "UPLOADS_S3_BUCKET",
        "UPLOADS_S3_FORCE_PATH_STYLE",
    ]
    .iter()
    .filter_map(|name| std::env::var(name).ok().map(|v| ((*name).to_owned(), v)))
    .collect();
    for (name, value) in [
        ("AWS_LAMBDA_FUNCTION_NAME", function),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        (
            "UPLOADS_STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:bench",
        ),
    ] {
        env.push((name.to_owned(), value.to_owned()));
    }
    if function == "confirm-worker" {
        // As template.yaml gives the worker: a 1 GiB copy outlasts the API functions' 25 s.
        env.push(("UPLOADS_COPY_TIMEOUT_SECS".to_owned(), "840".to_owned()));
    }
    env
}

/// An HttpApi (payload 2.0) event, as API Gateway hands it to a function: `body` is the
/// text API Gateway passes, base64 when `base64_encoded`.
pub fn api_gateway_event(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
    base64_encoded: bool,
) -> serde_json::Value {
    let mut header_map: serde_json::Map<String, serde_json::Value> =
        headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).into())).collect();
    header_map.insert("host".into(), "local.execute-api.us-east-1.amazonaws.com".into());
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "local.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "local",
            "routeKey": "$default",
            "stage": "$default",
            "time": "30/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "body": body,
        "isBase64Encoded": base64_encoded,
    })
}
