//! Reads for List Uploads: GSI queries (optionally projected to the attributes a query
//! needs) that count the items they read, and a batch read of one page of uploads.

use super::schema::IndexSchema;
use super::uploads::UPLOAD_SORT_KEY;
use super::{Item, Store, from_item, key_pair};
use crate::aws::{invalid_request, sdk_failure};
use crate::errors::Failure;
use crate::ids::UploadId;
use crate::model::Upload;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use std::collections::{BTreeSet, HashMap};

/// DynamoDB's BatchGetItem limit.
const BATCH_GET_MAX: usize = 100;

/// Items read from an index, and how many items DynamoDB read to return them.
pub struct IndexRead {
    pub items: Vec<Item>,
    pub items_read: usize,
}

impl Store {
    /// Queries `index` for partition `key` in sort-key order, stopping after `max_items`
    /// when given; `projection` limits the attributes returned.
    pub async fn query_index(
        &self,
        index: IndexSchema,
        key: &str,
        ascending: bool,
        max_items: Option<usize>,
        projection: Option<&BTreeSet<String>>,
    ) -> Result<IndexRead, Failure> {
        let mut names = HashMap::from([("#pk".to_owned(), index.partition_key.to_owned())]);
        let projection_expression = projection.map(|attributes| {
            let placeholders: Vec<String> = attributes
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    names.insert(format!("#a{i}"), name.clone());
                    format!("#a{i}")
                })
                .collect();
            placeholders.join(", ")
        });
        let mut read = IndexRead {
            items: Vec::new(),
            items_read: 0,
        };
        let mut start = None;
        loop {
            let remaining = max_items.map(|max| max.saturating_sub(read.items.len()));
            if remaining == Some(0) {
                break;
            }
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index.name)
                .key_condition_expression("#pk = :pk")
                .set_expression_attribute_names(Some(names.clone()))
                .expression_attribute_values(":pk", AttributeValue::S(key.to_owned()))
                .set_projection_expression(projection_expression.clone())
                .scan_index_forward(ascending)
                .set_limit(remaining.map(|r| i32::try_from(r).unwrap_or(i32::MAX)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|err| sdk_failure("query index", err))?;
            read.items_read += usize::try_from(page.scanned_count).unwrap_or(0);
            start = page.last_evaluated_key;
            read.items.extend(page.items.unwrap_or_default());
            if start.is_none() {
                break;
            }
        }
        Ok(read)
    }

    /// The uploads with these ids, in the order given (strongly consistent).
    pub async fn uploads_by_ids(&self, upload_ids: &[UploadId]) -> Result<Vec<Upload>, Failure> {
        let mut found: HashMap<UploadId, Upload> = HashMap::new();
        for chunk in upload_ids.chunks(BATCH_GET_MAX) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| {
                    key_pair(id.to_string(), UPLOAD_SORT_KEY)
                        .map(|(name, value)| (name.to_owned(), AttributeValue::S(value)))
                        .into()
                })
                .collect();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(invalid_request("BatchGetItem keys"))?,
            );
            while let Some(keys) = request.take() {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(|err| sdk_failure("batch get uploads", err))?;
                for item in output
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    let upload: Upload = from_item(item)?;
                    found.insert(upload.upload_id.clone(), upload);
                }
                request = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
            }
        }
        Ok(upload_ids.iter().filter_map(|id| found.remove(id)).collect())
    }
}
