use super::schema::{BY_CREATED_AT, BY_STATUS};
use super::{Item, Store, key_pair, to_item};
use crate::error::ApiError;
use crate::model::Upload;

const UPLOAD: &str = "upload";

/// The GSI key attributes of an upload; they change whenever its status changes.
pub(crate) fn index_keys(upload: &Upload) -> [(&'static str, String); 4] {
    let order = format!("{}#{}", upload.created_at, upload.upload_id);
    [
        (BY_CREATED_AT.partition_key, upload.bucket_id.clone()),
        (BY_CREATED_AT.sort_key, order.clone()),
        (
            BY_STATUS.partition_key,
            format!("{}#{}", upload.bucket_id, upload.status),
        ),
        (BY_STATUS.sort_key, order),
    ]
}

/// The item of an upload: the record without its response-only `presigned_url`, with its
/// table and GSI keys.
pub(crate) fn upload_item(upload: &Upload) -> Result<Item, ApiError> {
    let mut keys = key_pair(upload.upload_id.clone(), UPLOAD).to_vec();
    keys.extend(index_keys(upload));
    let stored = Upload {
        presigned_url: None,
        ..upload.clone()
    };
    to_item(&stored, &keys)
}

impl Store {
    pub async fn insert_upload(&self, upload: &Upload) -> Result<(), ApiError> {
        self.put_new(upload_item(upload)?).await
    }

    pub async fn upload(&self, upload_id: &str) -> Result<Option<Upload>, ApiError> {
        self.get(upload_id, UPLOAD).await
    }
}
