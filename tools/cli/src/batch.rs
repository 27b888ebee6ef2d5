//! `uploads put` of several files: one batch create per 100 files, the PUTs `parallel` at a
//! time under a total bar, then one batch confirm, whose task is followed to its end; three
//! batches under way at once. Files that go multipart (batch create refuses them) are sent one
//! after the other afterwards, each `parallel` parts at a time.

use crate::put::{
    Outcome, Prepared, PutOptions, nothing_transferred, prepare, put_prepared, upload_bytes, wait_for_task,
};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use uploads_client::Api;

/// The API's limit per batch request.
const BATCH: usize = 100;
/// Batches under way at once.
const BATCHES_AT_ONCE: usize = 3;
/// Confirmed uploads read back at once.
const READS_AT_ONCE: usize = 16;

/// What became of one file's bytes before the confirmation.
enum Delivery {
    /// The bucket held them already: created COMPLETED.
    Held(Value),
    Sent(String),
    Failed(String),
}

/// Each file's outcome, in the order given.
pub async fn put_many(api: &Api, paths: &[PathBuf], options: &PutOptions, bars: &MultiProgress) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(paths.len());
    let (mut batched, mut batched_at) = (Vec::new(), Vec::new());
    let mut parted = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        match prepare(path, options) {
            Ok(file) if file.parts.is_some() => parted.push((i, file)),
            Ok(file) => {
                batched.push(file);
                batched_at.push(i);
            }
            Err(message) => outcomes.push((i, Outcome::Failed(message))),
        }
    }
    // Batches overlap: while one batch's confirmation runs in the API's worker, the next
    // one's bytes are sent.
    let done: Vec<Outcome> = futures::stream::iter(batched.chunks(BATCH))
        .map(|chunk| put_chunk(api, chunk, bars, options.parallel))
        .buffered(BATCHES_AT_ONCE)
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    outcomes.extend(batched_at.into_iter().zip(done));
    for (i, file) in parted {
        outcomes.push((i, put_prepared(api, &file, options, bars).await));
    }
    outcomes.sort_by_key(|(i, _)| *i);
    outcomes.into_iter().map(|(_, outcome)| outcome).collect()
}

async fn put_chunk(api: &Api, files: &[Prepared], bars: &MultiProgress, parallel: usize) -> Vec<Outcome> {
    let all_failed = |message: String| -> Vec<Outcome> {
        files
            .iter()
            .map(|f| Outcome::Failed(format!("{}: {message}", f.name)))
            .collect()
    };
    let body = json!({"uploads": files.iter().map(|f| f.body.clone()).collect::<Vec<_>>()});
    let created = match api.create_batch(&body).await {
        Ok(created) => created,
        Err(err) => return all_failed(format!("batch create: {err}")),
    };
    let uploads = created["uploads"].as_array().cloned().unwrap_or_default();
    if uploads.len() != files.len() {
        return all_failed(format!("batch create answered {} uploads", uploads.len()));
    }
    let total = bars.add(ProgressBar::new(files.iter().map(|f| f.size).sum()));
    if let Ok(style) =
        ProgressStyle::with_template("total {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}")
    {
        total.set_style(style);
    }
    let sent: Vec<Delivery> = futures::stream::iter(files.iter().zip(&uploads))
        .map(|(file, upload)| {
            let total = &total;
            async move {
                if upload["status"] == "COMPLETED" {
                    total.inc(file.size);
                    return Delivery::Held(upload.clone());
                }
                let upload_id = upload["upload_id"].as_str().unwrap_or_default().to_owned();
                match upload_bytes(api, file, upload, bars, Some(total)).await {
                    Ok(()) => Delivery::Sent(upload_id),
                    Err(message) => Delivery::Failed(message),
                }
            }
        })
        .buffered(parallel.max(1))
        .collect()
        .await;
    total.finish_and_clear();

    let to_confirm: Vec<&str> = sent
        .iter()
        .filter_map(|s| match s {
            Delivery::Sent(id) => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let confirmed = match confirm_all(api, &to_confirm).await {
        Ok(results) => results,
        Err(message) => to_confirm
            .iter()
            .map(|id| ((*id).to_owned(), Err(message.clone())))
            .collect(),
    };
    futures::stream::iter(files.iter().zip(sent))
        .map(|(file, sent)| {
            let confirmed = &confirmed;
            async move {
                match sent {
                    Delivery::Held(upload) => Outcome::Done {
                        name: file.name.clone(),
                        upload,
                        note: nothing_transferred(),
                    },
                    Delivery::Failed(message) => Outcome::Failed(message),
                    Delivery::Sent(id) => match confirmed.get(&id) {
                        Some(Ok(())) => match api.get_upload(&id).await {
                            Ok(upload) => Outcome::Done {
                                name: file.name.clone(),
                                upload,
                                note: None,
                            },
                            Err(err) => Outcome::Failed(format!("{}: {err}", file.name)),
                        },
                        Some(Err(message)) => Outcome::Failed(format!("{}: confirm: {message}", file.name)),
                        None => Outcome::Failed(format!("{}: the batch confirmation did not report it", file.name)),
                    },
                }
            }
        })
        .buffered(READS_AT_ONCE)
        .collect()
        .await
}

/// Confirms the uploads in one batch and follows its task: each upload's result.
async fn confirm_all(api: &Api, upload_ids: &[&str]) -> Result<HashMap<String, Result<(), String>>, String> {
    if upload_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let body = json!({"confirmations": upload_ids.iter().map(|id| json!({"upload_id": id})).collect::<Vec<_>>()});
    let answer = api
        .confirm_batch(&body)
        .await
        .map_err(|e| format!("batch confirm: {e}"))?;
    let task_id = answer["task_id"].as_str().ok_or("batch confirm gave no task")?;
    let task = wait_for_task(api, task_id).await.map_err(|e| e.to_string())?;
    let outputs = task["outputs"].as_array().cloned().unwrap_or_default();
    Ok(outputs
        .iter()
        .map(|item| {
            let id = item["upload_id"].as_str().unwrap_or_default().to_owned();
            let result = if item["status"] == "COMPLETED" {
                Ok(())
            } else {
                Err(format!(
                    "{} {}: {}",
                    item["status"].as_str().unwrap_or_default(),
                    item["code"].as_str().unwrap_or_default(),
                    item["message"].as_str().unwrap_or_default()
                ))
            };
            (id, result)
        })
        .collect())
}
