//! List Uploads over DynamoDB at O(page) cost where the query allows it.
//!
//! The planner picks the access path:
//! - no filter, no search, sorted by `created_at`: the `by_created_at` GSI in the wanted
//!   direction, reading `offset + limit` items; `total` and `stats` come from the bucket's
//!   counters item (one read), so the cost does not grow with the bucket;
//! - a filter that says nothing but which statuses (`status` `eq`/`in`, the shorthand, an
//!   `AND` or `OR` of such), no search, sorted by `created_at`: the first `offset + limit`
//!   items of each pinned status's `by_status` GSI partition (sorted by `created_at`),
//!   merged; `total` and `stats` from the counters item, read at the same time: O(page) too;
//! - a filter that pins `status` among other conditions: the `by_status` GSI partitions of
//!   those statuses only;
//! - anything else: the bucket's whole `by_created_at` partition.
//!
//! The last two read their partitions ([`partitions`]) only within the `created_at` range
//! the filter implies, as concurrent slices, projected to the attributes the query needs;
//! evaluate filter, search and sort in memory (`crate::query`), compute `total` and `stats`
//! over all matches, and then read the full records of just the page.
//!
//! What one request may read is capped ([`MAX_ITEMS_READ`]): a query that would read more
//! (a filter the indexes cannot narrow over a large bucket, or a deep `offset`) is refused
//! with a 400 that says how to narrow it, instead of running past API Gateway's 30 s.

mod partitions;

pub use partitions::{MAX_ITEMS_READ, Reading};

use crate::app::App;
use crate::auth::Scope;
use crate::errors::{Failure, Invalid, NotFound, RequestError};
use crate::ids::{BucketRef, UploadId};
use crate::model::{Bucket, Upload, UploadStatus};
use crate::query::filter::{CaseSensitive, Condition, Filter, Op};
use crate::query::values::{Operand, equals};
use crate::query::{ListRequest, PageInfo, PageParams, Stats, evaluate};
use crate::store::schema::{BY_CREATED_AT, BY_STATUS};
use crate::store::{IndexQuery, ReadBudget, from_item};
use crate::uploads::{ReadError, download_url, resolve_bucket};
use serde_json::Value;
use std::collections::BTreeSet;

/// Why a listing has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Request(#[from] RequestError),
    /// Answering would read more than one request may.
    #[error(transparent)]
    TooBroad(#[from] TooBroad),
}

/// A listing that would read more index items than one request may (`cap`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TooBroad {
    /// The filter cannot be narrowed by the indexes, and the uploads it may match number
    /// `in_scope` (`None`: more than the cap, found while reading).
    #[error(
        "This query would read {} uploads; one request reads at most {cap}. Narrow it with a status filter (eq/in) or a created_at range (gt/gte/lt/lte) that matches fewer uploads.",
        in_scope.map_or_else(|| format!("more than {cap}"), |n| n.to_string())
    )]
    Filter { in_scope: Option<u64>, cap: usize },
    /// A page deeper than the cap: `offset + limit` items would be read.
    #[error(
        "offset + limit may be at most {cap} (offset {offset}, limit {limit}). Narrow the listing with a status filter or a created_at range instead of paging this deep."
    )]
    Offset { offset: u64, limit: u32, cap: usize },
}

impl From<Invalid> for ListError {
    fn from(err: Invalid) -> Self {
        RequestError::from(err).into()
    }
}

impl From<NotFound> for ListError {
    fn from(err: NotFound) -> Self {
        RequestError::from(err).into()
    }
}

impl From<Failure> for ListError {
    fn from(err: Failure) -> Self {
        RequestError::from(err).into()
    }
}

impl From<ReadError> for ListError {
    fn from(err: ReadError) -> Self {
        RequestError::from(err).into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessPath {
    /// The first `offset + limit` items of the `by_created_at` GSI, counters for the rest.
    CreatedAtPage { ascending: bool },
    /// The first `offset + limit` items of each of these statuses' `by_status` partitions,
    /// counters for the rest.
    StatusPage {
        statuses: BTreeSet<UploadStatus>,
        ascending: bool,
    },
    /// The `by_status` GSI partitions of these statuses.
    Statuses(BTreeSet<UploadStatus>),
    /// The whole `by_created_at` partition.
    WholeBucket,
}

/// A page of uploads, where it stands, the stats of every match, and what it cost.
#[derive(Debug, Clone)]
pub struct Listed {
    pub results: Vec<Upload>,
    pub page: PageInfo,
    pub stats: Stats,
    pub access_path: AccessPath,
    /// Items DynamoDB read from the indexes (the page's batch read and the counters
    /// read come on top: at most `limit` items and one).
    pub items_read: usize,
}

pub fn choose_path(request: &ListRequest) -> AccessPath {
    if request.is_plain_listing() {
        return AccessPath::CreatedAtPage {
            ascending: !request.sort.descending,
        };
    }
    if request.search.is_none()
        && request.sort.field.is("created_at")
        && let Some(statuses) = request.filter.as_ref().and_then(only_statuses)
    {
        return AccessPath::StatusPage {
            statuses,
            ascending: !request.sort.descending,
        };
    }
    match request.filter.as_ref().and_then(pinned_statuses) {
        Some(statuses) => AccessPath::Statuses(statuses),
        None => AccessPath::WholeBucket,
    }
}

/// The statuses a filter selects when it says nothing else: every condition in it is a
/// `status` `eq`/`in`, under `AND`s and `OR`s only.
fn only_statuses(filter: &Filter) -> Option<BTreeSet<UploadStatus>> {
    match filter {
        Filter::Condition(_) => pinned_statuses(filter),
        Filter::And(children) if !children.is_empty() => children
            .iter()
            .map(only_statuses)
            .reduce(|a, b| Some(a?.intersection(&b?).copied().collect()))
            .flatten(),
        Filter::Or(children) if !children.is_empty() => {
            children
                .iter()
                .map(only_statuses)
                .try_fold(BTreeSet::new(), |mut all, statuses| {
                    all.extend(statuses?);
                    Some(all)
                })
        }
        _ => None,
    }
}

/// The statuses a filter restricts uploads to, when it does.
fn pinned_statuses(filter: &Filter) -> Option<BTreeSet<UploadStatus>> {
    match filter {
        Filter::Condition(Condition { field, op }) if field.is("status") => {
            // Exactly the statuses the condition itself would match, case rule included.
            let named = |operands: &[Operand], case: CaseSensitive| {
                UploadStatus::ALL
                    .into_iter()
                    .filter(|status| {
                        let wire = Value::from(status.as_str());
                        operands.iter().any(|o| equals(Some(&wire), o, case))
                    })
                    .collect()
            };
            match op {
                Op::Eq(operand, case) => Some(named(std::slice::from_ref(operand), *case)),
                Op::In(operands, case) => Some(named(operands, *case)),
                _ => None,
            }
        }
        Filter::And(children) => children
            .iter()
            .filter_map(pinned_statuses)
            .reduce(|a, b| a.intersection(&b).copied().collect()),
        Filter::Or(children) if !children.is_empty() => {
            children
                .iter()
                .map(pinned_statuses)
                .try_fold(BTreeSet::new(), |mut all, pinned| {
                    all.extend(pinned?);
                    Some(all)
                })
        }
        _ => None,
    }
}

/// `POST /v1/buckets/{bucket_identifier}/uploads/list`.
pub async fn list_uploads(
    app: &App,
    scope: &Scope,
    bucket: &BucketRef,
    body: Option<&Value>,
    page: PageParams<'_>,
) -> Result<Listed, ListError> {
    let request = ListRequest::parse(body, page)?;
    let bucket = resolve_bucket(app, scope, bucket).await?;
    let mut listed = list_bucket(app, &bucket, &request).await?;
    if request.return_presigned_urls {
        add_download_urls(app, &mut listed.results).await?;
    }
    Ok(listed)
}

pub async fn list_bucket(app: &App, bucket: &Bucket, request: &ListRequest) -> Result<Listed, ListError> {
    list_bucket_reading(app, bucket, request, Reading::DEFAULT).await
}

/// [`list_bucket`], reading as `reading` says (tests slice small buckets finely, and cap
/// them low).
pub async fn list_bucket_reading(
    app: &App,
    bucket: &Bucket,
    request: &ListRequest,
    reading: Reading,
) -> Result<Listed, ListError> {
    let access_path = choose_path(request);
    let offset = usize::try_from(request.offset).unwrap_or(usize::MAX);
    let limit = request.limit as usize;
    let (results, total, stats, items_read) = match &access_path {
        AccessPath::CreatedAtPage { ascending } => {
            let wanted = offset.saturating_add(limit);
            if wanted > reading.max_items_read {
                return Err(TooBroad::Offset {
                    offset: request.offset,
                    limit: request.limit,
                    cap: reading.max_items_read,
                }
                .into());
            }
            let page = IndexQuery {
                index: BY_CREATED_AT,
                partition: bucket.bucket_id.as_str(),
                from: None,
                until: None,
                ascending: *ascending,
                max_items: Some(wanted),
                projection: None,
            };
            let budget = ReadBudget::unlimited();
            let (read, counts) = tokio::try_join!(
                async {
                    app.store
                        .query_index(&page, &budget)
                        .await
                        .map_err(|err| partitions::read_error(err, usize::MAX))
                },
                async { Ok(app.store.bucket_counts(&bucket.bucket_id).await?) }
            )?;
            let stats = Stats::of_counts(&counts);
            let results: Vec<Upload> = read
                .items
                .into_iter()
                .skip(offset)
                .map(from_item)
                .collect::<Result<_, _>>()?;
            (results, stats.total_uploads, stats, read.items_read)
        }
        AccessPath::StatusPage { statuses, ascending } => {
            let wanted = offset.saturating_add(limit);
            if wanted > reading.max_items_read {
                return Err(TooBroad::Offset {
                    offset: request.offset,
                    limit: request.limit,
                    cap: reading.max_items_read,
                }
                .into());
            }
            status_page(app, bucket, statuses, *ascending, offset, wanted).await?
        }
        AccessPath::Statuses(_) | AccessPath::WholeBucket => {
            let read = partitions::read_candidates(app, bucket, request, &access_path, reading).await?;
            let (results, total, stats) = evaluate_page(app, request, read.items).await?;
            (results, total, stats, read.items_read)
        }
    };
    Ok(Listed {
        results,
        page: PageInfo {
            total,
            limit: request.limit,
            offset: request.offset,
        },
        stats,
        access_path,
        items_read,
    })
}

/// The uploads `offset..wanted` of the given statuses in `created_at` order: the first
/// `wanted` of each status's `by_status` partition (whole records: the index projects them
/// all), merged by the partitions' shared sort key (`created_at#upload_id`, the listing's
/// own order), with `total` and `stats` from the counters of those statuses, read at once.
async fn status_page(
    app: &App,
    bucket: &Bucket,
    statuses: &BTreeSet<UploadStatus>,
    ascending: bool,
    offset: usize,
    wanted: usize,
) -> Result<(Vec<Upload>, u64, Stats, usize), ListError> {
    let partitions: Vec<String> = statuses
        .iter()
        .map(|status| format!("{}#{status}", bucket.bucket_id))
        .collect();
    let budget = ReadBudget::unlimited();
    let pages = partitions.iter().map(|partition| {
        let page = IndexQuery {
            index: BY_STATUS,
            partition,
            from: None,
            until: None,
            ascending,
            max_items: Some(wanted),
            projection: None,
        };
        let budget = &budget;
        async move {
            app.store
                .query_index(&page, budget)
                .await
                .map_err(|err| partitions::read_error(err, usize::MAX))
        }
    });
    let (reads, counts) = tokio::try_join!(futures::future::try_join_all(pages), async {
        Ok::<_, ListError>(app.store.bucket_counts(&bucket.bucket_id).await?)
    })?;
    let items_read = reads.iter().map(|read| read.items_read).sum();
    let mut merged: Vec<crate::store::Item> = reads.into_iter().flat_map(|read| read.items).collect();
    let sort_key = |item: &crate::store::Item| match item.get(BY_STATUS.sort_key) {
        Some(aws_sdk_dynamodb::types::AttributeValue::S(key)) => key.clone(),
        _ => String::new(),
    };
    merged.sort_by_cached_key(sort_key);
    if !ascending {
        merged.reverse();
    }
    let results: Vec<Upload> = merged
        .into_iter()
        .skip(offset)
        .take(wanted - offset)
        .map(from_item)
        .collect::<Result<_, _>>()?;
    let stats = Stats::of_counts(&counts.of_statuses(statuses));
    Ok((results, stats.total_uploads, stats, items_read))
}

/// Filters, sorts and pages projected candidates, then reads the page's full records.
async fn evaluate_page(
    app: &App,
    request: &ListRequest,
    candidates: Vec<crate::store::Item>,
) -> Result<(Vec<Upload>, u64, Stats), Failure> {
    let candidates: Vec<Value> = candidates.into_iter().map(from_item).collect::<Result<_, _>>()?;
    let (page, total, stats) = evaluate(request, candidates);
    let ids = page
        .iter()
        .map(|u| serde_json::from_value::<UploadId>(u["upload_id"].clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| Failure::bug(format!("a listed upload without an id: {err}")))?;
    Ok((app.store.uploads_by_ids(&ids).await?, total, stats))
}

/// A fresh GET URL for each COMPLETED upload (never a PUT URL), signed locally.
async fn add_download_urls(app: &App, uploads: &mut [Upload]) -> Result<(), Failure> {
    let urls = futures::future::try_join_all(uploads.iter().map(|u| download_url(app, u))).await?;
    for (upload, url) in uploads.iter_mut().zip(urls) {
        upload.presigned_url = url;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::PageParams;
    use serde_json::json;

    fn path(body: Value) -> AccessPath {
        choose_path(&ListRequest::parse(Some(&body), PageParams::default()).unwrap())
    }

    fn statuses(names: &[UploadStatus]) -> AccessPath {
        AccessPath::Statuses(names.iter().copied().collect())
    }

    #[test]
    fn plain_listings_read_one_page_of_the_created_at_index() {
        assert_eq!(path(json!({})), AccessPath::CreatedAtPage { ascending: false });
        assert_eq!(
            path(json!({"sort": {"field": "created_at", "direction": "asc"}})),
            AccessPath::CreatedAtPage { ascending: true }
        );
        assert_eq!(
            path(json!({"filters": null, "search": ""})),
            AccessPath::CreatedAtPage { ascending: false }
        );
    }

    fn status_page(names: &[UploadStatus], ascending: bool) -> AccessPath {
        AccessPath::StatusPage {
            statuses: names.iter().copied().collect(),
            ascending,
        }
    }

    #[test]
    fn filters_that_only_pin_statuses_read_one_page_of_each_status() {
        use UploadStatus::*;
        assert_eq!(
            path(json!({"filters": {"status": "PENDING"}})),
            status_page(&[Pending], false)
        );
        assert_eq!(
            path(json!({"filters": {"status": "failed"}, "sort": {"field": "created_at", "direction": "asc"}})),
            status_page(&[Failed], true)
        );
        assert_eq!(
            path(json!({"filters": {"field": "status", "operator": "in", "value": ["FAILED", "COMPLETED"]}})),
            status_page(&[Completed, Failed], false)
        );
        assert_eq!(
            path(json!({"filters": {"OR": [{"status": "FAILED"}, {"status": "PENDING"}]}})),
            status_page(&[Pending, Failed], false)
        );
        assert_eq!(
            path(
                json!({"filters": {"AND": [{"field": "status", "operator": "in", "value": ["FAILED", "PENDING"]}, {"status": "PENDING"}]}})
            ),
            status_page(&[Pending], false)
        );
        assert_eq!(
            path(json!({"filters": {"status": "NOT_A_STATUS"}})),
            status_page(&[], false)
        );
        // Anything besides statuses, a search or another sort: the status partitions whole.
        assert_eq!(
            path(json!({"filters": {"status": "PENDING"}, "search": "a"})),
            statuses(&[Pending])
        );
        assert_eq!(
            path(json!({"filters": {"status": "PENDING"}, "sort": {"field": "filename"}})),
            statuses(&[Pending])
        );
        assert_eq!(
            path(
                json!({"filters": {"AND": [{"status": "PENDING"}, {"field": "status", "operator": "ne", "value": "FAILED"}]}})
            ),
            statuses(&[Pending])
        );
    }

    #[test]
    fn pinned_statuses_use_the_status_index() {
        use UploadStatus::*;
        assert_eq!(
            path(json!({"filters": {"status": "PENDING", "file_size_bytes": 3}})),
            statuses(&[Pending])
        );
        assert_eq!(
            path(json!({"filters": {"OR": [{"status": "FAILED"}, {"status": "PENDING", "filename": "a"}]}})),
            statuses(&[Pending, Failed])
        );
        assert_eq!(
            path(json!({"filters": {"AND": [{"status": "pending"}, {"filename": "a"}], "case_sensitive": true}})),
            statuses(&[])
        );
    }

    #[test]
    fn other_queries_read_the_bucket() {
        assert_eq!(
            path(json!({"filters": {"OR": [{"status": "FAILED"}, {"file_size_bytes": 1}]}})),
            AccessPath::WholeBucket
        );
        assert_eq!(
            path(json!({"filters": {"NOT": {"status": "FAILED"}}})),
            AccessPath::WholeBucket
        );
        assert_eq!(
            path(json!({"filters": {"field": "status", "operator": "ne", "value": "FAILED"}})),
            AccessPath::WholeBucket
        );
        assert_eq!(path(json!({"search": "x"})), AccessPath::WholeBucket);
        assert_eq!(
            path(json!({"sort": {"field": "file_size_bytes"}})),
            AccessPath::WholeBucket
        );
    }
}
