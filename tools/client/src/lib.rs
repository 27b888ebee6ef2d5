//! The API as its clients call it: one bucket of one namespace, with one key. Answers are
//! the API's JSON records; a refusal is the error envelope's message. The `uploads` CLI is
//! built on it, and the Rust tests use it where they act as a client would.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Where and as whom to call the API (`.local/dev.env` holds these four names).
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// The API's base URL.
    #[arg(
        long,
        env = "UPLOADS_API_URL",
        global = true,
        default_value = "http://127.0.0.1:9000"
    )]
    pub api_url: String,
    /// The API key (sk_…).
    #[arg(
        long,
        env = "UPLOADS_API_KEY",
        global = true,
        hide_env_values = true,
        default_value = ""
    )]
    pub api_key: String,
    /// The namespace, by id or name.
    #[arg(long, env = "UPLOADS_NAMESPACE", global = true, default_value = "")]
    pub namespace: String,
    /// The bucket, by id or name.
    #[arg(long, env = "UPLOADS_BUCKET", global = true, default_value = "")]
    pub bucket: String,
}

/// Why a call did not give what was asked: the API's refusal, or no answer at all.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{status}: {message}")]
    Refused {
        status: StatusCode,
        message: String,
        body: Value,
    },
    #[error("{0}")]
    Transport(String),
}

impl CallError {
    /// Worth trying again: no answer, or the service was throttling or unavailable.
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::Transport(_) => true,
            CallError::Refused { status, .. } => *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
        }
    }
}

pub struct Api {
    target: Target,
    http: reqwest::Client,
}

impl Api {
    /// The API at `target`, through one connection pool.
    pub fn new(target: Target) -> Result<Self, CallError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| CallError::Transport(e.to_string()))?;
        Ok(Self { target, http })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn uploads(&self) -> String {
        format!(
            "{}/v1/buckets/{}/uploads",
            self.target.api_url.trim_end_matches('/'),
            self.target.bucket
        )
    }

    pub async fn create_upload(&self, body: &Value) -> Result<Value, CallError> {
        self.call(Method::POST, self.uploads(), Some(body)).await
    }

    /// Creates up to 100 uploads: `{uploads, total}` in request order.
    pub async fn create_batch(&self, body: &Value) -> Result<Value, CallError> {
        self.call(Method::POST, format!("{}/batch", self.uploads()), Some(body))
            .await
    }

    /// Confirms up to 100 uploads in a task the API's worker runs.
    pub async fn confirm_batch(&self, body: &Value) -> Result<Value, CallError> {
        let url = format!("{}/confirm/batch", self.uploads());
        self.call(Method::POST, url, Some(body)).await
    }

    /// Confirms: at once, or (objects of 100 MiB or more) by the API's worker, when the answer
    /// is PROCESSING with a `task_id`. A multipart upload's body may list its parts' ETags,
    /// which the API checks against what S3 holds.
    pub async fn confirm(&self, upload_id: &str, body: Option<&Value>) -> Result<Value, CallError> {
        let url = format!("{}/{upload_id}/confirm", self.uploads());
        self.call(Method::POST, url, body).await
    }

    /// A multipart upload's part URLs (`{"part_numbers": […], "checksums_sha256": […]}`, at
    /// most 1000 a request) and the parts S3 holds already (`uploaded_parts`).
    pub async fn parts(&self, upload_id: &str, body: &Value) -> Result<Value, CallError> {
        let url = format!("{}/{upload_id}/parts", self.uploads());
        self.call(Method::POST, url, Some(body)).await
    }

    pub async fn get_upload(&self, upload_id: &str) -> Result<Value, CallError> {
        let url = format!("{}/{upload_id}?return_presigned_urls=true", self.uploads());
        self.call(Method::GET, url, None).await
    }

    pub async fn delete_upload(&self, upload_id: &str) -> Result<Value, CallError> {
        self.call(Method::DELETE, format!("{}/{upload_id}", self.uploads()), None)
            .await
    }

    pub async fn list(&self, query: &str, body: &Value) -> Result<Value, CallError> {
        self.call(Method::POST, format!("{}/list{query}", self.uploads()), Some(body))
            .await
    }

    pub async fn task(&self, task_id: &str) -> Result<Value, CallError> {
        let url = format!("{}/v1/tasks/{task_id}", self.target.api_url.trim_end_matches('/'));
        self.call(Method::GET, url, None).await
    }

    pub async fn usage(&self) -> Result<Value, CallError> {
        let url = format!("{}/v1/usage", self.target.api_url.trim_end_matches('/'));
        self.call(Method::GET, url, None).await
    }

    async fn call(&self, method: Method, url: String, body: Option<&Value>) -> Result<Value, CallError> {
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&self.target.api_key)
            .header("X-Namespace", &self.target.namespace)
            .timeout(Duration::from_secs(60));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| CallError::Transport(e.to_string()))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| CallError::Transport(e.to_string()))?;
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| body.to_string());
        Err(CallError::Refused { status, message, body })
    }
}
