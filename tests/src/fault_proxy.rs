//! A fault-injecting HTTP proxy in front of DynamoDB Local or local-s3. It forwards every
//! request unchanged (the Host header included, so SigV4 signatures still verify) unless a
//! rule matches; then it answers the rule's fault instead: an error response, or no answer at
//! all. Tests switch faults on and off while an operation is under way.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

/// What the proxy sees of a request.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    /// DynamoDB's operation (`X-Amz-Target` without its prefix), when there is one.
    pub operation: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Fault {
    Respond {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// Accepts the request and never answers (until the connection is dropped).
    Hang,
}

/// DynamoDB throttling every request it is sent (the SDK retries, then gives up).
pub fn throttled() -> Fault {
    Fault::Respond {
        status: 400,
        content_type: "application/x-amz-json-1.0",
        body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#.into(),
    }
}

/// S3 answering 503 Slow Down.
pub fn slow_down() -> Fault {
    Fault::Respond {
        status: 503,
        content_type: "application/xml",
        body: "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".into(),
    }
}

type Matcher = Box<dyn Fn(&Call) -> bool + Send + Sync>;

struct Rule {
    when: Matcher,
    fault: Fault,
}

#[derive(Default)]
struct State {
    rules: Mutex<Vec<Rule>>,
    faulted: AtomicUsize,
    hit: Notify,
}

pub struct FaultProxy {
    url: String,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FaultProxy {
    /// A proxy on a free 127.0.0.1 port forwarding to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(State::default());
        let upstream: Arc<str> = upstream.trim_end_matches('/').into();
        let client = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let (state, upstream, client) = (server_state.clone(), upstream.clone(), client.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let (state, upstream, client) = (state.clone(), upstream.clone(), client.clone());
                        async move { Ok::<_, std::convert::Infallible>(serve(&state, &upstream, &client, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, state, server }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// From now on, requests `when` selects get `fault`.
    pub fn fail(&self, when: impl Fn(&Call) -> bool + Send + Sync + 'static, fault: Fault) {
        lock(&self.state.rules).push(Rule {
            when: Box::new(when),
            fault,
        });
    }

    /// Every request is forwarded again.
    pub fn heal(&self) {
        lock(&self.state.rules).clear();
    }

    /// How many requests got a fault so far.
    pub fn faulted(&self) -> usize {
        self.state.faulted.load(Ordering::SeqCst)
    }

    /// Waits until a request gets a fault.
    pub async fn first_fault(&self) {
        if self.faulted() == 0 {
            self.state.hit.notified().await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A DynamoDB operation, by name (`TransactWriteItems`).
pub fn dynamodb(operation: &'static str) -> impl Fn(&Call) -> bool + Send + Sync + 'static {
    move |call| call.operation.as_deref() == Some(operation)
}

async fn serve(
    state: &State,
    upstream: &str,
    client: &reqwest::Client,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let call = Call {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().unwrap_or_default().to_owned(),
        operation: request
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.rsplit('.').next())
            .map(str::to_owned),
    };
    let fault = lock(&state.rules)
        .iter()
        .find(|rule| (rule.when)(&call))
        .map(|rule| rule.fault.clone());
    if let Some(fault) = fault {
        state.faulted.fetch_add(1, Ordering::SeqCst);
        state.hit.notify_waiters();
        return match fault {
            Fault::Respond {
                status,
                content_type,
                body,
            } => Response::builder()
                .status(status)
                .header("content-type", content_type)
                .body(Full::new(Bytes::from(body)))
                .expect("a response"),
            Fault::Hang => {
                std::future::pending::<()>().await;
                unreachable!()
            }
        };
    }
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let uri = format!(
        "{upstream}{}",
        parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut forward = client.request(parts.method, uri).body(body);
    for (name, value) in &parts.headers {
        forward = forward.header(name, value);
    }
    match forward.send().await {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                // Content-Length stays: a HEAD answer's is the object's size, not its body's.
                if name != "transfer-encoding" {
                    response = response.header(name, value);
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            response.body(Full::new(bytes)).expect("a response")
        }
        Err(err) => Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(err.to_string())))
            .expect("a response"),
    }
}
