//! What a confirmation writes, decided without I/O: the completed upload, its object, and
//! whether it claims the bucket's hash marker for its bytes.

use super::Verified;
use crate::ids::auto_batch_ids;
use crate::model::{BATCH_TASK_TYPE, Batch, BucketObject, HashMarker, Task, TaskStatus, Upload};
use crate::time::Timestamp;
use serde_json::json;

#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub upload: Upload,
    pub object: Option<BucketObject>,
    pub claim: Option<HashMarker>,
    /// With `auto_submit_batch`: the submitted batch holding the new object, and its task.
    pub batch: Option<(Batch, Task)>,
}

/// With `skip_duplicates` and an existing marker of another upload, the upload completes as
/// that upload's duplicate: no object of its own, the original's `object_id`. Otherwise it
/// gets its own object (when `create_object_on_confirm`), and claims the marker if there is
/// none yet, so later uploads of the same bytes find it. `auto_batch_namespace` (the
/// upload's namespace, given when `auto_submit_batch` was asked) adds a submitted batch
/// holding the new object; duplicates and uploads without objects get none.
pub fn plan(
    upload: &Upload,
    verified: &Verified,
    marker: Option<&HashMarker>,
    new_object_id: String,
    now: Timestamp,
    auto_batch_namespace: Option<&str>,
) -> Completion {
    let mut completed = Upload {
        status: TaskStatus::Completed,
        s3_key: upload.final_key().to_owned(),
        etag: Some(verified.etag.clone()),
        file_size_bytes: Some(verified.file_size_bytes),
        file_hash: Some(verified.file_hash.clone()),
        verified_at: Some(verified.verified_at),
        completed_at: Some(now),
        presigned_url: None,
        ..upload.clone()
    };
    let original = marker.filter(|m| upload.skip_duplicates && m.upload_id != upload.upload_id);
    if let Some(original) = original {
        completed.is_duplicate = true;
        completed.duplicate_of_upload_id = Some(original.upload_id.clone());
        completed.object_id = original.object_id.clone();
        completed.message = Some(format!("Upload confirmed as a duplicate of {}.", original.upload_id));
        return Completion {
            upload: completed,
            object: None,
            claim: None,
            batch: None,
        };
    }
    let object = upload.create_object_on_confirm.then(|| BucketObject {
        object_id: new_object_id,
        bucket_id: upload.bucket_id.clone(),
        upload_id: upload.upload_id.clone(),
        blob_property: upload.blob_property.clone(),
        blob_type: upload.blob_type.clone(),
        s3_key: upload.final_key().to_owned(),
        content_type: upload.content_type.clone(),
        file_size_bytes: verified.file_size_bytes,
        content_hash: verified.file_hash.clone(),
        metadata: upload.object_metadata.clone(),
        created_at: now,
    });
    completed.object_id = object.as_ref().map(|o| o.object_id.clone());
    completed.message = Some("Upload confirmed.".into());
    let claim = marker.is_none().then(|| HashMarker {
        bucket_id: upload.bucket_id.clone(),
        file_hash: verified.file_hash.clone(),
        upload_id: upload.upload_id.clone(),
        object_id: completed.object_id.clone(),
    });
    let batch = match (auto_batch_namespace, &object, auto_batch_ids(&upload.upload_id)) {
        (Some(namespace_id), Some(object), Some((batch_id, task_id))) => {
            let inputs =
                json!({ "batch_id": batch_id, "bucket_id": upload.bucket_id, "object_ids": [object.object_id] });
            let task = Task::pending(task_id.clone(), BATCH_TASK_TYPE, namespace_id, inputs, now);
            let batch = Batch {
                batch_id,
                bucket_id: upload.bucket_id.clone(),
                namespace_id: namespace_id.to_owned(),
                status: TaskStatus::Queued,
                object_ids: vec![object.object_id.clone()],
                task_id: Some(task_id),
                created_at: now,
                updated_at: now,
                submitted_at: Some(now),
            };
            // The synchronous response's task_id is the batch's (an async one keeps its own).
            completed.task_id = completed.task_id.or_else(|| Some(task.task_id.clone()));
            Some((batch, task))
        }
        _ => None,
    };
    Completion {
        upload: completed,
        object,
        claim,
        batch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Bucket;
    use crate::uploads::NewUpload;

    fn pending(upload_id: &str, skip_duplicates: bool, create_object: bool) -> Upload {
        let body = serde_json::json!({
            "filename": "a.txt", "content_type": "text/plain", "file_size_bytes": 5, "object_metadata": {"k": "v"},
            "skip_duplicates": skip_duplicates, "create_object_on_confirm": create_object,
        });
        let bucket = Bucket {
            bucket_id: "bkt_1".into(),
            namespace_id: "ns_1".into(),
            name: "b".into(),
            max_file_size_bytes: 10,
            created_at: Timestamp::now(),
        };
        NewUpload::parse(Some(&body), 10)
            .unwrap()
            .into_pending(upload_id.into(), &bucket, Timestamp::now())
    }

    fn verified() -> Verified {
        Verified {
            etag: "etag".into(),
            file_size_bytes: 5,
            file_hash: "ab".repeat(32),
            verified_at: Timestamp::parse("2024-01-15T10:01:00Z").unwrap(),
        }
    }

    fn marker(upload_id: &str, object_id: Option<&str>) -> HashMarker {
        HashMarker {
            bucket_id: "bkt_1".into(),
            file_hash: "ab".repeat(32),
            upload_id: upload_id.into(),
            object_id: object_id.map(Into::into),
        }
    }

    #[test]
    fn the_first_upload_of_some_bytes_gets_an_object_and_the_marker() {
        let now = Timestamp::parse("2024-01-15T10:02:00Z").unwrap();
        let c = plan(
            &pending("upl_a", true, true),
            &verified(),
            None,
            "obj_1".into(),
            now,
            None,
        );
        assert_eq!(c.upload.status, TaskStatus::Completed);
        assert_eq!(c.upload.object_id.as_deref(), Some("obj_1"));
        assert_eq!(c.upload.file_hash, Some("ab".repeat(32)));
        assert_eq!(c.upload.completed_at, Some(now));
        assert_eq!(
            c.upload.s3_key, "ns_1/bkt_1/upl_a/a.txt",
            "the final key, not the staging one"
        );
        assert_eq!(c.upload.file_size_bytes, Some(5));
        assert!(!c.upload.is_duplicate);
        let object = c.object.unwrap();
        assert_eq!(object.s3_key, "ns_1/bkt_1/upl_a/a.txt");
        assert_eq!(object.metadata["k"], "v");
        assert_eq!(object.content_hash, "ab".repeat(32));
        assert_eq!(c.claim, Some(marker("upl_a", Some("obj_1"))));
    }

    #[test]
    fn later_uploads_of_the_same_bytes_are_duplicates_without_objects() {
        let c = plan(
            &pending("upl_b", true, true),
            &verified(),
            Some(&marker("upl_a", Some("obj_1"))),
            "obj_2".into(),
            Timestamp::now(),
            None,
        );
        assert!(c.upload.is_duplicate);
        assert_eq!(c.upload.duplicate_of_upload_id.as_deref(), Some("upl_a"));
        assert_eq!(c.upload.object_id.as_deref(), Some("obj_1"));
        assert_eq!(c.object, None);
        assert_eq!(c.claim, None);
    }

    #[test]
    fn without_skip_duplicates_every_upload_gets_its_own_object() {
        let c = plan(
            &pending("upl_b", false, true),
            &verified(),
            Some(&marker("upl_a", Some("obj_1"))),
            "obj_2".into(),
            Timestamp::now(),
            None,
        );
        assert!(!c.upload.is_duplicate);
        assert_eq!(c.upload.object_id.as_deref(), Some("obj_2"));
        assert!(c.object.is_some());
        assert_eq!(c.claim, None, "the marker already names an original");
    }

    #[test]
    fn auto_submit_batch_submits_a_batch_for_new_objects_only() {
        let upload = pending("upl_01hzx3q5n1v8w6t2k9r4m7p0ab", true, true);
        let c = plan(
            &upload,
            &verified(),
            None,
            "obj_1".into(),
            Timestamp::now(),
            Some("ns_1"),
        );
        let (batch, task) = c.batch.expect("a batch");
        assert_eq!(batch.batch_id, "batch_01hzx3q5n1v8w6t2k9r4m7p0ab");
        assert_eq!(batch.object_ids, ["obj_1"]);
        assert_eq!(batch.status, TaskStatus::Queued);
        assert_eq!(batch.task_id.as_deref(), Some(task.task_id.as_str()));
        assert_eq!(c.upload.task_id, Some(task.task_id));
        let duplicate = plan(
            &upload,
            &verified(),
            Some(&marker("upl_a", Some("obj_0"))),
            "obj_1".into(),
            Timestamp::now(),
            Some("ns_1"),
        );
        assert_eq!(duplicate.batch, None);
        let no_object = plan(
            &pending("upl_01hzx3q5n1v8w6t2k9r4m7p0ab", true, false),
            &verified(),
            None,
            "obj_1".into(),
            Timestamp::now(),
            Some("ns_1"),
        );
        assert_eq!(no_object.batch, None);
    }

    #[test]
    fn without_create_object_on_confirm_there_is_no_object() {
        let c = plan(
            &pending("upl_a", true, false),
            &verified(),
            None,
            "obj_1".into(),
            Timestamp::now(),
            None,
        );
        assert_eq!(c.object, None);
        assert_eq!(c.upload.object_id, None);
        assert_eq!(c.claim, Some(marker("upl_a", None)));
    }
}
