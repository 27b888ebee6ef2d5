//! The List Uploads query: filters, sort, search and pagination, parsed from the request
//! and evaluated over uploads as JSON. The DynamoDB-backed listing (`crate::listing`) picks
//! which uploads to read; this module decides which match and in what order.

pub mod fields;
pub mod filter;
pub mod range;
pub mod values;

use crate::errors::{Invalid, Loc};
use crate::model::{BucketCounts, UploadStatus};
use crate::validate::FieldReader;
use fields::FieldPath;
use filter::Filter;
use serde::Serialize;
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
const MAX_SEARCH_LEN: usize = 256;

/// The body keys List Uploads accepts (the SDK's `ListUploadsRequest`).
pub const ACCEPTED_KEYS: &[&str] = &["filters", "sort", "search", "return_presigned_urls", "limit", "offset"];

#[derive(Debug, Clone)]
pub struct Sort {
    pub field: FieldPath,
    pub descending: bool,
}

#[derive(Debug, Clone)]
pub struct ListRequest {
    pub filter: Option<Filter>,
    pub sort: Sort,
    /// Lowercased.
    pub search: Option<String>,
    pub return_presigned_urls: bool,
    pub limit: u32,
    pub offset: u64,
}

/// `limit` and `offset` as given in the query string (they win over the body's).
#[derive(Debug, Clone, Copy, Default)]
pub struct PageParams<'a> {
    pub limit: Option<&'a str>,
    pub offset: Option<&'a str>,
}

fn query_int(raw: &str, name: &str, min: u64, max: u64) -> Result<u64, Invalid> {
    let loc = vec![Loc::from("query"), Loc::from(name)];
    let n: u64 = raw
        .parse()
        .map_err(|_| Invalid::at(loc.clone(), "int_parsing", "Input should be a valid integer"))?;
    if n < min {
        Err(Invalid::at(
            loc,
            "greater_than_equal",
            format!("Input should be greater than or equal to {min}"),
        ))
    } else if n > max {
        Err(Invalid::at(
            loc,
            "less_than_equal",
            format!("Input should be less than or equal to {max}"),
        ))
    } else {
        Ok(n)
    }
}

impl ListRequest {
    pub fn parse(body: Option<&Value>, page: PageParams<'_>) -> Result<Self, Invalid> {
        let empty = Value::Object(Default::default());
        let body = body.filter(|b| !b.is_null()).unwrap_or(&empty);
        let mut r = FieldReader::object(body, vec![Loc::from("body")])?;
        r.forbid_unknown(ACCEPTED_KEYS);
        let limit = r
            .optional_u64("limit")
            .and_then(|n| r.in_range("limit", n, 1, MAX_LIMIT.into()));
        let offset = r.optional_u64("offset");
        let return_presigned_urls = r.optional_bool("return_presigned_urls").unwrap_or(false);
        let search = r
            .optional_str("search")
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase);
        if search.as_ref().is_some_and(|s| s.len() > MAX_SEARCH_LEN) {
            r.error(
                "search",
                "string_too_long",
                format!("String should have at most {MAX_SEARCH_LEN} characters"),
            );
        }
        let sort = r.optional_object("sort").map(|_| ());
        r.finish()?;

        let sort = match (sort, body.get("sort")) {
            (Some(()), Some(value)) => parse_sort(value)?,
            _ => Sort {
                field: created_at(),
                descending: true,
            },
        };
        let filter = match body.get("filters") {
            None | Some(Value::Null) => None,
            Some(value) => Some(filter::parse(value, vec![Loc::from("body"), Loc::from("filters")])?),
        };
        let limit = match page.limit {
            Some(raw) => query_int(raw, "limit", 1, MAX_LIMIT.into())?,
            None => limit.map_or(DEFAULT_LIMIT.into(), u64::from),
        };
        let offset = match page.offset {
            Some(raw) => query_int(raw, "offset", 0, u64::MAX)?,
            None => offset.unwrap_or(0),
        };
        Ok(Self {
            filter,
            sort,
            search,
            return_presigned_urls,
            limit: u32::try_from(limit).unwrap_or(DEFAULT_LIMIT),
            offset,
        })
    }

    /// No filter, no search, ordered by creation time: served from the GSI page by page.
    pub fn is_plain_listing(&self) -> bool {
        self.filter.is_none() && self.search.is_none() && self.sort.field.is("created_at")
    }

    pub fn selects(&self, upload: &Value) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(upload))
            && self.search.as_ref().is_none_or(|needle| search_matches(upload, needle))
    }

    /// The listing order: by the sort field (missing values last, whatever the direction),
    /// ties broken by `upload_id` in the same direction, so pages are stable.
    pub fn order(&self, a: &Value, b: &Value) -> Ordering {
        let key = |u: &Value| self.sort.field.resolve(u).filter(|v| !v.is_null()).cloned();
        let by_field = match (key(a), key(b)) {
            (Some(x), Some(y)) => directed(values::sort_cmp(&x, &y), self.sort.descending),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_field.then_with(|| {
            let id = |u: &Value| {
                u.get("upload_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            directed(id(a).cmp(&id(b)), self.sort.descending)
        })
    }

    /// Every upload attribute evaluating this request reads (besides the ones stats need).
    pub fn attributes(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = ["upload_id", "created_at", "status", "file_size_bytes", "bucket_id"]
            .map(str::to_owned)
            .into();
        names.insert(self.sort.field.top().to_owned());
        if self.search.is_some() {
            names.extend(["filename".to_owned(), "metadata".to_owned()]);
        }
        if let Some(filter) = &self.filter {
            filter.for_each_condition(&mut |c| {
                names.insert(c.field.top().to_owned());
            });
        }
        names
    }
}

fn directed(ordering: Ordering, descending: bool) -> Ordering {
    if descending { ordering.reverse() } else { ordering }
}

fn created_at() -> FieldPath {
    FieldPath::parse("created_at").unwrap_or_else(|| unreachable!("created_at is an upload field"))
}

fn parse_sort(value: &Value) -> Result<Sort, Invalid> {
    let mut r = FieldReader::object(value, vec![Loc::from("body"), Loc::from("sort")])?;
    r.forbid_unknown(&["field", "direction"]);
    let field = r.optional_str("field").unwrap_or("created_at");
    let direction = r.optional_str("direction").unwrap_or("desc");
    let path = FieldPath::parse(field);
    if path.is_none() {
        r.error("field", "value_error", format!("unknown field '{field}'"));
    }
    let descending = match direction.to_ascii_lowercase().as_str() {
        "asc" => Some(false),
        "desc" => Some(true),
        _ => {
            r.error("direction", "enum", "Input should be 'asc' or 'desc'");
            None
        }
    };
    r.finish()?;
    match (path, descending) {
        (Some(field), Some(descending)) => Ok(Sort { field, descending }),
        // `finish` succeeded, so both parsed.
        _ => Err(Invalid::at(
            vec![Loc::from("body"), Loc::from("sort")],
            "value_error",
            "invalid sort",
        )),
    }
}

/// Case-insensitive substring match over the filename and every metadata value.
fn search_matches(upload: &Value, needle: &str) -> bool {
    let in_filename = upload
        .get("filename")
        .and_then(Value::as_str)
        .is_some_and(|f| f.to_lowercase().contains(needle));
    in_filename || upload.get("metadata").is_some_and(|m| values::text_contains(m, needle))
}

/// Where a page stands among all the matches of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageInfo {
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Stats {
    pub total_uploads: u64,
    pub total_size_bytes: u64,
    pub uploads_by_status: BTreeMap<UploadStatus, u64>,
    pub avg_file_size_bytes: u64,
    pub unique_buckets: u64,
}

impl Stats {
    /// Stats of the given uploads (all those matching a query, not just one page).
    pub fn of<'a>(uploads: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut stats = Stats::default();
        let mut buckets = BTreeSet::new();
        for upload in uploads {
            let size = upload.get("file_size_bytes").and_then(Value::as_u64).unwrap_or(0);
            let status = upload
                .get("status")
                .cloned()
                .and_then(|s| serde_json::from_value::<UploadStatus>(s).ok());
            stats.add(status, 1, size);
            buckets.insert(
                upload
                    .get("bucket_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        stats.unique_buckets = buckets.len() as u64;
        stats.finish()
    }

    /// A bucket's stats, from its counters.
    pub fn of_counts(counts: &BucketCounts) -> Self {
        let mut stats = Stats::default();
        for (status, count) in &counts.by_status {
            stats.add(Some(*status), count.uploads, count.bytes);
        }
        stats.unique_buckets = u64::from(stats.total_uploads > 0);
        stats.finish()
    }

    pub fn add(&mut self, status: Option<UploadStatus>, count: u64, bytes: u64) {
        self.total_uploads += count;
        self.total_size_bytes += bytes;
        if let Some(status) = status.filter(|_| count > 0) {
            *self.uploads_by_status.entry(status).or_default() += count;
        }
    }

    pub fn finish(mut self) -> Self {
        self.avg_file_size_bytes = self.total_size_bytes.checked_div(self.total_uploads).unwrap_or(0);
        self
    }
}

/// The plain in-memory evaluation of a request over uploads: matches, ordered, paged, with
/// the total and stats of all matches. The DynamoDB-backed listing must agree with it.
pub fn evaluate(request: &ListRequest, uploads: Vec<Value>) -> (Vec<Value>, u64, Stats) {
    let mut matched: Vec<Value> = uploads.into_iter().filter(|u| request.selects(u)).collect();
    matched.sort_by(|a, b| request.order(a, b));
    let stats = Stats::of(&matched);
    let total = matched.len() as u64;
    let page = matched
        .into_iter()
        .skip(usize::try_from(request.offset).unwrap_or(usize::MAX))
        .take(request.limit as usize)
        .collect();
    (page, total, stats)
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
