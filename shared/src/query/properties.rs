//! Properties of the query language over generated requests and uploads (proptest, part of
//! `make test`; the coverage-guided fuzz target in `fuzz/` runs the same code without a
//! case budget):
//! - parsing any JSON body never panics, and evaluating what parses never panics;
//! - the `created_at` range pushed into the index query holds every upload the filter
//!   matches, and its split into segments puts each such upload in exactly one segment;
//! - a regex filter runs in time linear in its input (no backtracking blow-up).

use super::range::CreatedAtRange;
use super::*;
use crate::time::Timestamp;
use proptest::prelude::*;
use serde_json::{Map, json};

/// Instants a few milliseconds apart, so that equalities and bounds often meet uploads.
const BASE_MILLIS: u64 = 1_764_460_800_000; // 2025-11-30T00:00:00Z
/// Filters and most uploads use `GRID` instants `STEP_MS` apart (whole seconds).
const GRID: i64 = 200;
const STEP_MS: i64 = 15_000;

fn instant(offset_ms: i64) -> Timestamp {
    Timestamp::from_epoch_millis(BASE_MILLIS).plus_millis(offset_ms)
}

/// A timestamp as a client may write it: canonical, without milliseconds, or with an offset.
fn timestamp_text() -> impl Strategy<Value = Value> {
    (0i64..GRID, 0u8..3).prop_map(|(offset, style)| {
        let t = instant(offset * STEP_MS);
        let canonical = t.to_string();
        Value::String(match style {
            0 => canonical,
            1 => format!("{}Z", &canonical[..19]),
            _ => format!("{}+00:00", &canonical[..23]),
        })
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("created_at".to_owned()),
        Just("created_at".to_owned()),
        Just("status".to_owned()),
        Just("file_size_bytes".to_owned()),
        Just("filename".to_owned()),
        Just("completed_at".to_owned()),
        Just("metadata.campaign".to_owned()),
        Just("metadata.n".to_owned()),
        Just("object_metadata.x".to_owned()),
        "[a-z_.]{1,12}",
    ]
}

fn operator() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("eq"),
        Just("ne"),
        Just("gt"),
        Just("gte"),
        Just("lt"),
        Just("lte"),
        Just("in"),
        Just("nin"),
        Just("contains"),
        Just("starts_with"),
        Just("ends_with"),
        Just("regex"),
        Just("exists"),
        Just("is_null"),
        Just("text"),
        Just("between"),
    ]
    .prop_map(str::to_owned)
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        timestamp_text(),
        timestamp_text(),
        Just(json!("PENDING")),
        Just(json!("COMPLETED")),
        Just(json!("summer")),
        Just(json!("a.*b")),
        Just(json!("(")),
        any::<i64>().prop_map(Value::from),
        (0u64..2_000).prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        "\\PC{0,8}".prop_map(Value::String),
    ]
}

fn operand() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => scalar(),
        1 => prop::collection::vec(scalar(), 0..4).prop_map(Value::Array),
    ]
}

/// The conditions the pushdown reads: `created_at` compared with instants.
fn created_at_condition() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just("eq"),
            Just("gt"),
            Just("gte"),
            Just("lt"),
            Just("lte"),
            Just("in"),
            Just("ne")
        ],
        timestamp_text(),
        prop::collection::vec(timestamp_text(), 0..3),
    )
        .prop_map(|(operator, t, ts)| {
            let value = if operator == "in" { Value::Array(ts) } else { t };
            json!({"field": "created_at", "operator": operator, "value": value})
        })
}

fn condition() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => created_at_condition(),
        2 => (field_name(), operator(), operand(), prop::option::of(any::<bool>())).prop_map(
            |(field, operator, value, case)| {
                let mut c = json!({"field": field, "operator": operator, "value": value});
                if let Some(case) = case {
                    c["case_sensitive"] = case.into();
                }
                c
            }
        ),
        1 => (field_name(), operand()).prop_map(|(field, value)| {
            let mut shorthand = Map::new();
            shorthand.insert(field, value);
            Value::Object(shorthand)
        }),
    ]
}

/// Filters as the grammar builds them: conditions under AND / OR / NOT, a few levels deep.
fn filter() -> impl Strategy<Value = Value> {
    condition().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| json!({"AND": items})),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| json!({"OR": items})),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|items| json!({"NOT": items})),
            inner.prop_map(|item| json!({"NOT": item})),
        ]
    })
}

/// Any JSON at all, for the parser's robustness.
fn any_json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("AND".to_owned()),
                        Just("OR".to_owned()),
                        Just("NOT".to_owned()),
                        Just("field".to_owned()),
                        Just("operator".to_owned()),
                        Just("value".to_owned()),
                        Just("filters".to_owned()),
                        Just("sort".to_owned()),
                        Just("search".to_owned()),
                        Just("limit".to_owned()),
                        Just("offset".to_owned()),
                        field_name(),
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn upload() -> impl Strategy<Value = Value> {
    (
        // Mostly on the filters' grid, so that bounds and equalities meet uploads exactly.
        prop_oneof![3 => (0i64..GRID).prop_map(|o| o * STEP_MS), 1 => 0i64..GRID * STEP_MS],
        prop_oneof![Just("PENDING"), Just("PROCESSING"), Just("COMPLETED"), Just("FAILED")],
        prop::option::of(0u64..2_000),
        "[a-z]{0,6}(\\.[a-z]{1,3})?",
        prop::option::of(scalar()),
        prop::option::of(timestamp_text()),
    )
        .prop_map(|(created, status, size, filename, campaign, completed)| {
            json!({
                "upload_id": format!("upl_{created:026}"),
                "bucket_id": "bkt_1",
                "status": status,
                "file_size_bytes": size,
                "filename": filename,
                "created_at": instant(created).to_string(),
                "completed_at": completed,
                "metadata": {"campaign": campaign, "n": size},
                "object_metadata": {},
            })
        })
}

fn created_at(upload: &Value) -> Timestamp {
    upload["created_at"]
        .as_str()
        .and_then(Timestamp::parse)
        .unwrap_or_else(|| unreachable!("generated uploads carry created_at"))
}

fn contains(range: &CreatedAtRange, t: Timestamp) -> bool {
    range.from.is_none_or(|from| from <= t) && range.until.is_none_or(|until| t < until)
}

fn page_param() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![(0u64..300).prop_map(|n| n.to_string()), "\\PC{0,6}",])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn any_body_parses_or_is_refused_and_evaluation_never_panics(
        body in any_json(),
        filters in prop::option::of(any_json()),
        limit in page_param(),
        offset in page_param(),
        uploads in prop::collection::vec(upload(), 0..12),
    ) {
        let mut body = body;
        if let (Some(filters), Some(object)) = (filters, body.as_object_mut()) {
            object.insert("filters".into(), filters);
        }
        let page = PageParams { limit: limit.as_deref(), offset: offset.as_deref() };
        if let Ok(request) = ListRequest::parse(Some(&body), page) {
            let _ = request.attributes();
            let (page, total, stats) = evaluate(&request, uploads.clone());
            prop_assert!(page.len() <= request.limit as usize);
            prop_assert!(total as usize <= uploads.len());
            prop_assert_eq!(stats.total_uploads, total);
        }
    }

    #[test]
    fn the_created_at_range_holds_every_match_in_exactly_one_segment(
        filters in filter(),
        uploads in prop::collection::vec(upload(), 1..16),
        parts in 1usize..9,
    ) {
        let Ok(request) = ListRequest::parse(Some(&json!({"filters": filters})), PageParams::default()) else {
            return Ok(());
        };
        let range = CreatedAtRange::of(request.filter.as_ref());
        let segments = range.split(parts, instant(0), instant(GRID * STEP_MS));
        for upload in uploads.iter().filter(|u| request.selects(u)) {
            let t = created_at(upload);
            prop_assert!(contains(&range, t), "{} matches {} but lies outside {:?}", upload, filters, range);
            let holding = segments.iter().filter(|s| contains(s, t)).count();
            prop_assert_eq!(holding, 1, "{} is in {} of the segments {:?}", t, holding, segments);
        }
    }
}

/// Patterns that make a backtracking engine take exponential time run in linear time here:
/// a long input takes a small multiple of a short one's time, not a blow-up.
#[test]
fn regex_filters_run_in_linear_time() {
    let patterns = ["(a+)+$", "(a|aa)*c", "(a*)*b", "^(\\w+\\s?)*$", "(.*a){12}"];
    let long = "a".repeat(50_000) + "!";
    for pattern in patterns {
        let request = ListRequest::parse(
            Some(&json!({"filters": {"field": "filename", "operator": "regex", "value": pattern}})),
            PageParams::default(),
        )
        .unwrap_or_else(|err| panic!("{pattern} refused: {err:?}"));
        let upload = json!({"upload_id": "upl_1", "filename": long, "created_at": instant(0).to_string()});
        let started = std::time::Instant::now();
        let _ = request.selects(&upload);
        // A hang detector, not a benchmark: backtracking on 50 000 characters would not end.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{pattern} took {:?}",
            started.elapsed()
        );
    }
}
