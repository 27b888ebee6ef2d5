//! Which event a stream record of the table makes, from its eventName, its images (the
//! stream is NEW_AND_OLD_IMAGES) and who made the change. No I/O.

use super::{BatchSubmitted, Event, UploadEvent, UploadEventKind};
use crate::model::{Batch, Upload, UploadStatus};
use crate::store::UPLOAD_SORT_KEY;
use crate::store::schema::SORT_KEY;
use crate::time::Timestamp;
use aws_lambda_events::event::dynamodb::EventRecord;
use serde::de::DeserializeOwned;
use serde_dynamo::AttributeValue;

/// The principal a stream record names when DynamoDB's TTL removed the item.
const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";

/// The sort key of batch records (`store::completion`).
const BATCH_SORT_KEY: &str = "batch";

/// A record that should make an event but whose images cannot be read (a stream not
/// configured NEW_AND_OLD_IMAGES, or a record this code does not understand). Retrying will
/// not help; reporting it keeps it visible (it ends in the dead-letter queue).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream record {event_id}: {reason}")]
pub struct UnreadableRecord {
    pub event_id: String,
    pub reason: String,
}

/// Whether DynamoDB's TTL made this removal (rather than a request: the delete endpoint, an
/// operator).
pub fn removed_by_ttl(record: &EventRecord) -> bool {
    record.event_name == "REMOVE"
        && record
            .user_identity
            .as_ref()
            .is_some_and(|who| who.type_ == "Service" && who.principal_id == TTL_PRINCIPAL)
}

/// The event a stream record makes, if any:
///
/// | record | event |
/// |--------|-------|
/// | MODIFY of an upload to COMPLETED from another status | Upload Completed |
/// | INSERT of a COMPLETED upload (a duplicate of stored bytes, completed at creation) | Upload Completed |
/// | MODIFY of an upload to FAILED from another status | Upload Failed |
/// | REMOVE of an upload by a request | Upload Deleted |
/// | REMOVE of a PENDING or PROCESSING upload by TTL | Upload Expired |
/// | INSERT of a batch | Batch Submitted |
///
/// Nothing else: not a new PENDING upload, not a change that keeps its status (a batch attached to
/// a completed upload), not the TTL removal of a FAILED upload (it had its Failed event).
pub fn event_of(record: &EventRecord) -> Result<Option<Event>, UnreadableRecord> {
    let sort_key = match record.change.keys.get(SORT_KEY) {
        Some(AttributeValue::S(sk)) => sk.as_str(),
        _ => return Ok(None),
    };
    let occurred_at = Timestamp::from_epoch_millis(
        u64::try_from(record.change.approximate_creation_date_time.timestamp_millis()).unwrap_or(0),
    );
    let upload_event = |kind, upload: &Upload| {
        UploadEvent::new(upload, &record.event_id, occurred_at)
            .map(|detail| {
                Some(Event::Upload {
                    kind,
                    detail: Box::new(detail),
                })
            })
            .ok_or_else(|| unreadable(record, format!("the key {} names no namespace", upload.s3_key)))
    };
    match (record.event_name.as_str(), sort_key) {
        ("INSERT", UPLOAD_SORT_KEY) => {
            let created: Upload = image(record, &record.change.new_image, "new")?;
            match created.status {
                UploadStatus::Completed => upload_event(UploadEventKind::Completed, &created),
                _ => Ok(None),
            }
        }
        ("MODIFY", UPLOAD_SORT_KEY) => {
            let before: Upload = image(record, &record.change.old_image, "old")?;
            let after: Upload = image(record, &record.change.new_image, "new")?;
            let kind = match after.status {
                _ if after.status == before.status => return Ok(None),
                UploadStatus::Completed => UploadEventKind::Completed,
                UploadStatus::Failed => UploadEventKind::Failed,
                UploadStatus::Pending | UploadStatus::Processing => return Ok(None),
            };
            upload_event(kind, &after)
        }
        ("REMOVE", UPLOAD_SORT_KEY) => {
            let removed: Upload = image(record, &record.change.old_image, "old")?;
            if !removed_by_ttl(record) {
                return upload_event(UploadEventKind::Deleted, &removed);
            }
            match removed.status {
                UploadStatus::Pending | UploadStatus::Processing => upload_event(UploadEventKind::Expired, &removed),
                UploadStatus::Completed | UploadStatus::Failed => Ok(None),
            }
        }
        ("INSERT", BATCH_SORT_KEY) => {
            let batch: Batch = image(record, &record.change.new_image, "new")?;
            Ok(Some(Event::BatchSubmitted {
                occurred_at,
                detail: BatchSubmitted {
                    batch_id: batch.batch_id,
                    bucket_id: batch.bucket_id,
                    namespace_id: batch.namespace_id,
                    task_id: batch.task_id,
                },
            }))
        }
        _ => Ok(None),
    }
}

fn image<T: DeserializeOwned>(
    record: &EventRecord,
    image: &serde_dynamo::Item,
    which: &str,
) -> Result<T, UnreadableRecord> {
    serde_dynamo::from_item(image.clone()).map_err(|err| unreadable(record, format!("unreadable {which} image: {err}")))
}

fn unreadable(record: &EventRecord, reason: String) -> UnreadableRecord {
    UnreadableRecord {
        event_id: record.event_id.clone(),
        reason,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::ids::{BatchId, BucketId, NamespaceId, ObjectId, TaskId};
    use crate::model::TaskStatus;
    use serde_json::{Value, json};

    fn item<T: serde::Serialize>(record: &T) -> Value {
        let item: serde_dynamo::Item = serde_dynamo::to_item(record).unwrap();
        serde_json::to_value(item).unwrap()
    }

    /// A stream record as DynamoDB sends it (NEW_AND_OLD_IMAGES); `who` is its userIdentity.
    pub fn record(
        event_name: &str,
        sk: &str,
        old: Option<Value>,
        new: Option<Value>,
        who: Option<Value>,
        sequence: u32,
    ) -> EventRecord {
        let mut change = json!({
            "ApproximateCreationDateTime": 1_790_000_000,
            "Keys": {"pk": {"S": "x"}, "sk": {"S": sk}},
            "SequenceNumber": sequence.to_string(),
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(old) = old {
            change["OldImage"] = old;
        }
        if let Some(new) = new {
            change["NewImage"] = new;
        }
        let mut record = json!({
            "awsRegion": "us-east-1",
            "dynamodb": change,
            "eventID": format!("event-{sequence}"),
            "eventName": event_name,
            "eventSource": "aws:dynamodb",
        });
        if let Some(who) = who {
            record["userIdentity"] = who;
        }
        serde_json::from_value(record).unwrap()
    }

    pub fn ttl() -> Option<Value> {
        Some(json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"}))
    }

    pub fn upload(status: UploadStatus) -> Upload {
        Upload {
            status,
            ..super::super::tests::pending_upload()
        }
    }

    pub fn modify(before: &Upload, after: &Upload, sequence: u32) -> EventRecord {
        record(
            "MODIFY",
            "upload",
            Some(item(before)),
            Some(item(after)),
            None,
            sequence,
        )
    }

    fn kind_of(record: &EventRecord) -> Option<&'static str> {
        event_of(record).unwrap().map(|event| event.detail_type())
    }

    #[test]
    fn a_status_change_to_completed_or_failed_is_an_event() {
        use UploadStatus::*;
        for (before, after, expected) in [
            (Pending, Completed, Some("Upload Completed")),
            (Processing, Completed, Some("Upload Completed")),
            (Pending, Failed, Some("Upload Failed")),
            (Processing, Failed, Some("Upload Failed")),
            (Pending, Processing, None),
            (Completed, Completed, None),
            (Failed, Failed, None),
            (Pending, Pending, None),
        ] {
            let old = upload(before);
            let new = Upload {
                status: after,
                ..old.clone()
            };
            assert_eq!(kind_of(&modify(&old, &new, 1)), expected, "{before:?} → {after:?}");
        }
    }

    #[test]
    fn an_upload_completed_at_creation_is_an_event_and_a_pending_one_is_not() {
        let completed = record(
            "INSERT",
            "upload",
            None,
            Some(item(&upload(UploadStatus::Completed))),
            None,
            1,
        );
        assert_eq!(kind_of(&completed), Some("Upload Completed"));
        let pending = record(
            "INSERT",
            "upload",
            None,
            Some(item(&upload(UploadStatus::Pending))),
            None,
            2,
        );
        assert_eq!(kind_of(&pending), None);
    }

    #[test]
    fn a_completion_is_described_by_the_new_image() {
        let old = upload(UploadStatus::Pending);
        let new = Upload {
            status: UploadStatus::Completed,
            s3_key: old.final_key().to_owned(),
            file_hash: Some("cd".repeat(32)),
            object_id: Some(ObjectId::generate()),
            etag: Some("\"etag\"".into()),
            completed_at: Some(Timestamp::now()),
            ..old.clone()
        };
        let Some(Event::Upload { kind, detail }) = event_of(&modify(&old, &new, 4)).unwrap() else {
            panic!("no upload event");
        };
        assert_eq!(kind, UploadEventKind::Completed);
        assert_eq!(detail.event_id, "event-4");
        assert_eq!(detail.occurred_at.to_string(), "2026-09-21T14:13:20.000Z");
        assert_eq!(*detail, UploadEvent::new(&new, "event-4", detail.occurred_at).unwrap());
        assert_eq!(detail.file_hash, new.file_hash);
        assert_eq!(detail.s3_key, new.final_key());
    }

    #[test]
    fn removals_by_a_request_are_deletions_and_by_ttl_expiries_of_unfinished_uploads() {
        use UploadStatus::*;
        let iam_user = Some(json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE"}));
        for (status, who, expected) in [
            (Pending, None, Some("Upload Deleted")),
            (Completed, None, Some("Upload Deleted")),
            (Failed, iam_user.clone(), Some("Upload Deleted")),
            (Pending, ttl(), Some("Upload Expired")),
            (Processing, ttl(), Some("Upload Expired")),
            (Failed, ttl(), None),
            (Completed, ttl(), None),
        ] {
            let removed = record("REMOVE", "upload", Some(item(&upload(status))), None, who.clone(), 1);
            assert_eq!(kind_of(&removed), expected, "{status:?} removed by {who:?}");
        }
        let expired = record("REMOVE", "upload", Some(item(&upload(Pending))), None, ttl(), 1);
        let Some(Event::Upload { detail, .. }) = event_of(&expired).unwrap() else {
            panic!("no upload event");
        };
        assert_eq!(detail.status, Pending, "the status the record had");
    }

    #[test]
    fn a_new_batch_is_submitted_with_the_pipes_fields() {
        let batch = Batch {
            batch_id: BatchId::generate(),
            bucket_id: BucketId::generate(),
            namespace_id: NamespaceId::generate(),
            status: TaskStatus::Queued,
            object_ids: vec![ObjectId::generate()],
            task_id: Some(TaskId::generate()),
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
            submitted_at: Some(Timestamp::now()),
        };
        let inserted = record("INSERT", "batch", None, Some(item(&batch)), None, 1);
        let event = event_of(&inserted).unwrap().expect("an event");
        assert_eq!(event.detail_type(), "Batch Submitted");
        let entry = event.entry().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&entry.detail).unwrap(),
            json!({
                "batch_id": batch.batch_id, "bucket_id": batch.bucket_id,
                "namespace_id": batch.namespace_id, "task_id": batch.task_id,
            })
        );
        // A batch changed later is no new submission.
        let modified = record("MODIFY", "batch", Some(item(&batch)), Some(item(&batch)), None, 2);
        assert_eq!(kind_of(&modified), None);
    }

    #[test]
    fn other_records_make_no_event() {
        for record in [
            record("MODIFY", "counters", Some(json!({})), Some(json!({})), None, 2),
            record("REMOVE", "removed", Some(json!({})), None, ttl(), 3),
            record("INSERT", "task", None, Some(json!({})), None, 4),
        ] {
            assert_eq!(event_of(&record), Ok(None), "{}", record.event_id);
        }
    }

    #[test]
    fn an_unreadable_image_is_an_error() {
        let pending = item(&upload(UploadStatus::Pending));
        for record in [
            record("MODIFY", "upload", Some(pending.clone()), None, None, 1),
            record("REMOVE", "upload", None, None, None, 2),
            record(
                "REMOVE",
                "upload",
                Some(json!({"status": {"S": "GONE"}})),
                None,
                ttl(),
                3,
            ),
            record("INSERT", "batch", None, Some(json!({"batch_id": {"S": "x"}})), None, 4),
            record("INSERT", "upload", None, None, None, 5),
        ] {
            let err = event_of(&record).unwrap_err();
            assert_eq!(err.event_id, record.event_id);
        }
    }
}
