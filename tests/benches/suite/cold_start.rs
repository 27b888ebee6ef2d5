//! P5: each function's start (process start to its first poll of the Runtime API), its
//! stripped release binary, and its memory once idle after one real request, against the
//! fake Runtime API and the local services.

use super::table::median;
use api_tests::fake_runtime::{Invocation, api_gateway_event, function_env, invoke_once};
use api_tests::stream::{raw_item, stream_record};
use api_tests::{Tenancy, processing, put};
use bucket_uploads::App;
use bucket_uploads::auth;
use bucket_uploads::confirm::{ConfirmRequest, Origin, confirm};
use bucket_uploads::dispatch::WorkerEvent;
use bucket_uploads::ids::BucketRef;
use bucket_uploads::model::Bucket;
use bucket_uploads::store::UPLOAD_SORT_KEY;
use bucket_uploads::uploads::create_upload;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const STARTS: usize = 5;

pub struct Started {
    pub function: String,
    pub binary_bytes: u64,
    pub init: Duration,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
    /// The HTTP status the function answered, or the worker's outcome.
    pub answered: String,
}

fn http_event(method: &str, path: &str, authorization: &str, namespace: &str, body: Option<Value>) -> Value {
    let headers = [
        ("authorization", authorization),
        ("x-namespace", namespace),
        ("content-type", "application/json"),
    ];
    api_gateway_event(method, path, &headers, body.map(|b| b.to_string()), false)
}

/// Fresh data for one request to `function`: each run of a function gets its own.
struct Fixture {
    app: App,
    authorization: String,
    namespace: String,
    bucket: Bucket,
    scope: auth::Scope,
}

impl Fixture {
    async fn new(app: &App) -> Self {
        let made = Tenancy::create(app, ["p5", "p5"], None).await;
        let scope = made.scope(app).await;
        let authorization = made.authorization();
        let (namespace, bucket) = (made.namespace, made.bucket);
        Self {
            app: app.clone(),
            authorization,
            namespace: namespace.name,
            bucket,
            scope,
        }
    }

    async fn upload(&self, bytes: Option<&[u8]>) -> bucket_uploads::model::Upload {
        let body = json!({"filename": "a.bin", "content_type": "application/octet-stream", "file_size_bytes": bytes.map(<[u8]>::len)});
        self.create(&body, bytes).await
    }

    async fn create(&self, body: &Value, bytes: Option<&[u8]>) -> bucket_uploads::model::Upload {
        let bucket = BucketRef::parse(&self.bucket.name).expect("a bucket name");
        let upload = create_upload(&self.app, &self.scope, &bucket, Some(body))
            .await
            .expect("create");
        if let (Some(bytes), Some(url)) = (bytes, upload.presigned_url.as_deref()) {
            assert_eq!(
                put(url, &[("content-type", "application/octet-stream")], bytes.to_vec()).await,
                200
            );
        }
        upload
    }

    fn http(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        http_event(method, path, &self.authorization, &self.namespace, body)
    }

    /// A request each function answers for real (reads and writes included).
    async fn event(&self, function: &str) -> Value {
        let uploads = format!("/v1/buckets/{}/uploads", self.bucket.name);
        let one = json!({"filename": "a.txt", "content_type": "text/plain", "file_size_bytes": 3});
        match function {
            "create-upload" => self.http("POST", &uploads, Some(one)),
            "create-uploads-batch" => {
                let items: Vec<Value> = (0..10).map(|_| one.clone()).collect();
                self.http("POST", &format!("{uploads}/batch"), Some(json!({"uploads": items})))
            }
            "get-upload" => {
                let upload = self.upload(None).await;
                self.http("GET", &format!("{uploads}/{}", upload.upload_id), None)
            }
            "list-uploads" => {
                self.upload(None).await;
                self.http("POST", &format!("{uploads}/list"), Some(json!({})))
            }
            "confirm-upload" => {
                let upload = self.upload(Some(b"abc")).await;
                self.http(
                    "POST",
                    &format!("{uploads}/{}/confirm", upload.upload_id),
                    Some(json!({})),
                )
            }
            "confirm-uploads-batch" => {
                let upload = self.upload(Some(b"abc")).await;
                let body = json!({"confirmations": [{"upload_id": upload.upload_id}]});
                self.http("POST", &format!("{uploads}/confirm/batch"), Some(body))
            }
            "delete-upload" => {
                let upload = self.upload(None).await;
                self.http("DELETE", &format!("{uploads}/{}", upload.upload_id), None)
            }
            "get-task" | "confirm-worker" => {
                let upload = self.upload(Some(b"abc")).await;
                let task_id = processing(&self.app, &self.scope.namespace.namespace_id, &upload)
                    .await
                    .task_id;
                if function == "get-task" {
                    self.http("GET", &format!("/v1/tasks/{task_id}"), None)
                } else {
                    serde_json::to_value(WorkerEvent::Confirm { task_id }).expect("an event")
                }
            }
            "get-batch" => self.http(
                "GET",
                &format!(
                    "/v1/buckets/{}/batches/batch_00000000000000000000000000",
                    self.bucket.name
                ),
                None,
            ),
            "get-openapi" => self.http("GET", "/openapi.json", None),
            "get-usage" => self.http("GET", "/v1/usage", None),
            "upload-parts" => {
                let body = json!({"filename": "a.bin", "content_type": "application/octet-stream", "file_size_bytes": 10 << 20, "multipart": true, "part_size_bytes": 5 << 20});
                let upload = self.create(&body, None).await;
                let parts = json!({"part_numbers": [1, 2]});
                self.http("POST", &format!("{uploads}/{}/parts", upload.upload_id), Some(parts))
            }
            "route-not-found" => self.http("GET", "/v1/nothing-here", None),
            // S3's event for a PUT upload, which the function confirms (make bench's local S3
            // sends no events of its own).
            "auto-confirm" => {
                let upload = self.upload(Some(b"abc")).await;
                let bucket = std::env::var("UPLOADS_S3_BUCKET").expect("UPLOADS_S3_BUCKET");
                api_tests::object_created::message(&bucket, &upload.staging_key())
            }
            // The stream record of a confirmation, which the function publishes.
            "upload-events" => {
                let upload = self.upload(Some(b"abc")).await;
                let id = upload.upload_id.to_string();
                let pending = raw_item(&self.app, &id, UPLOAD_SORT_KEY)
                    .await
                    .expect("the upload's item");
                confirm(
                    &self.app,
                    &self.bucket,
                    upload,
                    &ConfirmRequest::default(),
                    Origin::Client { run_async: false },
                )
                .await
                .expect("confirmed");
                let completed = raw_item(&self.app, &id, UPLOAD_SORT_KEY)
                    .await
                    .expect("the upload's item");
                json!({"Records": [stream_record(Some(&pending), Some(&completed), 1, None)]})
            }
            "expired-uploads" => json!({"Records": []}),
            other => panic!("no request for {other}"),
        }
    }
}

fn answered(invocation: &Invocation) -> String {
    match invocation.answer.get("statusCode") {
        Some(status) => format!("HTTP {status}"),
        None if invocation.outcome == "response" => match invocation.answer.get("batchItemFailures") {
            Some(Value::Array(failed)) => format!("answered, {} of its records failed", failed.len()),
            _ => "answered".to_owned(),
        },
        None => format!("error: {}", invocation.answer),
    }
}

pub async fn run(app: &App, release: &Path, functions: &[String]) -> Vec<Started> {
    let mut started = vec![];
    for function in functions {
        let binary: PathBuf = release.join(function);
        let binary_bytes = std::fs::metadata(&binary)
            .unwrap_or_else(|err| panic!("{}: {err} (make bench builds the release binaries)", binary.display()))
            .len();
        let env = function_env(function);
        let mut inits = vec![];
        let mut last = None;
        for _ in 0..STARTS {
            let fixture = Fixture::new(app).await;
            let event = fixture.event(function).await;
            let invocation = invoke_once(&binary, &env, &event, Duration::from_secs(60)).await;
            inits.push(invocation.init);
            last = Some(invocation);
        }
        let last = last.expect("one start at least");
        started.push(Started {
            function: function.clone(),
            binary_bytes,
            init: median(inits),
            rss_kib: last.rss_kib,
            peak_rss_kib: last.peak_rss_kib,
            answered: answered(&last),
        });
    }
    started
}
