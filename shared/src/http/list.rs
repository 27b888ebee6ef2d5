//! List Uploads' response: the page, the contract's pagination (with links to the pages
//! around it), and the stats of every match.

use crate::ids::BucketRef;
use crate::listing::Listed;
use crate::model::Upload;
use crate::query::{PageInfo, Stats};
use serde::Serialize;

/// The contract's List Uploads response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListResponse {
    pub results: Vec<Upload>,
    pub pagination: Pagination,
    pub stats: Stats,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pagination {
    pub total: u64,
    pub page: u64,
    pub page_size: u32,
    pub total_pages: u64,
    /// A path with query (`…/uploads/list?limit=20&offset=40`) that, POSTed with the same
    /// body, returns the next page; `null` on the last page.
    pub next_page: Option<String>,
    pub previous_page: Option<String>,
}

impl Pagination {
    /// `page` of the listing at `list_path`.
    pub fn new(page: PageInfo, list_path: &str) -> Self {
        let PageInfo { total, limit, offset } = page;
        let limit64 = u64::from(limit);
        let link = |offset: u64| format!("{list_path}?limit={limit}&offset={offset}");
        Self {
            total,
            page: offset / limit64 + 1,
            page_size: limit,
            total_pages: total.div_ceil(limit64),
            next_page: (offset.saturating_add(limit64) < total).then(|| link(offset + limit64)),
            previous_page: (offset > 0).then(|| link(offset.saturating_sub(limit64))),
        }
    }
}

impl ListResponse {
    /// The response to a listing of the bucket a request named `bucket`.
    pub fn new(listed: Listed, bucket: &BucketRef) -> Self {
        let list_path = format!("/v1/buckets/{bucket}/uploads/list");
        Self {
            pagination: Pagination::new(listed.page, &list_path),
            results: listed.results,
            stats: listed.stats,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(total: u64, limit: u32, offset: u64) -> PageInfo {
        PageInfo { total, limit, offset }
    }

    #[test]
    fn pagination_links() {
        let p = Pagination::new(page(45, 20, 20), "/v1/buckets/b/uploads/list");
        assert_eq!((p.page, p.total_pages), (2, 3));
        assert_eq!(
            p.next_page.as_deref(),
            Some("/v1/buckets/b/uploads/list?limit=20&offset=40")
        );
        assert_eq!(
            p.previous_page.as_deref(),
            Some("/v1/buckets/b/uploads/list?limit=20&offset=0")
        );
        let last = Pagination::new(page(45, 20, 40), "/l");
        assert_eq!(last.next_page, None);
        let first = Pagination::new(page(0, 20, 0), "/l");
        assert_eq!(
            (first.total_pages, first.next_page.clone(), first.previous_page.clone()),
            (0, None, None)
        );
    }
}
