//! Completing an upload, decided without I/O: the completed upload, its object, whether it
//! claims the bucket's hash marker for its bytes, the batch `auto_submit_batch` asks for,
//! and the confirmation task it completes along.

use super::{
    Batch, BatchInputs, BucketObject, ConfirmOutputs, HashMarker, Task, TaskKind, TaskStatus, Transition, Upload,
    UploadStatus,
};
use crate::ids::{NamespaceId, ObjectId, auto_batch_ids};
use crate::time::Timestamp;

/// The facts about the stored bytes that a confirmation records.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub etag: String,
    pub file_size_bytes: u64,
    /// The SHA-256 of the stored bytes, never an ETag.
    pub file_hash: String,
    pub verified_at: Timestamp,
}

/// Everything one completion writes, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub transition: Transition,
    pub object: Option<BucketObject>,
    pub claim: Option<HashMarker>,
    /// With `auto_submit_batch`: the submitted batch holding the new object, and its task.
    pub batch: Option<(Batch, Task)>,
    /// The asynchronous confirmation's task, completed with the result as its outputs.
    pub task: Option<Task>,
}

/// A batch submitted for an upload completed earlier, in one transaction with the upload
/// (which must still be COMPLETED) naming its task.
#[derive(Debug, Clone, PartialEq)]
pub struct LateBatch {
    pub transition: Transition,
    pub batch: Batch,
    pub task: Task,
}

impl Completion {
    pub fn upload(&self) -> &Upload {
        &self.transition.after
    }
}

impl Upload {
    /// The upload completed with `verified` bytes. With `skip_duplicates` and `marker`
    /// naming another upload, it completes as that upload's duplicate: no object of its
    /// own, the original's `object_id`. Otherwise it gets its own object (when
    /// `create_object_on_confirm`), and claims the marker if there is none yet, so later
    /// uploads of the same bytes find it. `auto_batch_namespace` (given when
    /// `auto_submit_batch` was asked) adds a submitted batch holding the new object;
    /// duplicates and uploads without objects get none.
    pub fn complete(
        &self,
        verified: &Verified,
        marker: Option<&HashMarker>,
        new_object_id: ObjectId,
        now: Timestamp,
        auto_batch_namespace: Option<&NamespaceId>,
    ) -> Completion {
        let mut completed = Upload {
            status: UploadStatus::Completed,
            s3_key: self.final_key().to_owned(),
            etag: Some(verified.etag.clone()),
            file_size_bytes: Some(verified.file_size_bytes),
            file_hash: Some(verified.file_hash.clone()),
            verified_at: Some(verified.verified_at),
            completed_at: Some(now),
            presigned_url: None,
            ..self.clone()
        };
        let original = marker.filter(|m| self.skip_duplicates && m.upload_id != self.upload_id);
        if let Some(original) = original {
            completed.is_duplicate = true;
            completed.duplicate_of_upload_id = Some(original.upload_id.clone());
            completed.object_id = original.object_id.clone();
            completed.message = Some(format!("Upload confirmed as a duplicate of {}.", original.upload_id));
            return self.completion(completed, None, None, None);
        }
        let object = self.create_object_on_confirm.then(|| BucketObject {
            object_id: new_object_id,
            bucket_id: self.bucket_id.clone(),
            upload_id: self.upload_id.clone(),
            blob_property: self.blob_property.clone(),
            blob_type: self.blob_type,
            s3_key: self.final_key().to_owned(),
            content_type: self.content_type.clone(),
            file_size_bytes: verified.file_size_bytes,
            content_hash: verified.file_hash.clone(),
            metadata: self.object_metadata.clone(),
            created_at: now,
        });
        completed.object_id = object.as_ref().map(|o| o.object_id.clone());
        completed.message = Some("Upload confirmed.".into());
        let claim = marker.is_none().then(|| HashMarker {
            bucket_id: self.bucket_id.clone(),
            file_hash: verified.file_hash.clone(),
            upload_id: self.upload_id.clone(),
            object_id: completed.object_id.clone(),
        });
        let batch = match (auto_batch_namespace, &object) {
            (Some(namespace_id), Some(object)) => {
                let (batch, task) = self.auto_batch(&object.object_id, namespace_id, now);
                // The synchronous response's task_id is the batch's (an async one keeps its own).
                completed.task_id = completed.task_id.or_else(|| Some(task.task_id.clone()));
                Some((batch, task))
            }
            _ => None,
        };
        self.completion(completed, object, claim, batch)
    }

    /// The batch `auto_submit_batch` submits for this upload's new object, and its task:
    /// their ids follow from the upload's, so it is submitted at most once.
    fn auto_batch(&self, object_id: &ObjectId, namespace_id: &NamespaceId, now: Timestamp) -> (Batch, Task) {
        let (batch_id, task_id) = auto_batch_ids(&self.upload_id);
        let inputs = BatchInputs {
            batch_id: batch_id.clone(),
            bucket_id: self.bucket_id.clone(),
            object_ids: vec![object_id.clone()],
        };
        let task = Task::pending(
            task_id.clone(),
            namespace_id.clone(),
            TaskKind::ProcessBatch { inputs },
            now,
        );
        let batch = Batch {
            batch_id,
            bucket_id: self.bucket_id.clone(),
            namespace_id: namespace_id.clone(),
            status: TaskStatus::Queued,
            object_ids: vec![object_id.clone()],
            task_id: Some(task_id),
            created_at: now,
            updated_at: now,
            submitted_at: Some(now),
        };
        (batch, task)
    }

    /// `auto_submit_batch` asked of an upload another confirmation completed without it (S3's
    /// ObjectCreated event, say): the batch it would have had, and the upload naming its task
    /// as a synchronous completion's does. `None` when it gets no batch (no object of its
    /// own: a duplicate, or `create_object_on_confirm: false`).
    pub fn late_batch(&self, namespace_id: &NamespaceId, now: Timestamp) -> Option<LateBatch> {
        let object_id = self.object_id.as_ref().filter(|_| {
            self.status == UploadStatus::Completed && !self.is_duplicate && self.create_object_on_confirm
        })?;
        let (batch, task) = self.auto_batch(object_id, namespace_id, now);
        let after = Upload {
            task_id: self.task_id.clone().or_else(|| Some(task.task_id.clone())),
            ..self.clone()
        };
        Some(LateBatch {
            transition: self.becomes(after),
            batch,
            task,
        })
    }

    fn completion(
        &self,
        completed: Upload,
        object: Option<BucketObject>,
        claim: Option<HashMarker>,
        batch: Option<(Batch, Task)>,
    ) -> Completion {
        Completion {
            transition: self.becomes(completed),
            object,
            claim,
            batch,
            task: None,
        }
    }
}

impl Completion {
    /// The same completion, also completing the asynchronous confirmation `task`, whose
    /// outputs describe the result.
    pub fn completing(mut self, task: &Task, now: Timestamp) -> Self {
        let upload = self.upload();
        let outputs = ConfirmOutputs {
            batch_id: self.batch.as_ref().map(|(b, _)| b.batch_id.clone()),
            batch_task_id: self.batch.as_ref().map(|(_, t)| t.task_id.clone()),
            upload_id: upload.upload_id.clone(),
            object_id: upload.object_id.clone(),
            file_hash: upload.file_hash.clone(),
            etag: upload.etag.clone(),
            file_size_bytes: upload.file_size_bytes,
            is_duplicate: upload.is_duplicate,
            duplicate_of_upload_id: upload.duplicate_of_upload_id.clone(),
            verified_at: upload.verified_at,
            completed_at: upload.completed_at,
        };
        let kind = match &task.kind {
            TaskKind::Confirm { inputs, .. } => TaskKind::Confirm {
                inputs: inputs.clone(),
                outputs: Some(Box::new(outputs)),
            },
            other => other.clone(),
        };
        self.task = Some(Task {
            status: TaskStatus::Completed,
            kind,
            updated_at: now,
            ..task.clone()
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BucketId, TaskId, UploadId};
    use crate::model::Bucket;
    use crate::uploads::NewUpload;

    fn bucket() -> Bucket {
        Bucket {
            bucket_id: BucketId::generate(),
            namespace_id: NamespaceId::generate(),
            name: "b".into(),
            max_file_size_bytes: 10,
            created_at: Timestamp::now(),
        }
    }

    fn pending(bucket: &Bucket, skip_duplicates: bool, create_object: bool) -> Upload {
        let body = serde_json::json!({
            "filename": "a.txt", "content_type": "text/plain", "file_size_bytes": 5, "object_metadata": {"k": "v"},
            "skip_duplicates": skip_duplicates, "create_object_on_confirm": create_object,
        });
        NewUpload::parse(Some(&body), 10)
            .unwrap()
            .into_pending(UploadId::generate(), bucket, Timestamp::now())
    }

    fn verified() -> Verified {
        Verified {
            etag: "etag".into(),
            file_size_bytes: 5,
            file_hash: "ab".repeat(32),
            verified_at: Timestamp::parse("2024-01-15T10:01:00Z").unwrap(),
        }
    }

    fn marker(upload: &Upload, object_id: Option<&ObjectId>) -> HashMarker {
        HashMarker {
            bucket_id: upload.bucket_id.clone(),
            file_hash: "ab".repeat(32),
            upload_id: upload.upload_id.clone(),
            object_id: object_id.cloned(),
        }
    }

    #[test]
    fn the_first_upload_of_some_bytes_gets_an_object_and_the_marker() {
        let bucket = bucket();
        let upload = pending(&bucket, true, true);
        let now = Timestamp::parse("2024-01-15T10:02:00Z").unwrap();
        let object_id = ObjectId::generate();
        let c = upload.complete(&verified(), None, object_id.clone(), now, None);
        assert_eq!(c.transition.before, upload);
        let done = c.upload();
        assert_eq!(done.status, UploadStatus::Completed);
        assert_eq!(done.object_id.as_ref(), Some(&object_id));
        assert_eq!(done.file_hash, Some("ab".repeat(32)));
        assert_eq!(done.completed_at, Some(now));
        let final_key = format!(
            "{}/{}/{}/a.txt",
            bucket.namespace_id, bucket.bucket_id, upload.upload_id
        );
        assert_eq!(done.s3_key, final_key, "the final key, not the staging one");
        assert_eq!(done.file_size_bytes, Some(5));
        assert!(!done.is_duplicate);
        let object = c.object.clone().unwrap();
        assert_eq!(object.s3_key, final_key);
        assert_eq!(object.metadata["k"], "v");
        assert_eq!(object.content_hash, "ab".repeat(32));
        assert_eq!(c.claim, Some(marker(&upload, Some(&object_id))));
    }

    #[test]
    fn a_late_batch_is_the_one_the_completion_would_have_submitted() {
        let bucket = bucket();
        let upload = pending(&bucket, true, true);
        let now = Timestamp::parse("2024-01-15T10:02:00Z").unwrap();
        let with_batch = upload.complete(&verified(), None, ObjectId::generate(), now, Some(&bucket.namespace_id));
        let without = upload.complete(&verified(), None, ObjectId::generate(), now, None);
        let done = without.upload();
        assert_eq!(upload.late_batch(&bucket.namespace_id, now), None, "not completed yet");

        let late = done.late_batch(&bucket.namespace_id, now).unwrap();
        let (batch, task) = with_batch.batch.clone().unwrap();
        assert_eq!(late.batch.batch_id, batch.batch_id, "ids follow from the upload's");
        assert_eq!(late.task.task_id, task.task_id);
        assert_eq!(late.batch.object_ids, vec![done.object_id.clone().unwrap()]);
        assert_eq!(late.transition.before, *done);
        assert_eq!(late.transition.after.task_id, Some(task.task_id.clone()));
        assert_eq!(late.transition.after.status, UploadStatus::Completed);

        // An upload that kept its asynchronous confirmation's task id keeps it.
        let confirm_task = TaskId::generate();
        let asynchronous = Upload {
            task_id: Some(confirm_task.clone()),
            ..done.clone()
        };
        let late = asynchronous.late_batch(&bucket.namespace_id, now).unwrap();
        assert_eq!(late.transition.after.task_id, Some(confirm_task));

        // No object of its own, no batch.
        let duplicate = Upload {
            is_duplicate: true,
            ..done.clone()
        };
        assert_eq!(duplicate.late_batch(&bucket.namespace_id, now), None);
        let objectless = pending(&bucket, true, false).complete(&verified(), None, ObjectId::generate(), now, None);
        assert_eq!(objectless.upload().late_batch(&bucket.namespace_id, now), None);
    }

    #[test]
    fn later_uploads_of_the_same_bytes_are_duplicates_without_objects() {
        let bucket = bucket();
        let original = pending(&bucket, true, true);
        let original_object = ObjectId::generate();
        let upload = pending(&bucket, true, true);
        let c = upload.complete(
            &verified(),
            Some(&marker(&original, Some(&original_object))),
            ObjectId::generate(),
            Timestamp::now(),
            None,
        );
        let done = c.upload();
        assert!(done.is_duplicate);
        assert_eq!(done.duplicate_of_upload_id.as_ref(), Some(&original.upload_id));
        assert_eq!(done.object_id.as_ref(), Some(&original_object));
        assert_eq!(c.object, None);
        assert_eq!(c.claim, None);
    }

    #[test]
    fn without_skip_duplicates_every_upload_gets_its_own_object() {
        let bucket = bucket();
        let original = pending(&bucket, true, true);
        let upload = pending(&bucket, false, true);
        let own = ObjectId::generate();
        let c = upload.complete(
            &verified(),
            Some(&marker(&original, Some(&ObjectId::generate()))),
            own.clone(),
            Timestamp::now(),
            None,
        );
        assert!(!c.upload().is_duplicate);
        assert_eq!(c.upload().object_id.as_ref(), Some(&own));
        assert!(c.object.is_some());
        assert_eq!(c.claim, None, "the marker already names an original");
    }

    #[test]
    fn auto_submit_batch_submits_a_batch_for_new_objects_only() {
        let bucket = bucket();
        let upload = pending(&bucket, true, true);
        let object_id = ObjectId::generate();
        let c = upload.complete(
            &verified(),
            None,
            object_id.clone(),
            Timestamp::now(),
            Some(&bucket.namespace_id),
        );
        let (batch, task) = c.batch.clone().expect("a batch");
        assert_eq!(batch.batch_id, auto_batch_ids(&upload.upload_id).0);
        assert_eq!(batch.object_ids, [object_id]);
        assert_eq!(batch.status, TaskStatus::Queued);
        assert_eq!(batch.task_id.as_ref(), Some(&task.task_id));
        assert_eq!(c.upload().task_id, Some(task.task_id));
        let original = pending(&bucket, true, true);
        let duplicate = upload.complete(
            &verified(),
            Some(&marker(&original, Some(&ObjectId::generate()))),
            ObjectId::generate(),
            Timestamp::now(),
            Some(&bucket.namespace_id),
        );
        assert_eq!(duplicate.batch, None);
        let no_object = pending(&bucket, true, false).complete(
            &verified(),
            None,
            ObjectId::generate(),
            Timestamp::now(),
            Some(&bucket.namespace_id),
        );
        assert_eq!(no_object.batch, None);
    }

    #[test]
    fn without_create_object_on_confirm_there_is_no_object() {
        let bucket = bucket();
        let upload = pending(&bucket, true, false);
        let c = upload.complete(&verified(), None, ObjectId::generate(), Timestamp::now(), None);
        assert_eq!(c.object, None);
        assert_eq!(c.upload().object_id, None);
        assert_eq!(c.claim, Some(marker(&upload, None)));
    }

    #[test]
    fn completing_a_task_records_the_result_as_its_outputs() {
        let bucket = bucket();
        let upload = pending(&bucket, true, true);
        let inputs = super::super::ConfirmInputs {
            upload_id: upload.upload_id.clone(),
            bucket_id: upload.bucket_id.clone(),
            etag: None,
            file_size_bytes: None,
            auto_submit_batch: false,
        };
        let task = Task::pending(
            crate::ids::TaskId::generate(),
            bucket.namespace_id.clone(),
            TaskKind::Confirm { inputs, outputs: None },
            Timestamp::now(),
        );
        let c = upload
            .complete(&verified(), None, ObjectId::generate(), Timestamp::now(), None)
            .completing(&task, Timestamp::now());
        let done = c.task.expect("the task");
        assert_eq!(done.status, TaskStatus::Completed);
        let TaskKind::Confirm {
            outputs: Some(outputs), ..
        } = done.kind
        else {
            panic!("no outputs")
        };
        assert_eq!(outputs.object_id, c.transition.after.object_id);
        assert_eq!(outputs.file_hash.as_deref(), Some("ab".repeat(32).as_str()));
    }
}
