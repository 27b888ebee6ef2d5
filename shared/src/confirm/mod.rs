//! Confirm Upload: verify the stored bytes, record them, deduplicate — exactly once.
//!
//! [`confirm`] is the one orchestrator: the HTTP endpoint, the asynchronous worker
//! ([`worker`]) and the tests all call it. It asks [`next_step`] what to do with the upload
//! (a pure decision), then verifies ([`verify`]: check the staged bytes, copy them to the
//! final key, where S3 computes their SHA-256) and records ([`Upload::complete`] decides
//! what, the store writes it in one transaction), or hands the upload to the worker, or
//! fails it. Errors are [`ConfirmError`]s.

pub mod auto;
pub mod batch;
mod decision;
mod error;
mod late;
mod parts;
mod request;
mod verify;
pub mod worker;

pub use decision::{Origin, Step, next_step};
pub use error::{ConfirmError, Mismatch};
pub use request::{ConfirmRequest, PartEtag};
pub use verify::{Located, LongWork, Rejection, Verdict, etags_match, locate, verify};

use crate::app::App;
use crate::auth::Scope;
use crate::errors::Failure;
use crate::errors::NotFound;
use crate::ids::NamespaceId;
use crate::ids::{BatchId, BucketRef, ObjectId, TaskId, UploadId, auto_batch_ids};
use crate::model::{
    Bucket, ConfirmInputs, ConfirmProgress, Task, TaskKind, TaskStatus, Upload, UploadStatus, Verified,
};
use crate::objects::RunBudget;
use crate::quota::{Quota, UsageDelta};
use crate::store::{Conflict, StoreError};
use crate::time::Timestamp;
use crate::uploads::{ReadError, load_upload};
use parts::Parts;
use serde::Serialize;
use serde_json::Value;

/// How often a completion is retried when another upload of the same bytes wins the race
/// to become the original (each retry then completes as its duplicate).
const MAX_ATTEMPTS: usize = 4;

/// Objects this large are confirmed asynchronously whatever the request says.
pub const ASYNC_THRESHOLD_BYTES: u64 = 100 * 1024 * 1024;

/// The contract's `ConfirmUploadResponse`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfirmResponse {
    pub upload_id: UploadId,
    pub status: UploadStatus,
    pub etag: Option<String>,
    pub file_size_bytes: Option<u64>,
    pub file_hash: Option<String>,
    pub verified_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub object_id: Option<ObjectId>,
    pub task_id: Option<TaskId>,
    pub batch_id: Option<BatchId>,
    pub message: Option<String>,
}

impl From<Upload> for ConfirmResponse {
    /// Built from the stored record alone, so every confirmation of one upload answers alike.
    fn from(upload: Upload) -> Self {
        let (batch_id, batch_task) = auto_batch_ids(&upload.upload_id);
        let batch_id = (upload.task_id.as_ref() == Some(&batch_task)).then_some(batch_id);
        Self {
            upload_id: upload.upload_id,
            status: upload.status,
            etag: upload.etag,
            file_size_bytes: upload.file_size_bytes,
            file_hash: upload.file_hash,
            verified_at: upload.verified_at,
            completed_at: upload.completed_at,
            object_id: upload.object_id,
            batch_id,
            task_id: upload.task_id,
            message: upload.message,
        }
    }
}

impl From<ReadError> for ConfirmError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::NotFound(not_found) => not_found.into(),
            ReadError::Failure(failure) => failure.into(),
        }
    }
}

/// `POST …/uploads/{upload_id}/confirm`: reads the caller's upload and confirms it.
pub async fn confirm_upload(
    app: &App,
    scope: &Scope,
    bucket: &BucketRef,
    upload_id: &UploadId,
    body: Option<&Value>,
    run_async: bool,
) -> Result<ConfirmResponse, ConfirmError> {
    let request = ConfirmRequest::parse(body)?;
    let (bucket, upload) = load_upload(app, scope, bucket, upload_id).await?;
    confirm(app, &bucket, upload, &request, Origin::Client { run_async })
        .await
        .map(ConfirmResponse::from)
}

/// Confirms `upload` of `bucket` as it was read, and returns its record as it then stands:
/// COMPLETED, or PROCESSING when it went to the worker. The one entry point of every
/// confirmation.
pub async fn confirm(
    app: &App,
    bucket: &Bucket,
    upload: Upload,
    request: &ConfirmRequest,
    origin: Origin<'_>,
) -> Result<Upload, ConfirmError> {
    // A client's (or batch item's) claims and batch still count when another confirmation
    // took the upload first.
    let late = matches!(origin, Origin::Client { .. } | Origin::BatchItem) && late::asks_anything(request);
    match next_step(&upload, Timestamp::now(), origin) {
        Step::Settled if late && upload.status == UploadStatus::Completed => {
            Box::pin(late::completed(app, bucket, upload, request)).await
        }
        Step::Settled => Ok(upload),
        Step::Refuse => Err(refusal(&upload)),
        // Only a client restarts a task that never ran: the worker has no state machine to
        // start (and a batch item reports the upload as being confirmed).
        Step::Resume if matches!(origin, Origin::Client { .. }) => {
            let upload = resume(app, upload).await?;
            late_processing(app, bucket, upload, request, late).await
        }
        Step::Resume => late_processing(app, bucket, upload, request, late).await,
        Step::Expire => expire(app, upload).await,
        Step::Verify => match verify_and_record(app, bucket, upload, request, origin).await? {
            // Completed by this confirmation (its claims held, its batch is in), or by
            // another that won the race.
            done if late && done.status == UploadStatus::Completed => {
                Box::pin(late::completed(app, bucket, done, request)).await
            }
            other => Ok(other),
        },
    }
}

async fn late_processing(
    app: &App,
    bucket: &Bucket,
    upload: Upload,
    request: &ConfirmRequest,
    late: bool,
) -> Result<Upload, ConfirmError> {
    if late {
        Box::pin(late::processing(app, bucket, upload, request)).await
    } else {
        Ok(upload)
    }
}

async fn verify_and_record(
    app: &App,
    bucket: &Bucket,
    upload: Upload,
    request: &ConfirmRequest,
    origin: Origin<'_>,
) -> Result<Upload, ConfirmError> {
    if let Some(multipart) = &upload.multipart {
        // A large object's parts are joined by the worker (S3 may take minutes to join
        // thousands); a client's confirmation only checks they are all there.
        let defer = origin
            .may_defer()
            .is_some_and(|run_async| run_async || upload.counted_bytes() >= ASYNC_THRESHOLD_BYTES);
        if parts::complete(app, &upload, multipart, request, !defer).await? == Parts::Ready {
            return start_async(app, upload, request, bucket).await;
        }
    }
    let (located, quota) = tokio::join!(locate(&app.objects, &upload), tenant_quota(app, &upload));
    let (Some(located), quota) = (located?, quota?) else {
        return not_uploaded(app, &upload).await;
    };
    let max_file_size_bytes = quota.map_or(bucket.max_file_size_bytes, |q| {
        bucket.max_file_size_bytes.min(q.max_file_size_bytes)
    });
    if origin
        .may_defer()
        .is_some_and(|run_async| run_async || located.info().size >= ASYNC_THRESHOLD_BYTES)
    {
        return start_async(app, upload, request, bucket).await;
    }
    let task = match origin {
        Origin::Worker(task, _) => Some(task),
        Origin::Client { .. } | Origin::BatchItem | Origin::Event { .. } => None,
    };
    let long_work = match origin {
        Origin::Worker(task, deadline) => Some(LongWork {
            budget: RunBudget {
                deadline,
                max_bytes: app.objects.limits().worker_bytes_per_run,
            },
            progress: task.progress.as_ref(),
        }),
        _ => None,
    };
    let verdict = verify(
        &app.objects,
        &upload,
        request,
        max_file_size_bytes,
        Some(located),
        long_work.as_ref(),
    )
    .await;
    let verified = match verdict {
        Ok(Verdict::Verified(verified)) => verified,
        Ok(Verdict::Unfinished(progress)) => {
            let Some(task) = task else {
                return Err(Failure::bug("long work outside the worker").into());
            };
            return save_progress(app, task, progress).await;
        }
        // Hashing means reading the bytes, which only the worker does: a client's
        // confirmation becomes asynchronous, as the contract allows.
        Ok(Verdict::Unhashed) if origin.may_defer().is_some() => {
            return start_async(app, upload, request, bucket).await;
        }
        Ok(Verdict::Unhashed) => {
            return Err(
                Failure::bug("an object that needs the worker's long runs was confirmed as a batch item").into(),
            );
        }
        Err(Rejection::Keep(ConfirmError::NotUploaded { .. })) => return not_uploaded(app, &upload).await,
        Err(Rejection::Keep(ConfirmError::Failure(Failure::Unavailable))) => return unavailable(app, &upload).await,
        Err(Rejection::Keep(err)) => return Err(err),
        // The worker's failures go through the state machine's Catch, which fails the task
        // too; an event fails nothing (below).
        Err(Rejection::Fail(err)) if !fails_unusable(origin) => return Err(err),
        Err(Rejection::Fail(err)) => return fail_unusable(app, &upload, err).await,
    };
    let auto_batch = request.auto_submit_batch.then_some(&bucket.namespace_id);
    record(
        app,
        &upload,
        &verified,
        task,
        auto_batch,
        quota.as_ref(),
        fails_unusable(origin),
    )
    .await
}

/// Whether this confirmation itself fails an upload whose bytes can never complete it. The
/// worker leaves that to the state machine's Catch. An event leaves it to the client's own
/// confirmation, which then gets the answer it would have had without auto-confirm (or to
/// the upload's expiry).
fn fails_unusable(origin: Origin<'_>) -> bool {
    matches!(origin, Origin::Client { .. } | Origin::BatchItem)
}

/// Keeps where a worker run left off in its task, for the next run (the state machine
/// runs the worker again on [`ConfirmError::Unfinished`]).
async fn save_progress(app: &App, task: &Task, progress: ConfirmProgress) -> Result<Upload, ConfirmError> {
    match app
        .store
        .update_task(&task.with_progress(progress, Timestamp::now()), task.status)
        .await
    {
        Ok(()) => Err(ConfirmError::Unfinished),
        // Another run changed the task: its outcome stands, and this run's work is dropped.
        Err(StoreError::Conflict(_)) => Err(Failure::Unavailable.into()),
        Err(StoreError::Failure(failure)) => Err(failure.into()),
    }
}

/// The quota the upload counts against; none for uploads created before quotas.
async fn tenant_quota(app: &App, upload: &Upload) -> Result<Option<Quota>, Failure> {
    match &upload.tenant_id {
        Some(tenant_id) => Ok(Some(app.directory.quota(tenant_id).await?)),
        None => Ok(None),
    }
}

/// Records verified bytes: the completion transaction, retried as a duplicate when another
/// upload of the same bytes became the original first. With the worker's task, the task
/// completes in the same transaction. The staged copy goes once the upload completed.
/// Bytes the tenant's quota has no room for fail the upload, and its bytes are removed,
/// when `fail_unusable_bytes` (see [`fails_unusable`]).
async fn record(
    app: &App,
    upload: &Upload,
    verified: &Verified,
    task: Option<&Task>,
    auto_batch_namespace: Option<&NamespaceId>,
    quota: Option<&Quota>,
    fail_unusable_bytes: bool,
) -> Result<Upload, ConfirmError> {
    // Optimistically the first upload of these bytes: the transaction claims the hash
    // marker, and only when another upload holds it is the marker read (to complete as
    // that one's duplicate).
    let mut marker = None;
    for _ in 0..MAX_ATTEMPTS {
        let now = Timestamp::now();
        let mut completion = upload.complete(
            verified,
            marker.as_ref(),
            ObjectId::generate(),
            now,
            auto_batch_namespace,
        );
        if let Some(task) = task {
            completion = completion.completing(task, now);
        }
        match app.store.complete_upload(&completion, quota).await {
            Ok(()) => {
                remove_quietly(app, &[&upload.staging_key()]).await;
                return Ok(completion.transition.after);
            }
            Err(StoreError::Conflict(Conflict::OverQuota)) => {
                let Some(refusal) = over_quota(app, &completion.transition, quota).await? else {
                    continue;
                };
                if !fail_unusable_bytes {
                    return Err(refusal);
                }
                return fail_unusable(app, upload, refusal).await;
            }
            Err(StoreError::Conflict(Conflict::MarkerTaken)) => {
                marker = app.store.hash_marker(&upload.bucket_id, &verified.file_hash).await?;
            }
            Err(StoreError::Conflict(_)) => return settled(app, upload).await,
            Err(StoreError::Failure(failure)) => return Err(failure.into()),
        }
    }
    Err(Failure::Unavailable.into())
}

/// Why the completion found no room in the quota, as the tenant's usage now stands; `None`
/// when uploads ended meanwhile and made room (the completion is tried again).
async fn over_quota(
    app: &App,
    transition: &crate::model::Transition,
    quota: Option<&Quota>,
) -> Result<Option<ConfirmError>, Failure> {
    let (Some(quota), Some((tenant, delta))) = (
        quota,
        UsageDelta::of_move(Some(&transition.before), Some(&transition.after)),
    ) else {
        return Err(Failure::bug("a completion without a quota was refused for one"));
    };
    let usage = app.store.usage(&tenant).await?;
    Ok(delta.exceeds(quota, &usage).map(ConfirmError::OverQuota))
}

/// Creates the confirmation task, moves the upload to PROCESSING, and starts the worker.
async fn start_async(
    app: &App,
    upload: Upload,
    request: &ConfirmRequest,
    bucket: &Bucket,
) -> Result<Upload, ConfirmError> {
    let inputs = ConfirmInputs {
        upload_id: upload.upload_id.clone(),
        bucket_id: upload.bucket_id.clone(),
        etag: request.etag.clone(),
        file_size_bytes: request.file_size_bytes,
        auto_submit_batch: request.auto_submit_batch,
    };
    let kind = TaskKind::Confirm { inputs, outputs: None };
    let task = Task::pending(TaskId::generate(), bucket.namespace_id.clone(), kind, Timestamp::now());
    let transition = upload.start_processing(task.task_id.clone());
    match app.store.start_processing(&transition, &task).await {
        Ok(()) => {}
        // Another confirmation moved it first: answer as that one did.
        Err(StoreError::Conflict(_)) => {
            let current = app
                .store
                .upload(&upload.upload_id)
                .await?
                .ok_or_else(|| NotFound::new("upload", &upload.upload_id))?;
            return match current.status {
                UploadStatus::Processing => {
                    let current = resume(app, current).await?;
                    late_processing(app, bucket, current, request, late::asks_anything(request)).await
                }
                UploadStatus::Completed => Ok(current),
                _ => Err(refusal(&current)),
            };
        }
        Err(StoreError::Failure(failure)) => return Err(failure.into()),
    }
    // Should this fail, the upload stays PROCESSING with a PENDING task, and the client's
    // retried confirmation starts it (execution names make that start happen once).
    app.dispatcher.start(&task).await?;
    Ok(transition.after)
}

/// A confirmation of an upload already PROCESSING: the same task, started again if it has
/// not run yet.
async fn resume(app: &App, upload: Upload) -> Result<Upload, ConfirmError> {
    let task_id = upload
        .task_id
        .as_ref()
        .ok_or_else(|| Failure::bug(format!("PROCESSING upload {} has no task", upload.upload_id)))?;
    if let Some(task) = app.store.task(task_id).await?
        && task.status == TaskStatus::Pending
    {
        app.dispatcher.start(&task).await?;
    }
    Ok(upload)
}

/// No bytes at either key. A confirmation that completed (or failed) the upload meanwhile
/// removed the staged copy: then the upload's record is the answer.
async fn not_uploaded(app: &App, upload: &Upload) -> Result<Upload, ConfirmError> {
    match app.store.upload(&upload.upload_id).await? {
        Some(current) if current.status == upload.status => Err(verify::not_uploaded(upload)),
        _ => settled(app, upload).await,
    }
}

/// S3 failed mid-verification. When another request changed the upload meanwhile (a delete
/// removing its bytes during the copy, say), that request's outcome is the answer; otherwise
/// the client is told to retry.
async fn unavailable(app: &App, upload: &Upload) -> Result<Upload, ConfirmError> {
    match app.store.upload(&upload.upload_id).await? {
        Some(current) if current.status == upload.status => Err(Failure::Unavailable.into()),
        _ => settled(app, upload).await,
    }
}

/// The upload after another request changed it first. When it is gone (deleted, or its
/// record expired meanwhile), the final copy this confirmation may have made belongs to
/// nothing and is removed; for the client the upload no longer exists.
async fn settled(app: &App, upload: &Upload) -> Result<Upload, ConfirmError> {
    let Some(current) = app.store.upload(&upload.upload_id).await? else {
        remove_quietly(app, &[upload.final_key()]).await;
        return Err(NotFound::new("upload", &upload.upload_id).into());
    };
    match current.status {
        UploadStatus::Completed => Ok(current),
        UploadStatus::Failed => Err(refusal(&current)),
        _ => Err(Failure::Unavailable.into()),
    }
}

/// Marks an upload FAILED with `message` and removes its bytes (staged and copied). The
/// bytes go only after the status changed, so a confirmation that completed first never
/// loses them. `false` when it was no longer in the status it was read with.
async fn fail(app: &App, upload: &Upload, message: String) -> Result<bool, ConfirmError> {
    match app.store.fail_upload(&upload.fail(message), None).await {
        Ok(()) => {
            if let Err(err) = app.objects.remove_upload(upload).await {
                tracing::warn!(error = %err, upload_id = %upload.upload_id, "a failed upload's bytes left for later removal");
            }
            Ok(true)
        }
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(StoreError::Failure(failure)) => Err(failure.into()),
    }
}

/// Deletes objects whose loss is harmless: should a delete fail, the staging prefix's
/// lifecycle rule or the record's expiry (`expired-uploads`) removes them later.
async fn remove_quietly(app: &App, keys: &[&str]) {
    if let Err(err) = app.objects.delete_all(keys).await {
        tracing::warn!(error = %err, ?keys, "objects left for later removal");
    }
}

/// An upload whose bytes can never complete it: FAILED, bytes removed, and `err` answered.
async fn fail_unusable(app: &App, upload: &Upload, err: ConfirmError) -> Result<Upload, ConfirmError> {
    if fail(app, upload, err.to_string()).await? {
        Err(err)
    } else {
        settled(app, upload).await
    }
}

/// Marks an expired upload FAILED and removes its bytes.
async fn expire(app: &App, upload: Upload) -> Result<Upload, ConfirmError> {
    let message = format!(
        "Upload expired: its upload URL expired at {} before the upload was confirmed.",
        upload.expires_at
    );
    if fail(app, &upload, message).await? {
        Err(expired(&upload))
    } else {
        settled(app, &upload).await
    }
}

fn expired(upload: &Upload) -> ConfirmError {
    ConfirmError::Expired {
        upload_id: upload.upload_id.clone(),
        expires_at: upload.expires_at,
    }
}

/// Why an upload that is neither PENDING, PROCESSING nor COMPLETED cannot be confirmed.
fn refusal(upload: &Upload) -> ConfirmError {
    match upload.status {
        UploadStatus::Failed if Timestamp::now() > upload.expires_at => expired(upload),
        UploadStatus::Failed => ConfirmError::Failed {
            upload_id: upload.upload_id.clone(),
            message: upload.message.clone().unwrap_or_else(|| "The upload failed.".into()),
        },
        status => ConfirmError::NotPending {
            upload_id: upload.upload_id.clone(),
            status,
        },
    }
}
