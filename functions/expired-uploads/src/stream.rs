//! Reading the table's stream records: which ones report an upload removed by TTL.

use aws_lambda_events::event::dynamodb::EventRecord;
use bucket_uploads::events::removed_by_ttl;
use bucket_uploads::model::Upload;
use bucket_uploads::store::UPLOAD_SORT_KEY;
use bucket_uploads::store::schema::SORT_KEY;
use serde_dynamo::AttributeValue;

/// The upload a stream record reports removed by TTL; `None` for every other record (an
/// operator deleting an item is not an expiry). An unreadable old image is an error.
pub fn expired_upload(record: &EventRecord) -> Option<Result<Upload, String>> {
    let by_ttl = removed_by_ttl(record);
    let is_upload = matches!(
        record.change.keys.get(SORT_KEY),
        Some(AttributeValue::S(sk)) if sk == UPLOAD_SORT_KEY
    );
    if !(by_ttl && is_upload) {
        return None;
    }
    // Without the old image (a stream not configured NEW_AND_OLD_IMAGES) nothing can be
    // counted; retrying will not help, but failing keeps the record visible.
    Some(
        serde_dynamo::from_item(record.change.old_image.clone())
            .map_err(|err| format!("removed upload has no readable old image: {err}")),
    )
}
