//! `uploads put FILE…`: hash, create (with the hash, so bytes the bucket already holds are not
//! sent again), PUT to the presigned URL as Mixpeek documents it (retried with backoff),
//! confirm, and with `--wait` follow an asynchronous confirmation to its end.

use crate::client::{Api, CallError};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PUT_ATTEMPTS: u32 = 4;
const CHUNK: usize = 1 << 20;

pub struct PutOptions {
    pub metadata: Map<String, Value>,
    pub object_metadata: Map<String, Value>,
    pub wait: bool,
}

/// What became of one file.
pub enum Outcome {
    /// Confirmed (or already held): the upload as the API last answered it.
    Done {
        /// The path as given.
        name: String,
        upload: Value,
        transferred: bool,
    },
    Failed(String),
}

/// The file's SHA-256 (hex) and size, read once.
fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 4 * CHUNK];
    let mut size = 0u64;
    loop {
        match file.read(&mut buf)? {
            0 => return Ok((hex::encode(hasher.finalize()), size)),
            n => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
        }
    }
}

/// A file ready to create: its name, hash, size, type and the Create Upload body.
pub struct Prepared {
    pub path: PathBuf,
    /// The path as the user gave it, for messages.
    pub name: String,
    pub filename: String,
    pub size: u64,
    pub content_type: String,
    pub body: Value,
}

pub fn prepare(path: &Path, options: &PutOptions) -> Result<Prepared, String> {
    let name = path.display().to_string();
    let filename = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{name}: not a file name"))?
        .to_owned();
    let (sha256, size) = hash_file(path).map_err(|e| format!("{name}: {e}"))?;
    let content_type = mime_guess::from_path(path).first_or_octet_stream().to_string();
    let mut body = json!({
        "filename": filename,
        "content_type": content_type,
        "file_size_bytes": size,
        "file_hash": sha256,
    });
    if !options.metadata.is_empty() {
        body["metadata"] = Value::Object(options.metadata.clone());
    }
    if !options.object_metadata.is_empty() {
        body["object_metadata"] = Value::Object(options.object_metadata.clone());
    }
    Ok(Prepared {
        path: path.to_owned(),
        name,
        filename,
        size,
        content_type,
        body,
    })
}

pub async fn put_file(api: &Api, path: &Path, options: &PutOptions, bars: &MultiProgress) -> Outcome {
    let put = async {
        let file = prepare(path, options)?;
        let created = api
            .create_upload(&file.body)
            .await
            .map_err(|e| format!("{}: create: {e}", file.name))?;
        if created["status"] == "COMPLETED" {
            return Ok(Outcome::Done {
                name: file.name,
                upload: created,
                transferred: false,
            });
        }
        let upload_id = created["upload_id"].as_str().unwrap_or_default().to_owned();
        upload_bytes(api, &file, &created, bars, None).await?;
        confirm(api, &file.name, &upload_id, options.wait).await
    };
    match put.await {
        Ok(outcome) => outcome,
        Err(message) => Outcome::Failed(message),
    }
}

/// PUTs the file to the URL its upload was created with, with a bar of its own (and adds
/// to `total` when given).
pub async fn upload_bytes(
    api: &Api,
    file: &Prepared,
    created: &Value,
    bars: &MultiProgress,
    total: Option<&ProgressBar>,
) -> Result<(), String> {
    let url = created["presigned_url"]
        .as_str()
        .ok_or_else(|| format!("{}: the API gave no presigned_url", file.name))?;
    let bar = bars.add(progress_bar(&file.filename, file.size));
    let transfer = Transfer {
        api,
        path: &file.path,
        url,
        content_type: &file.content_type,
        size: file.size,
        bar: &bar,
    };
    let sent = send_with_retries(&transfer).await;
    bar.finish_and_clear();
    if let Some(total) = total {
        total.inc(file.size);
    }
    sent.map_err(|e| format!("{}: upload: {e}", file.name))
}

async fn confirm(api: &Api, name: &str, upload_id: &str, wait: bool) -> Result<Outcome, String> {
    let confirmed = api
        .confirm(upload_id)
        .await
        .map_err(|e| format!("{name}: confirm: {e}"))?;
    // The confirmation's answer is brief; the record is what the API holds now.
    let upload = match (confirmed["status"].as_str(), confirmed["task_id"].as_str()) {
        (Some("PROCESSING"), Some(task_id)) if wait => {
            let task = wait_for_task(api, task_id).await.map_err(|e| format!("{name}: {e}"))?;
            if task["status"] != "COMPLETED" {
                return Err(format!(
                    "{name}: the confirmation ended {}: {}",
                    task["status"], task["error"]
                ));
            }
            api.get_upload(upload_id).await.map_err(|e| format!("{name}: {e}"))?
        }
        (Some("PROCESSING"), _) => confirmed,
        _ => api.get_upload(upload_id).await.map_err(|e| format!("{name}: {e}"))?,
    };
    Ok(Outcome::Done {
        name: name.to_owned(),
        upload,
        transferred: true,
    })
}

pub fn progress_bar(filename: &str, size: u64) -> ProgressBar {
    let bar = ProgressBar::new(size);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:20!} {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}")
    {
        bar.set_style(style);
    }
    bar.set_message(filename.to_owned());
    bar
}

/// The bars, drawn only when standard output is a terminal.
pub fn bars(visible: bool) -> MultiProgress {
    if visible {
        MultiProgress::new()
    } else {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    }
}

/// One file's PUT to its presigned URL.
struct Transfer<'a> {
    api: &'a Api,
    path: &'a Path,
    url: &'a str,
    content_type: &'a str,
    size: u64,
    bar: &'a ProgressBar,
}

/// PUTs the file, starting over on a dropped connection or a 5xx/429 with backoff.
async fn send_with_retries(transfer: &Transfer<'_>) -> Result<(), CallError> {
    let mut attempt = 0;
    loop {
        transfer.bar.set_position(0);
        match send(transfer).await {
            Err(err) if err.is_transient() && attempt + 1 < PUT_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
            }
            result => return result,
        }
    }
}

async fn send(transfer: &Transfer<'_>) -> Result<(), CallError> {
    let &Transfer {
        api,
        path,
        url,
        content_type,
        size,
        bar,
    } = transfer;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?;
    let counted = bar.clone();
    let stream = chunks_of(file).map(move |chunk| {
        if let Ok(bytes) = &chunk {
            counted.inc(bytes.len() as u64);
        }
        chunk
    });
    let response = api
        .http()
        .put(url)
        .header("Content-Type", content_type)
        .header("Content-Length", size)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    Err(CallError::Refused {
        status,
        message: format!("S3 refused the bytes: {text}"),
        body: Value::String(text),
    })
}

/// The file in chunks of `CHUNK` bytes.
fn chunks_of(file: tokio::fs::File) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    futures::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt;
        let mut file = file?;
        let mut buf = vec![0; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(err) => Some((Err(err), None)),
        }
    })
}

/// Polls the task until it ends (COMPLETED, FAILED, …), backing off to 2 s between reads.
pub async fn wait_for_task(api: &Api, task_id: &str) -> Result<Value, CallError> {
    let mut pause = Duration::from_millis(200);
    loop {
        let task = api.task(task_id).await?;
        let status = task["status"].as_str().unwrap_or_default();
        if !matches!(status, "PENDING" | "QUEUED" | "IN_PROGRESS" | "PROCESSING") {
            return Ok(task);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}
