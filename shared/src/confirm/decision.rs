//! What a confirmation does with an upload, decided from its record alone (no I/O).

use crate::model::{Task, Upload, UploadStatus};
use crate::time::Timestamp;

/// Who is confirming.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// A client (the HTTP endpoint, a batch confirmation, a test): confirms a PENDING upload,
    /// in the background when `run_async` asks or the object is large.
    Client { run_async: bool },
    /// An item of a batch confirmation, run by the worker: like a client's, but never handed
    /// on to another task (the copy happens in S3, whatever the object's size).
    BatchItem,
    /// The worker, running the task an earlier confirmation started, until the run's
    /// deadline.
    Worker(&'a Task, Timestamp),
    /// S3's ObjectCreated event for the upload's staging key, for bytes stored at
    /// `object_created_at`: confirms a PENDING upload as a client would (in the background
    /// when the object is large), and leaves every other upload as it is.
    Event { object_created_at: Timestamp },
}

impl Origin<'_> {
    /// For a confirmation that may hand the upload to the worker: whether it was asked to
    /// (`None` for the worker and batch items, which never do).
    pub fn may_defer(&self) -> Option<bool> {
        match self {
            Origin::Client { run_async } => Some(*run_async),
            Origin::Event { .. } => Some(false),
            Origin::BatchItem | Origin::Worker(..) => None,
        }
    }
}

/// The next step of a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Verify the stored bytes and record them (from PENDING, or PROCESSING for the worker).
    Verify,
    /// PROCESSING: the worker has it. Answer with its task, starting the task again if it
    /// never ran.
    Resume,
    /// Nothing to do: the record is the answer (COMPLETED; for the worker, an upload or task
    /// that is no longer its to confirm).
    Settled,
    /// The upload URL expired before the upload was confirmed: fail it.
    Expire,
    /// It cannot be confirmed: it FAILED.
    Refuse,
}

/// The next step for `upload` at `now`. A confirmation started before the URL expired may
/// finish after: only PENDING uploads expire. An event confirms bytes stored before the URL
/// expired however late it arrives, and never fails or refuses anything: the client's own
/// confirmation (or the record's expiry) deals with the rest.
pub fn next_step(upload: &Upload, now: Timestamp, origin: Origin<'_>) -> Step {
    match origin {
        Origin::Event { object_created_at } => match upload.status {
            UploadStatus::Pending if object_created_at <= upload.expires_at => Step::Verify,
            _ => Step::Settled,
        },
        Origin::Client { .. } | Origin::BatchItem => match upload.status {
            UploadStatus::Pending if now > upload.expires_at => Step::Expire,
            UploadStatus::Pending => Step::Verify,
            UploadStatus::Processing => Step::Resume,
            UploadStatus::Completed => Step::Settled,
            UploadStatus::Failed => Step::Refuse,
        },
        Origin::Worker(task, _) => {
            let its_own = upload.task_id.as_ref() == Some(&task.task_id);
            if upload.status == UploadStatus::Processing && its_own && !task.status.is_terminal() {
                Step::Verify
            } else {
                Step::Settled
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BucketId, NamespaceId, TaskId, UploadId};
    use crate::model::{Bucket, ConfirmInputs, TaskKind, TaskStatus};
    use crate::uploads::NewUpload;

    fn upload(status: UploadStatus, task_id: Option<TaskId>) -> Upload {
        let bucket = Bucket {
            bucket_id: BucketId::generate(),
            namespace_id: NamespaceId::generate(),
            name: "b".into(),
            max_file_size_bytes: 10,
            created_at: Timestamp::now(),
        };
        let body =
            serde_json::json!({"filename": "a.txt", "content_type": "text/plain", "presigned_url_expiration": 60});
        let pending =
            NewUpload::parse(Some(&body), 10)
                .unwrap()
                .into_pending(UploadId::generate(), &bucket, Timestamp::now());
        Upload {
            status,
            task_id,
            ..pending
        }
    }

    fn task(status: TaskStatus) -> Task {
        let inputs = ConfirmInputs {
            upload_id: UploadId::generate(),
            bucket_id: BucketId::generate(),
            etag: None,
            file_size_bytes: None,
            auto_submit_batch: false,
        };
        let kind = TaskKind::Confirm { inputs, outputs: None };
        Task {
            status,
            ..Task::pending(TaskId::generate(), NamespaceId::generate(), kind, Timestamp::now())
        }
    }

    const CLIENT: Origin<'static> = Origin::Client { run_async: false };

    #[test]
    fn a_client_verifies_pending_uploads_until_their_url_expires() {
        let pending = upload(UploadStatus::Pending, None);
        assert_eq!(next_step(&pending, pending.expires_at, CLIENT), Step::Verify);
        let later = pending.expires_at.plus_seconds(1);
        assert_eq!(next_step(&pending, later, CLIENT), Step::Expire);
        assert_eq!(
            next_step(&pending, later, Origin::Client { run_async: true }),
            Step::Expire
        );
    }

    #[test]
    fn a_client_is_answered_from_the_record_of_any_other_upload() {
        let now = Timestamp::now();
        let processing = upload(UploadStatus::Processing, Some(TaskId::generate()));
        assert_eq!(next_step(&processing, now, CLIENT), Step::Resume);
        let late = processing.expires_at.plus_seconds(3600);
        assert_eq!(
            next_step(&processing, late, CLIENT),
            Step::Resume,
            "processing never expires"
        );
        assert_eq!(
            next_step(&upload(UploadStatus::Completed, None), late, CLIENT),
            Step::Settled
        );
        assert_eq!(
            next_step(&upload(UploadStatus::Failed, None), now, CLIENT),
            Step::Refuse
        );
    }

    #[test]
    fn a_batch_item_is_decided_as_a_clients_confirmation() {
        let pending = upload(UploadStatus::Pending, None);
        for (now, step) in [
            (pending.expires_at, Step::Verify),
            (pending.expires_at.plus_seconds(1), Step::Expire),
        ] {
            assert_eq!(next_step(&pending, now, Origin::BatchItem), step);
        }
        let now = Timestamp::now();
        for (status, step) in [
            (UploadStatus::Processing, Step::Resume),
            (UploadStatus::Completed, Step::Settled),
            (UploadStatus::Failed, Step::Refuse),
        ] {
            assert_eq!(
                next_step(&upload(status, None), now, Origin::BatchItem),
                step,
                "{status}"
            );
        }
    }

    #[test]
    fn an_event_verifies_pending_uploads_stored_in_time_and_leaves_the_rest() {
        let pending = upload(UploadStatus::Pending, None);
        let event = |at: Timestamp| Origin::Event { object_created_at: at };
        let late = pending.expires_at.plus_seconds(3600);
        assert_eq!(
            next_step(&pending, late, event(pending.expires_at)),
            Step::Verify,
            "stored in time, delivered late"
        );
        assert_eq!(
            next_step(&pending, late, event(pending.expires_at.plus_seconds(1))),
            Step::Settled
        );
        for status in [UploadStatus::Processing, UploadStatus::Completed, UploadStatus::Failed] {
            let other = upload(status, Some(TaskId::generate()));
            assert_eq!(
                next_step(&other, Timestamp::now(), event(other.created_at)),
                Step::Settled,
                "{status}"
            );
        }
    }

    #[test]
    fn the_worker_verifies_only_the_processing_upload_of_its_running_task() {
        let now = Timestamp::now();
        let running = task(TaskStatus::Pending);
        let mine = upload(UploadStatus::Processing, Some(running.task_id.clone()));
        assert_eq!(next_step(&mine, now, Origin::Worker(&running, now)), Step::Verify);
        let late = mine.expires_at.plus_seconds(3600);
        assert_eq!(
            next_step(&mine, late, Origin::Worker(&running, now)),
            Step::Verify,
            "it started in time"
        );
        let ended = task(TaskStatus::Failed);
        let ended_mine = upload(UploadStatus::Processing, Some(ended.task_id.clone()));
        assert_eq!(next_step(&ended_mine, now, Origin::Worker(&ended, now)), Step::Settled);
        let others = upload(UploadStatus::Processing, Some(TaskId::generate()));
        assert_eq!(next_step(&others, now, Origin::Worker(&running, now)), Step::Settled);
        for status in [UploadStatus::Pending, UploadStatus::Completed, UploadStatus::Failed] {
            let settled = upload(status, Some(running.task_id.clone()));
            assert_eq!(
                next_step(&settled, now, Origin::Worker(&running, now)),
                Step::Settled,
                "{status}"
            );
        }
    }
}
