//! Reads for List Uploads: GSI queries of a slice of a partition (optionally projected to
//! the attributes a query needs) that count the items they read against a budget, and a
//! batch read of one page of uploads.

use super::schema::IndexSchema;
use super::uploads::UPLOAD_SORT_KEY;
use super::{Item, Store, from_item, key_pair};
use crate::aws::{invalid_request, sdk_failure};
use crate::errors::Failure;
use crate::ids::UploadId;
use crate::model::Upload;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

/// DynamoDB's BatchGetItem limit.
const BATCH_GET_MAX: usize = 100;

/// Items read from an index, and how many items DynamoDB read to return them.
pub struct IndexRead {
    pub items: Vec<Item>,
    pub items_read: usize,
}

/// One slice of an index partition to read.
pub struct IndexQuery<'a> {
    pub index: IndexSchema,
    pub partition: &'a str,
    /// `from <= sort key < until` (sort keys start with `created_at`, so a timestamp
    /// string bounds them); `None` leaves that side open.
    pub from: Option<String>,
    pub until: Option<String>,
    pub ascending: bool,
    /// Stop after this many items.
    pub max_items: Option<usize>,
    /// Only these attributes.
    pub projection: Option<&'a BTreeSet<String>>,
}

/// How many items the reads of one request may examine together (concurrent reads share
/// it): they stop once it is spent.
#[derive(Debug)]
pub struct ReadBudget {
    cap: usize,
    spent: AtomicUsize,
}

impl ReadBudget {
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            spent: AtomicUsize::new(0),
        }
    }

    pub fn unlimited() -> Self {
        Self::new(usize::MAX)
    }

    /// Records `items` read; false once the total is over the cap.
    fn spend(&self, items: usize) -> bool {
        let before = self.spent.fetch_add(items, AtomicOrdering::Relaxed);
        before.saturating_add(items) <= self.cap
    }
}

/// Why a query returned nothing.
#[derive(Debug)]
pub enum QueryError {
    /// The request's reads together went over their budget.
    OverBudget,
    Failure(Failure),
}

impl From<Failure> for QueryError {
    fn from(failure: Failure) -> Self {
        QueryError::Failure(failure)
    }
}

impl Store {
    /// Reads a slice of an index partition in sort-key order, page by page, within `budget`.
    pub async fn query_index(&self, query: &IndexQuery<'_>, budget: &ReadBudget) -> Result<IndexRead, QueryError> {
        let mut names = HashMap::from([("#pk".to_owned(), query.index.partition_key.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(query.partition.to_owned()))]);
        let mut condition = "#pk = :pk".to_owned();
        if query.from.is_some() || query.until.is_some() {
            names.insert("#sk".to_owned(), query.index.sort_key.to_owned());
        }
        match (&query.from, &query.until) {
            (Some(from), Some(until)) => {
                // No sort key equals `until` itself (keys go on with `#<upload_id>`), so the
                // inclusive BETWEEN ends where `< until` would.
                condition.push_str(" AND #sk BETWEEN :from AND :until");
                values.insert(":from".to_owned(), AttributeValue::S(from.clone()));
                values.insert(":until".to_owned(), AttributeValue::S(until.clone()));
            }
            (Some(from), None) => {
                condition.push_str(" AND #sk >= :from");
                values.insert(":from".to_owned(), AttributeValue::S(from.clone()));
            }
            (None, Some(until)) => {
                condition.push_str(" AND #sk < :until");
                values.insert(":until".to_owned(), AttributeValue::S(until.clone()));
            }
            (None, None) => {}
        }
        let projection_expression = query.projection.map(|attributes| {
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
            let remaining = query.max_items.map(|max| max.saturating_sub(read.items.len()));
            if remaining == Some(0) {
                break;
            }
            let page = self
                .dynamodb()
                .query()
                .table_name(&self.table)
                .index_name(query.index.name)
                .key_condition_expression(&condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .set_projection_expression(projection_expression.clone())
                .scan_index_forward(query.ascending)
                .set_limit(remaining.map(|r| i32::try_from(r).unwrap_or(i32::MAX)))
                .set_exclusive_start_key(start)
                .customize()
                .config_override(page_timeouts())
                .send()
                .await
                .map_err(|err| sdk_failure("query index", err))?;
            let scanned = usize::try_from(page.scanned_count).unwrap_or(0);
            read.items_read += scanned;
            if !budget.spend(scanned) {
                return Err(QueryError::OverBudget);
            }
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
                    .dynamodb()
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .customize()
                    .config_override(page_timeouts())
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

/// Pages of up to 1 MB (a query page, a batch read of 100 records) get longer than a point
/// call: 10 s an attempt, 20 s with retries, still inside an API function's 29 s.
fn page_timeouts() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::default().timeout_config(crate::aws::timeouts(
        std::time::Duration::from_secs(10),
        std::time::Duration::from_secs(20),
    ))
}
