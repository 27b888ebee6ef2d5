//! List Uploads over DynamoDB at O(page) cost where the query allows it.
//!
//! The planner picks the access path:
//! - no filter, no search, sorted by `created_at`: the `by_created_at` GSI in the wanted
//!   direction, reading `offset + limit` items; `total` and `stats` come from the bucket's
//!   counters item (one read), so the cost does not grow with the bucket;
//! - a filter that pins `status` (`eq`/`in`, alone or under `AND`, or an `OR` of such):
//!   the `by_status` GSI partitions of those statuses only;
//! - anything else: the bucket's whole `by_created_at` partition.
//!
//! The last two read their partitions projected to the attributes the query needs, evaluate
//! filter, search and sort in memory (`crate::query`), compute `total` and `stats` over all
//! matches, and then read the full records of just the page.

use crate::app::App;
use crate::auth::Scope;
use crate::errors::{Failure, RequestError};
use crate::ids::{BucketRef, UploadId};
use crate::model::{Bucket, Upload, UploadStatus};
use crate::query::filter::{CaseSensitive, Condition, Filter, Op};
use crate::query::values::{Operand, equals};
use crate::query::{ListRequest, PageInfo, PageParams, Stats, evaluate};
use crate::store::from_item;
use crate::store::schema::{BY_CREATED_AT, BY_STATUS};
use crate::uploads::{download_url, resolve_bucket};
use serde_json::Value;
use std::collections::BTreeSet;

pub type ListError = RequestError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessPath {
    /// The first `offset + limit` items of the `by_created_at` GSI, counters for the rest.
    CreatedAtPage { ascending: bool },
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
    match request.filter.as_ref().and_then(pinned_statuses) {
        Some(statuses) => AccessPath::Statuses(statuses),
        None => AccessPath::WholeBucket,
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

pub async fn list_bucket(app: &App, bucket: &Bucket, request: &ListRequest) -> Result<Listed, Failure> {
    let access_path = choose_path(request);
    let offset = usize::try_from(request.offset).unwrap_or(usize::MAX);
    let limit = request.limit as usize;
    let (results, total, stats, items_read) = match &access_path {
        AccessPath::CreatedAtPage { ascending } => {
            let (read, counts) = tokio::try_join!(
                app.store.query_index(
                    BY_CREATED_AT,
                    bucket.bucket_id.as_str(),
                    *ascending,
                    Some(offset.saturating_add(limit)),
                    None,
                ),
                app.store.bucket_counts(&bucket.bucket_id)
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
        AccessPath::Statuses(statuses) => {
            let projection = request.attributes();
            let reads = futures::future::try_join_all(statuses.iter().map(|status| {
                let key = format!("{}#{status}", bucket.bucket_id);
                let projection = &projection;
                async move {
                    app.store
                        .query_index(BY_STATUS, &key, true, None, Some(projection))
                        .await
                }
            }))
            .await?;
            let items_read = reads.iter().map(|read| read.items_read).sum();
            let candidates: Vec<_> = reads.into_iter().flat_map(|read| read.items).collect();
            let (results, total, stats) = evaluate_page(app, request, candidates).await?;
            (results, total, stats, items_read)
        }
        AccessPath::WholeBucket => {
            let projection = request.attributes();
            let read = app
                .store
                .query_index(BY_CREATED_AT, bucket.bucket_id.as_str(), true, None, Some(&projection))
                .await?;
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

    #[test]
    fn pinned_statuses_use_the_status_index() {
        use UploadStatus::*;
        assert_eq!(path(json!({"filters": {"status": "PENDING"}})), statuses(&[Pending]));
        assert_eq!(
            path(json!({"filters": {"status": "PENDING", "file_size_bytes": 3}})),
            statuses(&[Pending])
        );
        assert_eq!(
            path(json!({"filters": {"field": "status", "operator": "in", "value": ["FAILED", "COMPLETED"]}})),
            statuses(&[Completed, Failed])
        );
        assert_eq!(
            path(json!({"filters": {"OR": [{"status": "FAILED"}, {"status": "PENDING"}]}})),
            statuses(&[Pending, Failed])
        );
        assert_eq!(
            path(
                json!({"filters": {"AND": [{"field": "status", "operator": "in", "value": ["FAILED", "PENDING"]}, {"status": "PENDING"}]}})
            ),
            statuses(&[Pending])
        );
        assert_eq!(path(json!({"filters": {"status": "NOT_A_STATUS"}})), statuses(&[]));
        assert_eq!(path(json!({"filters": {"status": "pending"}})), statuses(&[Pending]));
        assert_eq!(
            path(json!({"filters": {"field": "status", "operator": "in", "value": ["failed", "Completed"]}})),
            statuses(&[Completed, Failed])
        );
        assert_eq!(
            path(json!({"filters": {"AND": [{"status": "pending"}], "case_sensitive": true}})),
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
