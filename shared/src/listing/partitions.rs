//! Reading the index partitions a filtered listing must evaluate: only within the
//! `created_at` range the filter implies, as disjoint `created_at` slices read at once (so
//! latency grows with a partition's size divided by its slices), and never more than
//! [`MAX_ITEMS_READ`] items.

use super::{AccessPath, ListError, TooBroad};
use crate::app::App;
use crate::model::{Bucket, BucketCounts, UploadStatus};
use crate::query::ListRequest;
use crate::query::range::CreatedAtRange;
use crate::store::schema::{BY_CREATED_AT, BY_STATUS, IndexSchema};
use crate::store::{IndexQuery, IndexRead, QueryError, ReadBudget};
use crate::time::Timestamp;

/// The most index items one List request reads: about 4 MB of projected items and 500
/// read units on DynamoDB, and well inside API Gateway's 30 s even on DynamoDB Local.
pub const MAX_ITEMS_READ: usize = 25_000;

/// How partitions are read: cut into slices read at once, one per `uploads_per_slice`
/// uploads a partition holds (by the bucket's counters) and at most `max_slices`; and at
/// most `max_items_read` items in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub uploads_per_slice: u64,
    pub max_slices: u64,
    pub max_items_read: usize,
}

impl Reading {
    /// Buckets of up to 1 000 uploads are read in one query per partition (the fewest
    /// calls); larger ones in up to 8 concurrent slices.
    pub const DEFAULT: Self = Self {
        uploads_per_slice: 1_000,
        max_slices: 8,
        max_items_read: MAX_ITEMS_READ,
    };

    fn slices(&self, holds: u64) -> usize {
        let slices = holds
            .div_ceil(self.uploads_per_slice.max(1))
            .clamp(1, self.max_slices.max(1));
        usize::try_from(slices).unwrap_or(1)
    }
}

/// A partition of an index and how many uploads the bucket's counters say it holds.
struct Partition {
    index: IndexSchema,
    key: String,
    holds: u64,
}

fn partitions(bucket: &Bucket, path: &AccessPath, counts: &BucketCounts) -> Vec<Partition> {
    let held = |status: &UploadStatus| counts.by_status.get(status).map_or(0, |c| c.uploads);
    match path {
        AccessPath::Statuses(statuses) => statuses
            .iter()
            .map(|status| Partition {
                index: BY_STATUS,
                key: format!("{}#{status}", bucket.bucket_id),
                holds: held(status),
            })
            .collect(),
        _ => vec![Partition {
            index: BY_CREATED_AT,
            key: bucket.bucket_id.to_string(),
            holds: counts.by_status.keys().map(held).sum(),
        }],
    }
}

pub(super) fn read_error(err: QueryError, cap: usize) -> ListError {
    match err {
        QueryError::OverBudget => TooBroad::Filter { in_scope: None, cap }.into(),
        QueryError::Failure(failure) => failure.into(),
    }
}

/// The uploads `request` may match on `path`, projected to what it evaluates, in
/// `created_at` order within each partition.
pub(super) async fn read_candidates(
    app: &App,
    bucket: &Bucket,
    request: &ListRequest,
    path: &AccessPath,
    reading: Reading,
) -> Result<IndexRead, ListError> {
    let range = CreatedAtRange::of(request.filter.as_ref());
    if range.is_empty() {
        return Ok(IndexRead {
            items: vec![],
            items_read: 0,
        });
    }
    let counts = app.store.bucket_counts(&bucket.bucket_id).await?;
    let partitions = partitions(bucket, path, &counts);
    let in_scope: u64 = partitions.iter().map(|p| p.holds).sum();
    // Known too broad before reading anything; a narrower range is judged as it is read.
    let cap = reading.max_items_read;
    if range.is_all() && in_scope > cap as u64 {
        return Err(TooBroad::Filter {
            in_scope: Some(in_scope),
            cap,
        }
        .into());
    }
    let projection = request.attributes();
    let now = Timestamp::now();
    let queries: Vec<IndexQuery> = partitions
        .iter()
        .flat_map(|partition| {
            range
                .split(reading.slices(partition.holds), bucket.created_at, now)
                .into_iter()
                .map(|slice| IndexQuery {
                    index: partition.index,
                    partition: &partition.key,
                    from: slice.from.map(|t| t.to_string()),
                    until: slice.until.map(|t| t.to_string()),
                    ascending: true,
                    max_items: None,
                    projection: Some(&projection),
                })
        })
        .collect();
    let budget = ReadBudget::new(cap);
    let reads = futures::future::try_join_all(queries.iter().map(|query| app.store.query_index(query, &budget)))
        .await
        .map_err(|err| read_error(err, cap))?;
    Ok(IndexRead {
        items_read: reads.iter().map(|read| read.items_read).sum(),
        items: reads.into_iter().flat_map(|read| read.items).collect(),
    })
}
