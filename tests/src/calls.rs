//! Backend calls per request, counted by the SDK interceptor every app installs
//! (`bucket_uploads::calls`), for every endpoint, in a warm container: each request is
//! preceded by one like it, so the directory (keys, namespaces, buckets) is cached, as it
//! is for all but a container's first request. Each request runs as its function runs it:
//! authentication, then the use case.
//!
//! The API test `backend_calls` holds these to the targets; `make bench` prints them.

use crate::put;
use bucket_uploads::App;
use bucket_uploads::auth::{self, Caller, Scope};
use bucket_uploads::calls::of_service;
use bucket_uploads::confirm::{batch::confirm_uploads_batch, confirm_upload};
use bucket_uploads::ids::{BucketRef, TaskId, UploadId};
use bucket_uploads::listing::list_uploads;
use bucket_uploads::query::PageParams;
use bucket_uploads::uploads::{create_upload, create_uploads_batch, delete_upload, get_task, get_upload};
use serde_json::{Value, json};
use std::future::Future;

/// What one request cost.
#[derive(Debug, Clone)]
pub struct Counted {
    pub request: &'static str,
    pub dynamodb: u64,
    pub s3: u64,
    /// The operations, e.g. `DynamoDB.GetItem×1 S3.HeadObject×1`.
    pub operations: String,
}

impl Counted {
    pub fn total(&self) -> u64 {
        self.dynamodb + self.s3
    }
}

struct Client {
    app: App,
    authorization: String,
    namespace: String,
    bucket: BucketRef,
}

impl Client {
    /// What `http::scope` does with the request's headers.
    async fn scope(&self) -> Scope {
        auth::authenticate(&self.app.directory, Some(&self.authorization), Some(&self.namespace))
            .await
            .expect("the key and namespace check out")
    }

    async fn caller(&self) -> Caller {
        auth::identify(&self.app.directory, Some(&self.authorization), None)
            .await
            .expect("the key checks out")
    }

    /// Runs `request` and counts the calls it made.
    async fn count<T, F: Future<Output = T>>(&self, name: &'static str, request: impl FnOnce() -> F) -> (T, Counted) {
        self.app.calls.take();
        // Boxed: the use cases' futures are large, and a test thread's stack is not.
        let output = Box::pin(request()).await;
        let tally = self.app.calls.take();
        let operations = tally
            .iter()
            .map(|((service, operation), n)| format!("{service}.{operation}×{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        let counted = Counted {
            request: name,
            dynamodb: of_service(&tally, "DynamoDB"),
            s3: of_service(&tally, "S3"),
            operations,
        };
        (output, counted)
    }

    /// A request like the next one, so the container is warm for it.
    async fn warm_up(&self) {
        let scope = self.scope().await;
        bucket_uploads::uploads::resolve_bucket(&self.app, &scope, &self.bucket)
            .await
            .expect("the bucket resolves");
        // The tenant's quota, which creates and confirmations read.
        self.app
            .directory
            .quota(&scope.tenant_id)
            .await
            .expect("the tenant's quota");
        self.caller().await;
    }

    async fn create(&self, body: Value) -> Value {
        let upload = create_upload(&self.app, &self.scope().await, &self.bucket, Some(&body))
            .await
            .expect("create");
        serde_json::to_value(upload).expect("an upload serializes")
    }

    /// A PENDING upload whose bytes were PUT as Mixpeek documents it (kept PENDING: no
    /// ObjectCreated event confirms it before the confirmation counted).
    async fn uploaded(&self, bytes: &[u8]) -> UploadId {
        let created = self
            .create(json!({"filename": "a.bin", "content_type": "application/octet-stream",
                           "file_size_bytes": bytes.len(), "auto_confirm": false}))
            .await;
        let url = created["presigned_url"].as_str().expect("a presigned URL");
        assert_eq!(
            put(url, &[("content-type", "application/octet-stream")], bytes.to_vec()).await,
            200
        );
        upload_id(&created)
    }
}

fn upload_id(upload: &Value) -> UploadId {
    UploadId::parse(upload["upload_id"].as_str().expect("upload_id")).expect("an upload id")
}

fn small_body(name: &str) -> Value {
    json!({"filename": name, "content_type": "text/plain", "file_size_bytes": 5, "metadata": {"campaign": "c3"}})
}

/// Counts every endpoint's calls against the app's services, in a fresh tenant.
pub async fn count_every_endpoint(app: &App) -> Vec<Counted> {
    Box::pin(count_all(app)).await
}

async fn count_all(app: &App) -> Vec<Counted> {
    let made = crate::Tenancy::create(app, ["calls", "calls"], None).await;
    let c = Client {
        app: app.clone(),
        authorization: made.authorization(),
        namespace: made.namespace.name.clone(),
        bucket: made.bucket_ref(),
    };
    let mut counted = vec![];

    c.warm_up().await;
    let (created, n) = c
        .count("create", || async { c.create(small_body("one.txt")).await })
        .await;
    counted.push(n);
    let pending = upload_id(&created);

    c.warm_up().await;
    let items: Vec<Value> = (0..100).map(|i| small_body(&format!("b{i}.txt"))).collect();
    let body = json!({"uploads": items});
    let (_, n) = c
        .count("create batch of 100", || async {
            create_uploads_batch(&c.app, &c.scope().await, &c.bucket, Some(&body))
                .await
                .expect("batch create")
        })
        .await;
    counted.push(n);

    let confirmed = c.uploaded(b"hello").await;
    c.warm_up().await;
    let (response, n) = c
        .count("confirm (sync, small)", || async {
            confirm_upload(&c.app, &c.scope().await, &c.bucket, &confirmed, None, false).await
        })
        .await;
    assert_eq!(response.expect("confirm").status.as_str(), "COMPLETED");
    counted.push(n);

    let duplicate = c.uploaded(b"hello").await;
    c.warm_up().await;
    let (_, n) = c
        .count("confirm (sync, duplicate bytes)", || async {
            confirm_upload(&c.app, &c.scope().await, &c.bucket, &duplicate, None, false)
                .await
                .expect("confirm")
        })
        .await;
    counted.push(n);

    for (name, with_url, upload) in [
        ("get", false, &pending),
        ("get with return_presigned_urls", true, &confirmed),
    ] {
        c.warm_up().await;
        let (_, n) = c
            .count(name, || async {
                get_upload(&c.app, &c.scope().await, &c.bucket, upload, with_url)
                    .await
                    .expect("get")
            })
            .await;
        counted.push(n);
    }

    for (name, body) in [
        ("list, first page", json!({})),
        ("list, status filter", json!({"filters": {"status": "PENDING"}})),
        ("list, metadata filter", json!({"filters": {"metadata.campaign": "c3"}})),
    ] {
        c.warm_up().await;
        let (_, n) = c
            .count(name, || async {
                list_uploads(&c.app, &c.scope().await, &c.bucket, Some(&body), PageParams::default())
                    .await
                    .expect("list")
            })
            .await;
        counted.push(n);
    }

    let async_one = c.uploaded(b"later").await;
    c.warm_up().await;
    let (response, n) = c
        .count("confirm (async)", || async {
            confirm_upload(&c.app, &c.scope().await, &c.bucket, &async_one, None, true)
                .await
                .expect("confirm")
        })
        .await;
    counted.push(n);
    let task_id: TaskId = response.task_id.expect("a task");

    c.warm_up().await;
    let body = json!({"confirmations": [{"upload_id": pending.as_str()}]});
    let (_, n) = c
        .count("confirm batch", || async {
            confirm_uploads_batch(&c.app, &c.scope().await, &c.bucket, Some(&body))
                .await
                .expect("batch confirm")
        })
        .await;
    counted.push(n);

    // Warm for this: a request for the task before (the task's namespace is read by id).
    get_task(&c.app, &c.caller().await, &task_id).await.expect("task");
    let (_, n) = c
        .count("get task (no X-Namespace)", || async {
            get_task(&c.app, &c.caller().await, &task_id).await.expect("task")
        })
        .await;
    counted.push(n);

    let doomed = upload_id(&c.create(small_body("doomed.txt")).await);
    c.warm_up().await;
    let (_, n) = c
        .count("delete (PENDING)", || async {
            delete_upload(&c.app, &c.scope().await, &c.bucket, &doomed, true)
                .await
                .expect("delete")
        })
        .await;
    counted.push(n);
    counted
}
