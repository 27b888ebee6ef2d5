//! Harness for the integration and end-to-end tests. `make test` starts DynamoDB Local, the
//! local S3 server and `cargo lambda watch`, and exports where they are; each test makes
//! its own tenant, so tests run in parallel without seeing each other's data.

pub mod calls;
pub mod events;
pub mod fake_runtime;
pub mod fault_proxy;
pub mod object_created;
pub mod stream;

use bucket_uploads::App;
use bucket_uploads::model::{Bucket, Namespace};
use bucket_uploads::tenancy;
use reqwest::{Method, Response};
use serde_json::Value;
use std::time::Duration;

/// Panics with a pointer to `make test` when the services are not there: these tests must
/// never pass by skipping.
fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run these tests through `make test`"))
}

/// The app's adapters against the local services, as the functions build them but without
/// their SDK timeouts: the tests' own reads (whole-table scans, recounts) may take longer than
/// any request's calls. `tests/tests/hung_dependency.rs` checks the timeouts themselves.
pub async fn app() -> App {
    let settings = bucket_uploads::app::Settings::from_env()
        .unwrap_or_else(|err| panic!("{err}: run these tests through `make test`"));
    let sdk = bucket_uploads::aws::function_sdk_config()
        .to_builder()
        .timeout_config(aws_smithy_types::timeout::TimeoutConfig::disabled())
        .build();
    App::new(&sdk, &settings)
}

pub fn api_url() -> String {
    required_env("UPLOADS_TEST_API_URL")
}

/// A second `cargo lambda watch` serving the same table, whose functions cannot reach S3
/// (their S3 endpoint is a closed port).
pub fn s3_down_api_url() -> String {
    required_env("UPLOADS_TEST_S3_DOWN_API_URL")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("HTTP client")
}

/// A fresh tenant's namespace, bucket and API key, made straight in the table.
pub struct Tenancy {
    pub tenant_id: bucket_uploads::ids::TenantId,
    pub namespace: Namespace,
    pub bucket: Bucket,
    pub key: bucket_uploads::auth::NewApiKey,
}

impl Tenancy {
    /// `names`: the namespace's and the bucket's.
    pub async fn create(app: &App, [namespace, bucket]: [&str; 2], max_file_size_bytes: Option<u64>) -> Self {
        let tenant = tenancy::create_tenant(&app.store, "test").await.expect("tenant");
        let namespace = tenancy::create_namespace(&app.store, &tenant.tenant_id, namespace)
            .await
            .expect("namespace");
        let bucket = tenancy::create_bucket(&app.store, &namespace.namespace_id, bucket, max_file_size_bytes)
            .await
            .expect("bucket");
        let key = tenancy::create_api_key(&app.store, &tenant.tenant_id, None)
            .await
            .expect("api key");
        Self {
            tenant_id: tenant.tenant_id,
            namespace,
            bucket,
            key,
        }
    }

    /// The `Authorization` header its key makes.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.key.plaintext)
    }

    /// The scope its key and namespace (by name) authenticate to, as a function finds it.
    pub async fn scope(&self, app: &App) -> bucket_uploads::auth::Scope {
        bucket_uploads::auth::authenticate(&app.directory, Some(&self.authorization()), Some(&self.namespace.name))
            .await
            .expect("the key and namespace check out")
    }

    pub fn bucket_ref(&self) -> bucket_uploads::ids::BucketRef {
        bucket_uploads::ids::BucketRef::parse(&self.bucket.name).expect("a bucket name")
    }
}

/// A tenant with one namespace, one bucket and one API key, all freshly made.
pub struct Tenant {
    pub app: App,
    pub tenant_id: bucket_uploads::ids::TenantId,
    pub key_id: bucket_uploads::ids::KeyId,
    pub api_key: String,
    pub namespace: Namespace,
    pub bucket: Bucket,
    client: reqwest::Client,
    base: String,
}

impl Tenant {
    pub async fn new() -> Self {
        Self::with_max_file_size(None).await
    }

    pub async fn with_max_file_size(max_file_size_bytes: Option<u64>) -> Self {
        let app = app().await;
        let made = Tenancy::create(&app, ["media", "photos"], max_file_size_bytes).await;
        Self {
            app,
            tenant_id: made.tenant_id,
            key_id: made.key.record.key_id,
            api_key: made.key.plaintext,
            namespace: made.namespace,
            bucket: made.bucket,
            client: http(),
            base: api_url(),
        }
    }

    /// A request with this tenant's key and namespace (by name).
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.request_in(&self.namespace.name, method, path)
    }

    /// A request with this tenant's key and the given `X-Namespace`.
    pub fn request_in(&self, namespace: impl AsRef<str>, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.request_via(&self.base, namespace, method, path)
    }

    /// A request with this tenant's key and `X-Namespace` to the API at `base`.
    pub fn request_via(
        &self,
        base: &str,
        namespace: impl AsRef<str>,
        method: Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&self.api_key)
            .header("X-Namespace", namespace.as_ref())
    }

    /// A stored PENDING upload of 3 bytes (`old.txt`) whose URL expired a minute ago.
    pub async fn expired_upload(&self) -> bucket_uploads::model::Upload {
        let body = serde_json::json!({"filename": "old.txt", "content_type": "text/plain", "file_size_bytes": 3});
        let new = bucket_uploads::uploads::NewUpload::parse(Some(&body), 10).expect("a valid upload");
        let created_at = bucket_uploads::time::Timestamp::now().plus_seconds(-3660);
        let upload = bucket_uploads::model::Upload {
            tenant_id: Some(self.tenant_id.clone()),
            ..new.into_pending(bucket_uploads::ids::UploadId::generate(), &self.bucket, created_at)
        };
        let quota = bucket_uploads::quota::Quota::DEFAULT;
        self.app
            .store
            .insert_upload(&upload, &quota)
            .await
            .expect("insert upload");
        upload
    }

    pub fn uploads_path(&self) -> String {
        format!("/v1/buckets/{}/uploads", self.bucket.name)
    }

    /// Creates an upload with `body`. Unless `body` says otherwise, with `"auto_confirm":
    /// false`: the tests of explicit confirmation need the upload to stay PENDING after its
    /// PUT, which local-s3's ObjectCreated event would otherwise confirm (tests/tests/
    /// auto_confirm.rs tests that path).
    pub async fn create_upload(&self, mut body: Value) -> Value {
        if let Some(fields) = body.as_object_mut() {
            fields.entry("auto_confirm").or_insert(Value::Bool(false));
        }
        let response = self
            .request(Method::POST, &self.uploads_path())
            .json(&body)
            .send()
            .await
            .expect("create upload");
        expect_json(response, 200).await
    }

    /// Creates an upload for `bytes` (plus any `extra` body fields) and PUTs them as Mixpeek
    /// documents it: Content-Type and the bytes (and the checksum when it was required).
    pub async fn uploaded(&self, bytes: &[u8], extra: Value) -> Value {
        let mut body = serde_json::json!({
            "filename": "data.bin", "content_type": "application/octet-stream", "file_size_bytes": bytes.len(),
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let created = self.create_upload(body).await;
        let mut headers = vec![("content-type", "application/octet-stream".to_owned())];
        if extra["checksum_required"] == true {
            headers.push(("x-amz-checksum-sha256", sha256_base64(bytes)));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let url = created["presigned_url"].as_str().expect("presigned_url");
        assert_eq!(
            put(url, &headers, bytes.to_vec()).await,
            200,
            "PUT to the presigned URL"
        );
        created
    }

    pub async fn confirm(&self, upload_id: impl AsRef<str>, body: Option<Value>) -> Response {
        let upload_id = upload_id.as_ref();
        let mut request = self.request(Method::POST, &format!("{}/{}/confirm", self.uploads_path(), upload_id));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("confirm upload")
    }

    /// `POST …/uploads/list` with `query` (e.g. `?limit=5`) and `body`.
    pub async fn list(&self, query: &str, body: Value) -> Response {
        self.request(Method::POST, &format!("{}/list{query}", self.uploads_path()))
            .json(&body)
            .send()
            .await
            .expect("list uploads")
    }

    /// The bucket, named as the tests' paths name it (by name).
    pub fn bucket_ref(&self) -> bucket_uploads::ids::BucketRef {
        bucket_uploads::ids::BucketRef::Name(self.bucket.name.clone())
    }

    /// The caller's scope, for calling the domain in-process.
    pub fn scope(&self) -> bucket_uploads::auth::Scope {
        bucket_uploads::auth::Scope {
            tenant_id: self.tenant_id.clone(),
            key_id: self.key_id.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// The bytes behind the upload's download URL (GET with `return_presigned_urls=true`).
    pub async fn downloaded(&self, upload_id: impl AsRef<str>) -> Vec<u8> {
        let upload = expect_json(self.get_upload(upload_id, "?return_presigned_urls=true").await, 200).await;
        let url = upload["presigned_url"]
            .as_str()
            .unwrap_or_else(|| panic!("no download URL: {upload}"));
        let response = http().get(url).send().await.expect("download");
        assert_eq!(response.status().as_u16(), 200, "download refused");
        response.bytes().await.expect("downloaded bytes").to_vec()
    }

    pub async fn get_upload(&self, upload_id: impl AsRef<str>, query: &str) -> Response {
        let upload_id = upload_id.as_ref();
        self.request(Method::GET, &format!("{}/{}{}", self.uploads_path(), upload_id, query))
            .send()
            .await
            .expect("get upload")
    }
}

/// Asserts the status and returns the JSON body, showing the body when the status is off.
pub async fn expect_json(response: Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let text = response.text().await.expect("response body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts an error envelope of the contract: `{"success": false, "status", "error": {...}}`.
pub async fn expect_error(response: Response, status: u16, error_type: &str) -> Value {
    let body = expect_json(response, status).await;
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["error"]["type"], error_type, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    body
}

/// Asserts a 422 that both clients parse: the seeds' detail list, inside the contract's
/// envelope (`type: ValidationError`, the list again under `details.errors`). Returns the
/// `loc`s.
pub async fn expect_validation(response: Response) -> Vec<Value> {
    let body = expect_json(response, 422).await;
    let detail = body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("no detail list: {body}"));
    assert!(!detail.is_empty(), "{body}");
    for entry in detail {
        assert!(
            entry["loc"].is_array() && entry["msg"].is_string() && entry["type"].is_string(),
            "{entry}"
        );
    }
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["status"], 422, "{body}");
    assert_eq!(body["error"]["type"], "ValidationError", "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert_eq!(body["error"]["details"]["errors"], body["detail"], "{body}");
    detail.iter().map(|e| e["loc"].clone()).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

pub fn sha256_base64(bytes: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

/// PUTs `body` to a presigned URL with exactly the given headers and returns the status.
pub async fn put(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> u16 {
    let mut request = http().put(url).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("PUT").status().as_u16()
}

/// Writes `bytes` to `key` with the service's own credentials, around any presigned URL.
pub async fn put_directly(app: &App, key: &str, bytes: Vec<u8>) {
    app.objects
        .client()
        .put_object()
        .bucket(app.objects.bucket())
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from(bytes))
        .send()
        .await
        .unwrap_or_else(|err| panic!("PutObject {key}: {err:?}"));
}

/// Writes `bytes` to `key` as a confirmation's copy leaves them: with their SHA-256, which
/// S3 then reports.
pub async fn put_as_copied(app: &App, key: &str, bytes: Vec<u8>) {
    use base64::Engine;
    use sha2::Digest;
    let sha256 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes));
    app.objects
        .client()
        .put_object()
        .bucket(app.objects.bucket())
        .key(key)
        .checksum_sha256(sha256)
        .body(aws_sdk_s3::primitives::ByteStream::from(bytes))
        .send()
        .await
        .unwrap_or_else(|err| panic!("PutObject {key}: {err:?}"));
}

/// Invokes a function without a route (a stream or queue consumer) through `cargo lambda
/// watch`'s Lambda endpoint, as its event source would, and returns its answer.
pub async fn invoke(function: &str, payload: &Value) -> Value {
    let url = format!("{}/2015-03-31/functions/{function}/invocations", api_url());
    let response = http()
        .post(url)
        .json(payload)
        .send()
        .await
        .unwrap_or_else(|err| panic!("invoke {function}: {err}"));
    expect_json(response, 200).await
}

/// The SHA-256 hex of what S3 holds at `key`, or `None` when nothing is there.
pub async fn stored_sha256(app: &App, key: &str) -> Option<String> {
    app.objects.sha256_hex(key).await.expect("read object")
}

/// Object items of the table that belong to `upload_ids`, read straight from DynamoDB.
pub async fn objects_of(app: &App, upload_ids: &std::collections::BTreeSet<String>) -> Vec<String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let page = app
            .store
            .client()
            .scan()
            .table_name(app.store.table())
            .filter_expression("sk = :object")
            .expression_attribute_values(":object", AttributeValue::S("object".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            if item
                .get("upload_id")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|u| upload_ids.contains(u))
            {
                found.push(item["object_id"].as_s().expect("object_id").clone());
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return found;
        }
    }
}

impl Tenant {
    /// The bucket's counters, as List's stats show them.
    pub async fn counted(&self) -> bucket_uploads::query::Stats {
        let counts = self.app.store.bucket_counts(&self.bucket.bucket_id).await;
        bucket_uploads::query::Stats::of_counts(&counts.expect("read the bucket's counters"))
    }

    /// Every upload item of the bucket, read from its index.
    async fn bucket_items(&self) -> Vec<bucket_uploads::store::Item> {
        let read = self
            .app
            .store
            .query_index(
                &bucket_uploads::store::IndexQuery {
                    index: bucket_uploads::store::schema::BY_CREATED_AT,
                    partition: self.bucket.bucket_id.as_str(),
                    from: None,
                    until: None,
                    ascending: true,
                    max_items: None,
                    projection: None,
                },
                &bucket_uploads::store::ReadBudget::unlimited(),
            )
            .await
            .unwrap_or_else(|err| panic!("query the bucket's index: {err:?}"));
        read.items
    }

    /// The bucket's uploads recounted from its index, as List's stats count them.
    pub async fn recount(&self) -> bucket_uploads::query::Stats {
        let uploads: Vec<Value> = self
            .bucket_items()
            .await
            .into_iter()
            .map(|item| bucket_uploads::store::from_item(item).expect("an upload item"))
            .collect();
        bucket_uploads::query::Stats::of(&uploads)
    }

    /// The tenant's usage as its usage item holds it.
    pub async fn usage(&self) -> bucket_uploads::quota::Usage {
        self.app
            .store
            .usage(&self.tenant_id)
            .await
            .expect("read the tenant's usage")
    }

    /// The tenant's usage recounted from every upload of its bucket (this tenant has one).
    pub async fn recount_usage(&self) -> bucket_uploads::quota::Usage {
        let mut usage = bucket_uploads::quota::Usage::default();
        for item in self.bucket_items().await {
            let upload: bucket_uploads::model::Upload = bucket_uploads::store::from_item(item).expect("an upload item");
            if upload.tenant_id.as_ref() != Some(&self.tenant_id) {
                continue;
            }
            let held = bucket_uploads::quota::Usage::held_by(&upload);
            usage.bytes_stored += held.bytes_stored;
            usage.bytes_reserved += held.bytes_reserved;
            usage.pending_uploads += held.pending_uploads;
        }
        usage
    }

    /// Gives the tenant its own storage limits. Set them before its first request: warm
    /// function containers keep what they read for the directory's TTL.
    pub async fn set_quota(&self, quota: bucket_uploads::quota::QuotaOverride) {
        bucket_uploads::tenancy::set_quota(&self.app.store, &self.tenant_id, &quota)
            .await
            .expect("set the tenant's quota");
    }

    /// A PENDING task and its PROCESSING upload, as the confirm endpoint leaves them, without
    /// starting any worker.
    pub async fn processing(&self, upload: &bucket_uploads::model::Upload) -> bucket_uploads::model::Task {
        processing(&self.app, &self.namespace.namespace_id, upload).await
    }

    /// Polls `GET /v1/tasks/{task_id}` until the task is terminal.
    pub async fn wait_for_task(&self, task_id: &str, timeout: Duration) -> Value {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let response = self
                .request(Method::GET, &format!("/v1/tasks/{task_id}"))
                .send()
                .await
                .expect("get task");
            let task = expect_json(response, 200).await;
            let status = task["status"].as_str().unwrap_or_default();
            if ["COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELED"].contains(&status) {
                return task;
            }
            assert!(std::time::Instant::now() < deadline, "task {task_id} still {status}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A PENDING task of `namespace_id` and its PROCESSING upload, as the confirm endpoint leaves
/// them, without starting any worker.
pub async fn processing(
    app: &App,
    namespace_id: &bucket_uploads::ids::NamespaceId,
    upload: &bucket_uploads::model::Upload,
) -> bucket_uploads::model::Task {
    use bucket_uploads::model::{ConfirmInputs, Task, TaskKind};
    let inputs = ConfirmInputs {
        upload_id: upload.upload_id.clone(),
        bucket_id: upload.bucket_id.clone(),
        etag: None,
        file_size_bytes: None,
        auto_submit_batch: false,
    };
    let task = Task::pending(
        bucket_uploads::ids::TaskId::generate(),
        namespace_id.clone(),
        TaskKind::Confirm { inputs, outputs: None },
        bucket_uploads::time::Timestamp::now(),
    );
    let transition = upload.start_processing(task.task_id.clone());
    app.store
        .start_processing(&transition, &task)
        .await
        .expect("the upload was PENDING");
    task
}
