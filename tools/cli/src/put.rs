//! `uploads put FILE…`: hash, create (with the hash, so bytes the bucket already holds are not
//! sent again), PUT to the presigned URL as Mixpeek documents it (retried with backoff), or
//! in parts above `--multipart-threshold` (multipart.rs), confirm, and with `--wait` follow
//! an asynchronous confirmation to its end.

use crate::multipart;
use crate::parts::{MAX_SINGLE_PUT, Plan, hash_file};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use uploads_client::{Api, CallError};

pub const PUT_ATTEMPTS: u32 = 4;
const CHUNK: usize = 1 << 20;

pub struct PutOptions {
    pub metadata: Map<String, Value>,
    pub object_metadata: Map<String, Value>,
    pub wait: bool,
    /// Files larger than this go multipart (those over 5 GiB always do).
    pub multipart_threshold: u64,
    /// The part size asked for (`--part-size`), before [`Plan::choose`] raises it.
    pub part_size: Option<u64>,
    /// Files PUT at once when there are several; parts of one file at once.
    pub parallel: usize,
}

/// What became of one file.
pub enum Outcome {
    /// Confirmed (or already held): the upload as the API last answered it.
    Done {
        /// The path as given.
        name: String,
        upload: Value,
        /// What people are told besides the upload's line (bytes not sent, parts resumed).
        note: Option<String>,
    },
    Failed(String),
}

/// The note of a file whose bytes the bucket held already.
pub fn nothing_transferred() -> Option<String> {
    Some("the bucket already holds these bytes: nothing transferred".to_owned())
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
    /// How a multipart file is cut, and each part's SHA-256 (hex); `None` for a single PUT.
    pub parts: Option<Parted>,
}

pub struct Parted {
    pub plan: Plan,
    pub checksums: Vec<String>,
}

pub fn prepare(path: &Path, options: &PutOptions) -> Result<Prepared, String> {
    let name = path.display().to_string();
    let filename = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{name}: not a file name"))?
        .to_owned();
    // The size decides, before the file is read, whether it is read in parts too.
    let size = std::fs::metadata(path).map_err(|e| format!("{name}: {e}"))?.len();
    let plan =
        (size > options.multipart_threshold || size > MAX_SINGLE_PUT).then(|| Plan::choose(size, options.part_size));
    let digests = hash_file(path, plan.map(|p| p.part_size)).map_err(|e| format!("{name}: {e}"))?;
    if digests.size != size {
        return Err(format!(
            "{name}: changed while it was read ({size} bytes, then {})",
            digests.size
        ));
    }
    let content_type = mime_guess::from_path(path).first_or_octet_stream().to_string();
    let mut body = json!({
        "filename": filename,
        "content_type": content_type,
        "file_size_bytes": size,
        "file_hash": digests.sha256,
    });
    if let Some(plan) = plan {
        body["multipart"] = json!(true);
        body["part_size_bytes"] = json!(plan.part_size);
    }
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
        parts: plan.map(|plan| Parted {
            plan,
            checksums: digests.parts,
        }),
    })
}

pub async fn put_file(api: &Api, path: &Path, options: &PutOptions, bars: &MultiProgress) -> Outcome {
    match prepare(path, options) {
        Ok(file) => put_prepared(api, &file, options, bars).await,
        Err(message) => Outcome::Failed(message),
    }
}

/// One file through single create: in one PUT, or in parts.
pub async fn put_prepared(api: &Api, file: &Prepared, options: &PutOptions, bars: &MultiProgress) -> Outcome {
    let put = async {
        if let Some(parts) = &file.parts {
            return multipart::put(api, file, parts, options, bars).await;
        }
        let created = api
            .create_upload(&file.body)
            .await
            .map_err(|e| format!("{}: create: {e}", file.name))?;
        if created["status"] == "COMPLETED" {
            return Ok(Outcome::Done {
                name: file.name.clone(),
                upload: created,
                note: nothing_transferred(),
            });
        }
        let upload_id = created["upload_id"].as_str().unwrap_or_default().to_owned();
        upload_bytes(api, file, &created, bars, None).await?;
        confirm(api, &file.name, &upload_id, None, options.wait).await
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

/// Confirms (a multipart upload with its parts' ETags in `body`) and, with `wait`, follows an
/// asynchronous confirmation to its end.
pub async fn confirm(
    api: &Api,
    name: &str,
    upload_id: &str,
    body: Option<&Value>,
    wait: bool,
) -> Result<Outcome, String> {
    let confirmed = api
        .confirm(upload_id, body)
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
        note: None,
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
                tokio::time::sleep(backoff(attempt)).await;
            }
            result => return result,
        }
    }
}

/// The pause before attempt `attempt + 1`: 0.5 s, 1 s, 2 s, …
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(8))
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

/// The file (or a part of it) in chunks of `CHUNK` bytes.
pub fn chunks_of<R>(file: R) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
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
