//! Batch Confirm (`POST …/uploads/confirm/batch`, the SDK's `confirm_uploads_batch_buckets`):
//! up to 100 confirmations in one request, answered at once with a task
//! (`api_buckets_uploads_batch_confirm`) that the worker runs.
//!
//! The worker loops over the items, a few at a time, each through the same orchestrator as
//! a single confirmation ([`super::confirm`], origin [`Origin::BatchItem`]): exactly once,
//! duplicates detected, objects of any size copied in S3. A run that nears its time limit
//! saves the results it has and asks the state machine to run it again; items already done
//! are not redone. The task ends COMPLETED when every item completed,
//! COMPLETED_WITH_ERRORS when some did not, FAILED when none did.

use super::worker::Ran;
use super::{ConfirmError, ConfirmRequest, Origin, confirm};
use crate::app::App;
use crate::auth::Scope;
use crate::errors::{Failure, FieldError, Invalid, Loc, NotFound, RequestError};
use crate::ids::{BucketRef, TaskId, UploadId};
use crate::model::{
    BatchConfirmInputs, Bucket, ConfirmItem, ItemResult, Task, TaskKind, TaskStatus, TaskView, UploadStatus,
};
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::uploads::resolve_bucket;
use crate::validate::{FieldReader, list_of};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub const MAX_BATCH_CONFIRMATIONS: usize = 100;

/// Items confirmed at once by one worker run.
const CONCURRENCY: usize = 8;

/// A run stops starting items this long before its deadline, so the items under way finish
/// and the results are saved in time. The first `CONCURRENCY` items always start, so every
/// run makes progress whatever its time limit.
const DEADLINE_MARGIN_MS: i64 = 120_000;

const MESSAGE: &str = "Batch confirmation is being processed in the background.";

/// The contract's `BatchConfirmResponse`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchConfirmResponse<'a> {
    pub task_id: &'a TaskId,
    pub status: TaskStatus,
    pub confirmations_count: usize,
    pub task: TaskView<'a>,
    pub message: &'static str,
}

impl<'a> BatchConfirmResponse<'a> {
    pub fn new(task: &'a Task) -> Self {
        let confirmations_count = match &task.kind {
            TaskKind::ConfirmBatch { inputs, .. } => inputs.confirmations.len(),
            _ => 0,
        };
        Self {
            task_id: &task.task_id,
            status: task.status,
            confirmations_count,
            task: task.view(),
            message: MESSAGE,
        }
    }
}

/// `POST …/uploads/confirm/batch`: records the task and starts the worker.
pub async fn confirm_uploads_batch(
    app: &App,
    scope: &Scope,
    bucket: &BucketRef,
    body: Option<&Value>,
) -> Result<Task, RequestError> {
    let confirmations = parse(body)?;
    let bucket = resolve_bucket(app, scope, bucket).await?;
    let inputs = BatchConfirmInputs {
        bucket_id: bucket.bucket_id,
        confirmations,
    };
    let kind = TaskKind::ConfirmBatch {
        inputs,
        outputs: Vec::new(),
    };
    let task = Task::pending(TaskId::generate(), bucket.namespace_id, kind, Timestamp::now());
    app.store.insert_task(&task).await?;
    app.dispatcher.start(&task).await?;
    Ok(task)
}

/// `{confirmations: [{upload_id, etag?, file_size_bytes?}, 1..=100]}`, with no upload twice.
fn parse(body: Option<&Value>) -> Result<Vec<ConfirmItem>, Invalid> {
    let body = body.ok_or_else(|| Invalid::at(vec![Loc::from("body")], "missing", "Field required"))?;
    let mut r = FieldReader::object(body, vec![Loc::from("body")])?;
    r.forbid_unknown(&["confirmations"]);
    let mut errors = match r.finish() {
        Ok(()) => Vec::new(),
        Err(Invalid(errors)) => errors,
    };
    let items = list_of(body, "confirmations", MAX_BATCH_CONFIRMATIONS, &mut errors);
    let mut seen = BTreeSet::new();
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_loc = vec![Loc::from("body"), Loc::from("confirmations"), Loc::from(i)];
        match parse_item(item, item_loc.clone()) {
            Ok(confirmation) if !seen.insert(confirmation.upload_id.clone()) => {
                let mut loc = item_loc;
                loc.push(Loc::from("upload_id"));
                errors.push(FieldError::new(
                    loc,
                    "value_error",
                    format!("{} is confirmed twice in this request", confirmation.upload_id),
                ));
            }
            Ok(confirmation) => parsed.push(confirmation),
            Err(Invalid(item_errors)) => errors.extend(item_errors),
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(Invalid(errors))
    }
}

fn parse_item(item: &Value, loc: Vec<Loc>) -> Result<ConfirmItem, Invalid> {
    let mut r = FieldReader::object(item, loc.clone())?;
    r.forbid_unknown(&["upload_id", "etag", "file_size_bytes"]);
    let upload_id = r.required_str("upload_id").and_then(|id| {
        let parsed = UploadId::parse(id);
        if parsed.is_none() {
            r.error(
                "upload_id",
                "string_pattern_mismatch",
                "must be an upload id (upl_ and 26 base-32 characters)",
            );
        }
        parsed
    });
    let file_size_bytes = r
        .optional_u64("file_size_bytes")
        .and_then(|n| r.in_range("file_size_bytes", n, 1, u64::MAX));
    let etag = r.optional_str("etag").map(str::to_owned);
    r.finish()?;
    let upload_id = upload_id.ok_or_else(|| Invalid::at(loc, "missing", "Field required"))?;
    Ok(ConfirmItem {
        upload_id,
        etag,
        file_size_bytes,
    })
}

/// Runs the items of `task` not done yet, until they are all done or `deadline` nears, and
/// saves the results. Items whose dependencies were unavailable are left for the next run;
/// when only such items are left, the run fails as retryable (`Failure::Unavailable`).
pub async fn run(app: &App, task: Task, deadline: Timestamp) -> Result<Ran, Failure> {
    let TaskKind::ConfirmBatch { inputs, outputs } = &task.kind else {
        return Err(Failure::bug(format!(
            "task {} is not a batch confirmation",
            task.task_id
        )));
    };
    if task.status.is_terminal() {
        return Ok(Ran::Done(Box::new(task)));
    }
    let bucket = app
        .store
        .bucket(&inputs.bucket_id)
        .await?
        .ok_or_else(|| Failure::bug(format!("the bucket of task {} is gone", task.task_id)))?;
    let done: BTreeSet<&UploadId> = outputs.iter().map(|r| &r.upload_id).collect();
    let todo: Vec<&ConfirmItem> = inputs
        .confirmations
        .iter()
        .filter(|item| !done.contains(&item.upload_id))
        .collect();
    let in_time = |i: usize| i < CONCURRENCY || Timestamp::now().millis_until(deadline) > DEADLINE_MARGIN_MS;
    let results: Vec<Option<ItemResult>> = futures::stream::iter(todo.into_iter().enumerate())
        .take_while(|(i, _)| std::future::ready(in_time(*i)))
        .map(|(_, item)| confirm_item(app, &bucket, item))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let unavailable = results.iter().any(Option::is_none);
    let mut all = outputs.clone();
    all.extend(results.into_iter().flatten());
    let finished = all.len() == inputs.confirmations.len();
    let order: BTreeMap<&UploadId, usize> = inputs
        .confirmations
        .iter()
        .enumerate()
        .map(|(i, item)| (&item.upload_id, i))
        .collect();
    all.sort_by_key(|r| order.get(&r.upload_id).copied().unwrap_or(usize::MAX));
    let status = if finished { ended(&all) } else { TaskStatus::Processing };
    let updated = Task {
        status,
        kind: TaskKind::ConfirmBatch {
            inputs: inputs.clone(),
            outputs: all,
        },
        updated_at: Timestamp::now(),
        ..task.clone()
    };
    match app.store.update_task(&updated, task.status).await {
        Ok(()) => {}
        // Another run of the same task saved first: the next run starts from what it saved.
        Err(StoreError::Conflict(_)) => return Ok(Ran::More),
        Err(StoreError::Failure(failure)) => return Err(failure),
    }
    match (finished, unavailable) {
        (true, _) => Ok(Ran::Done(Box::new(updated))),
        (false, true) => Err(Failure::Unavailable),
        (false, false) => Ok(Ran::More),
    }
}

/// COMPLETED when every item completed, FAILED when none did, COMPLETED_WITH_ERRORS between.
fn ended(results: &[ItemResult]) -> TaskStatus {
    let completed = results.iter().filter(|r| r.status == TaskStatus::Completed).count();
    match completed {
        n if n == results.len() => TaskStatus::Completed,
        0 => TaskStatus::Failed,
        _ => TaskStatus::CompletedWithErrors,
    }
}

/// One item through the orchestrator; `None` when a dependency was unavailable (the item is
/// left for the next run).
async fn confirm_item(app: &App, bucket: &Bucket, item: &ConfirmItem) -> Option<ItemResult> {
    let outcome = async {
        let upload = app
            .store
            .upload(&item.upload_id)
            .await?
            .filter(|u| u.bucket_id == bucket.bucket_id)
            .ok_or_else(|| NotFound::new("upload", &item.upload_id))?;
        let request = ConfirmRequest {
            etag: item.etag.clone(),
            file_size_bytes: item.file_size_bytes,
            auto_submit_batch: false,
            parts: Vec::new(),
        };
        confirm(app, bucket, upload, &request, Origin::BatchItem).await
    }
    .await;
    let upload_id = item.upload_id.clone();
    Some(match outcome {
        Ok(upload) if upload.status == UploadStatus::Completed => ItemResult {
            upload_id,
            status: TaskStatus::Completed,
            object_id: upload.object_id,
            file_hash: upload.file_hash,
            is_duplicate: upload.is_duplicate,
            code: None,
            message: upload.message,
        },
        Ok(upload) => ItemResult {
            upload_id,
            status: TaskStatus::Processing,
            object_id: None,
            file_hash: None,
            is_duplicate: false,
            code: Some("upload_processing".into()),
            message: upload
                .task_id
                .map(|t| format!("The upload is being confirmed by task {t}.")),
        },
        Err(ConfirmError::Failure(Failure::Unavailable)) => return None,
        Err(err) => ItemResult {
            upload_id,
            status: TaskStatus::Failed,
            object_id: None,
            file_hash: None,
            is_duplicate: false,
            code: Some(err.code().into()),
            message: Some(err.client_message()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn locs(body: Value) -> Vec<Value> {
        match parse(Some(&body)) {
            Ok(_) => vec![],
            Err(Invalid(errors)) => errors.iter().map(|e| serde_json::to_value(&e.loc).unwrap()).collect(),
        }
    }

    #[test]
    fn confirmations_parse_and_refuse_what_does_not_fit() {
        let a = UploadId::generate();
        let b = UploadId::generate();
        let body = json!({"confirmations": [{"upload_id": a, "etag": "x", "file_size_bytes": 3}, {"upload_id": b}]});
        let items = parse(Some(&body)).unwrap();
        assert_eq!(items[0].upload_id, a);
        assert_eq!(items[0].file_size_bytes, Some(3));
        assert_eq!(items[1].etag, None);

        let twice = json!({"confirmations": [{"upload_id": a}, {"upload_id": b}, {"upload_id": a}]});
        assert_eq!(locs(twice), vec![json!(["body", "confirmations", 2, "upload_id"])]);
        let bad = json!({"confirmations": [{"upload_id": "nope"}, {"upload_id": b, "size": 1}], "x": 1});
        assert_eq!(
            locs(bad),
            vec![
                json!(["body", "x"]),
                json!(["body", "confirmations", 0, "upload_id"]),
                json!(["body", "confirmations", 1, "size"]),
            ]
        );
        let many: Vec<Value> = (0..101).map(|_| json!({"upload_id": UploadId::generate()})).collect();
        assert_eq!(
            locs(json!({"confirmations": many})),
            vec![json!(["body", "confirmations"])]
        );
        assert_eq!(
            locs(json!({"confirmations": []})),
            vec![json!(["body", "confirmations"])]
        );
    }

    fn result(status: TaskStatus) -> ItemResult {
        ItemResult {
            upload_id: UploadId::generate(),
            status,
            object_id: None,
            file_hash: None,
            is_duplicate: false,
            code: None,
            message: None,
        }
    }

    #[test]
    fn the_task_ends_by_how_many_items_completed() {
        let done = result(TaskStatus::Completed);
        let failed = result(TaskStatus::Failed);
        assert_eq!(ended(&[done.clone(), done.clone()]), TaskStatus::Completed);
        assert_eq!(ended(&[done.clone(), failed.clone()]), TaskStatus::CompletedWithErrors);
        assert_eq!(
            ended(&[failed.clone(), result(TaskStatus::Processing)]),
            TaskStatus::Failed
        );
    }
}
