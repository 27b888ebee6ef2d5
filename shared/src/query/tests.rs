use super::*;
use serde_json::json;

fn upload(id: &str, status: &str, size: u64, filename: &str, metadata: Value) -> Value {
    json!({
        "upload_id": id, "bucket_id": "bkt_1", "status": status, "file_size_bytes": size, "filename": filename,
        "created_at": format!("2024-01-15T10:00:0{}.000Z", id.len() % 10), "metadata": metadata, "object_metadata": {},
        "object_id": null,
    })
}

fn request(body: Value) -> ListRequest {
    ListRequest::parse(Some(&body), PageParams::default()).unwrap()
}

fn matches(filters: Value, u: &Value) -> bool {
    request(json!({ "filters": filters })).selects(u)
}

fn loc_of(body: Value) -> Value {
    match ListRequest::parse(Some(&body), PageParams::default()) {
        Ok(_) => panic!("accepted {body}"),
        Err(crate::errors::Invalid(errors)) => serde_json::to_value(&errors[0].loc).unwrap(),
    }
}

#[test]
fn spec_examples() {
    let pending = upload(
        "upl_a",
        "PENDING",
        2_000_000,
        "product_video.mp4",
        json!({"campaign": "summer_2024", "priority": 3}),
    );
    let done = upload("upl_b", "COMPLETED", 10, "notes.txt", json!({"campaign": "winter"}));
    assert!(matches(json!({"status": "PENDING"}), &pending));
    assert!(!matches(json!({"status": "PENDING"}), &done));
    assert!(matches(json!({"metadata.campaign": "summer_2024"}), &pending));
    let complex = json!({"AND": [
        {"field": "status", "operator": "eq", "value": "PENDING"},
        {"field": "file_size_bytes", "operator": "gte", "value": 1000000}
    ]});
    assert!(matches(complex.clone(), &pending));
    assert!(!matches(complex, &done));
    let search = request(json!({"search": "VIDEO"}));
    assert!(search.selects(&pending) && !search.selects(&done));
    let summer = request(json!({"search": "summer"}));
    assert!(summer.selects(&pending) && !summer.selects(&done));
    let by_metadata = request(json!({"sort": {"field": "metadata.priority", "direction": "desc"}}));
    assert_eq!(
        by_metadata.order(&pending, &done),
        Ordering::Less,
        "missing values sort last"
    );
}

#[test]
fn shorthand_equalities_are_anded() {
    let u = upload("upl_a", "PENDING", 5, "a", json!({"campaign": "x"}));
    assert!(matches(json!({"status": "PENDING", "metadata.campaign": "x"}), &u));
    assert!(!matches(json!({"status": "PENDING", "metadata.campaign": "y"}), &u));
    assert!(matches(json!({}), &u));
    assert!(matches(json!({"object_id": null}), &u), "null matches a null field");
}

#[test]
fn logical_operators_nest() {
    let u = upload("upl_a", "PENDING", 5, "a", json!({"n": 1}));
    assert!(matches(json!({"OR": [{"status": "FAILED"}, {"metadata.n": 1}]}), &u));
    assert!(!matches(json!({"NOT": {"status": "PENDING"}}), &u));
    assert!(
        !matches(json!({"NOT": [{"status": "PENDING"}, {"metadata.n": 2}]}), &u),
        "NOT of a list holds when none of them does"
    );
    assert!(matches(json!({"NOT": [{"status": "FAILED"}, {"metadata.n": 2}]}), &u));
    assert!(matches(
        json!({"AND": [{"OR": [{"NOT": {"status": "FAILED"}}]}, {"file_size_bytes": 5}]}),
        &u
    ));
}

/// The `regex` operator's Unicode: case-insensitive matching beyond ASCII and Perl classes
/// (`\w`, `\d`, `\s`). (Property classes such as `\p{L}` are not built into list-uploads;
/// this test build has them through proptest, so tests/tests/list.rs checks their refusal
/// against the function.)
#[test]
fn regex_unicode_case_perl_classes_and_general_categories() {
    let u = upload("upl_a", "PENDING", 1, "Été_ΔΣ 12.txt", json!({}));
    let re = |pattern: &str| matches(json!({"field": "filename", "operator": "regex", "value": pattern}), &u);
    assert!(re("^été"), "case-insensitive beyond ASCII");
    assert!(re("^\\w+\\s\\d+"), "Unicode word characters");
    assert!(re("^ÉTÉ_δσ"), "case-insensitive Greek");
}

#[test]
fn every_operator() {
    let u = upload(
        "upl_a",
        "PENDING",
        100,
        "Report.Final.PDF",
        json!({"tags": ["Red", "blue"], "score": 7.5, "name": "Ab", "nested": {"deep": "Needle"}}),
    );
    let c = |field: &str, op: &str, value: Value| matches(json!({"field": field, "operator": op, "value": value}), &u);
    let cs = |field: &str, op: &str, value: Value| {
        matches(
            json!({"field": field, "operator": op, "value": value, "case_sensitive": true}),
            &u,
        )
    };
    assert!(c("file_size_bytes", "eq", json!(100)) && c("file_size_bytes", "ne", json!(99)));
    assert!(c("file_size_bytes", "gt", json!(99)) && !c("file_size_bytes", "gt", json!(100)));
    assert!(
        c("file_size_bytes", "gte", json!(100))
            && c("file_size_bytes", "lte", json!(100))
            && c("file_size_bytes", "lt", json!(101))
    );
    assert!(
        c("metadata.score", "gt", json!(7)) && !c("metadata.score", "gt", json!("7")),
        "across types is false"
    );
    assert!(c("status", "in", json!(["FAILED", "PENDING"])) && c("status", "nin", json!(["FAILED"])));
    assert!(c("filename", "contains", json!("final")) && !cs("filename", "contains", json!("final")));
    assert!(c("metadata.tags", "contains", json!("red")) && !cs("metadata.tags", "contains", json!("red")));
    assert!(c("filename", "starts_with", json!("report")) && cs("filename", "starts_with", json!("Report")));
    assert!(c("filename", "ends_with", json!(".pdf")) && !cs("filename", "ends_with", json!(".pdf")));
    assert!(c("filename", "regex", json!("^report\\.\\w+\\.pdf$")) && !cs("filename", "regex", json!("^report")));
    assert!(c("object_id", "is_null", json!(true)) && !c("object_id", "exists", json!(true)));
    assert!(c("metadata.name", "exists", Value::Null) && c("metadata.missing", "exists", json!(false)));
    assert!(c("metadata", "text", json!("needle")) && !c("filename", "text", json!("needle")));
    assert!(c("created_at", "lt", json!("2030-01-01T00:00:00Z")) && !c("created_at", "lt", json!("not a date")));
    assert!(c("metadata.missing", "ne", json!(1)), "ne matches missing values");
}

#[test]
fn string_equality_ignores_case_unless_asked() {
    let u = upload(
        "upl_a",
        "PENDING",
        5,
        "Clip.MP4",
        json!({"campaign": "Summer_2024", "tags": ["Red"]}),
    );
    assert!(matches(json!({"status": "pending"}), &u));
    assert!(matches(json!({"metadata.campaign": "SUMMER_2024"}), &u));
    assert!(!matches(
        json!({"metadata.campaign": "SUMMER_2024", "case_sensitive": true}),
        &u
    ));
    let c = |filters: Value| matches(filters, &u);
    assert!(c(json!({"field": "filename", "operator": "in", "value": ["clip.mp4"]})));
    assert!(!c(
        json!({"field": "filename", "operator": "nin", "value": ["clip.mp4"]})
    ));
    assert!(c(
        json!({"field": "filename", "operator": "ne", "value": "clip.mp4", "case_sensitive": true})
    ));
    // On a logical operator, as the SDK sends it: everything beneath. The SDK writes
    // `"case_sensitive": false` on every inner node and condition, which must not undo it.
    assert!(!c(json!({"AND": [{"status": "pending"}], "case_sensitive": true})));
    assert!(!c(
        json!({"OR": [{"field": "filename", "operator": "contains", "value": "mp4"}], "case_sensitive": true})
    ));
    assert!(!c(
        json!({"AND": [{"status": "pending", "case_sensitive": false}], "case_sensitive": true})
    ));
    assert!(!c(
        json!({"AND": [{"OR": [{"field": "status", "operator": "eq", "value": "pending", "case_sensitive": false}], "case_sensitive": false}], "case_sensitive": true})
    ));
    assert!(c(
        json!({"AND": [{"status": "PENDING", "case_sensitive": false}], "case_sensitive": true})
    ));
    assert!(c(
        json!({"AND": [{"status": "pending", "case_sensitive": false}], "case_sensitive": false})
    ));
    // Timestamps, numbers and `text` are not affected.
    assert!(c(
        json!({"field": "file_size_bytes", "operator": "eq", "value": 5, "case_sensitive": true})
    ));
    assert!(c(
        json!({"field": "filename", "operator": "text", "value": "CLIP", "case_sensitive": true})
    ));
}

#[test]
fn unknown_body_keys_are_refused() {
    assert_eq!(
        loc_of(json!({"filter": {"status": "PENDING"}})),
        json!(["body", "filter"])
    );
    assert_eq!(
        loc_of(json!({"sort": {"field": "created_at", "order": "asc"}})),
        json!(["body", "sort", "order"])
    );
    assert_eq!(
        loc_of(json!({"filters": {"AND": [], "case_sensitive": "yes"}})),
        json!(["body", "filters", "case_sensitive"])
    );
}

#[test]
fn bad_filters_point_into_the_body() {
    assert_eq!(
        loc_of(json!({"filters": {"field": "status", "operator": "like", "value": "x"}})),
        json!(["body", "filters", "operator"])
    );
    assert_eq!(
        loc_of(json!({"filters": {"AND": [{"status": "x"}, {"field": "status", "operator": "in", "value": "x"}]}})),
        json!(["body", "filters", "AND", 1, "value"])
    );
    assert_eq!(
        loc_of(json!({"filters": {"nope": 1}})),
        json!(["body", "filters", "nope"])
    );
    assert_eq!(
        loc_of(json!({"filters": {"field": "filename", "operator": "regex", "value": "("}})),
        json!(["body", "filters", "value"])
    );
    assert_eq!(
        loc_of(json!({"filters": {"field": "filename", "operator": "regex", "value": "a".repeat(300)}})),
        json!(["body", "filters", "value"])
    );
    assert_eq!(
        loc_of(json!({"filters": {"field": "filename", "operator": "gt", "value": [1]}})),
        json!(["body", "filters", "value"])
    );
    assert_eq!(
        loc_of(json!({"filters": {"field": "filename", "operator": "eq", "value": 1, "values": 2}})),
        json!(["body", "filters", "values"])
    );
    assert_eq!(
        loc_of(json!({"filters": {"OR": {"status": "x"}}})),
        json!(["body", "filters", "OR"])
    );
    assert_eq!(
        loc_of(json!({"sort": {"field": "nope"}})),
        json!(["body", "sort", "field"])
    );
    assert_eq!(
        loc_of(json!({"sort": {"direction": "up"}})),
        json!(["body", "sort", "direction"])
    );
    assert_eq!(loc_of(json!({"limit": 101})), json!(["body", "limit"]));
    assert_eq!(loc_of(json!({"offset": -1})), json!(["body", "offset"]));
}

#[test]
fn depth_and_size_are_bounded() {
    let mut deep = json!({"status": "PENDING"});
    for _ in 0..8 {
        deep = json!({"AND": [deep]});
    }
    assert_eq!(loc_of(json!({"filters": deep}))[0], "body");
    let mut ok = json!({"status": "PENDING"});
    for _ in 0..7 {
        ok = json!({"AND": [ok]});
    }
    request(json!({"filters": ok}));
    let many: Vec<Value> = (0..101).map(|i| json!({"file_size_bytes": i})).collect();
    assert_eq!(
        loc_of(json!({"filters": {"OR": many}})),
        json!(["body", "filters", "OR", 100, "file_size_bytes"])
    );
}

#[test]
fn regexes_run_in_linear_time() {
    // Backtracking engines take exponential time on this pattern and input (this test would
    // never finish); the regex crate's automata answer in time linear in the input.
    let u = upload("upl_a", "PENDING", 1, &format!("{}!", "a".repeat(5000)), json!({}));
    assert!(!matches(
        json!({"field": "filename", "operator": "regex", "value": "^(a+)+$"}),
        &u
    ));
}

#[test]
fn ordering_breaks_ties_by_upload_id_and_puts_missing_last() {
    let a = upload("upl_a", "PENDING", 5, "x", json!({"p": 1}));
    let b = upload("upl_b", "PENDING", 5, "x", json!({}));
    let c = upload("upl_c", "PENDING", 5, "x", json!({"p": 2}));
    let asc = request(json!({"sort": {"field": "metadata.p", "direction": "asc"}}));
    let mut v = vec![b.clone(), c.clone(), a.clone()];
    v.sort_by(|x, y| asc.order(x, y));
    assert_eq!(v, vec![a.clone(), c.clone(), b.clone()]);
    let desc = request(json!({"sort": {"field": "metadata.p", "direction": "desc"}}));
    v.sort_by(|x, y| desc.order(x, y));
    assert_eq!(v, vec![c.clone(), a.clone(), b.clone()]);
    let by_size = request(json!({"sort": {"field": "file_size_bytes", "direction": "desc"}}));
    v.sort_by(|x, y| by_size.order(x, y));
    assert_eq!(v, vec![c, b, a], "equal sizes: upload_id, descending too");
}

#[test]
fn query_string_pagination_wins_over_the_body() {
    let body = json!({"limit": 5, "offset": 10});
    let r = ListRequest::parse(
        Some(&body),
        PageParams {
            limit: Some("7"),
            offset: None,
        },
    )
    .unwrap();
    assert_eq!((r.limit, r.offset), (7, 10));
    let r = ListRequest::parse(None, PageParams::default()).unwrap();
    assert_eq!((r.limit, r.offset, r.sort.descending), (20, 0, true));
    let err = ListRequest::parse(
        None,
        PageParams {
            limit: Some("0"),
            offset: None,
        },
    )
    .unwrap_err();
    assert_eq!(serde_json::to_value(&err.0[0].loc).unwrap(), json!(["query", "limit"]));
    let err = ListRequest::parse(
        None,
        PageParams {
            limit: None,
            offset: Some("x"),
        },
    )
    .unwrap_err();
    assert_eq!(serde_json::to_value(&err.0[0].loc).unwrap(), json!(["query", "offset"]));
}

#[test]
fn stats_cover_all_matches() {
    let uploads = vec![
        upload("upl_a", "PENDING", 10, "a", json!({})),
        upload("upl_b", "COMPLETED", 20, "b", json!({})),
        upload("upl_c", "COMPLETED", 31, "c", json!({})),
    ];
    let (page, total, stats) = evaluate(&request(json!({"limit": 1})), uploads);
    assert_eq!((page.len(), total), (1, 3));
    assert_eq!(stats.total_size_bytes, 61);
    assert_eq!(stats.avg_file_size_bytes, 20);
    assert_eq!(stats.unique_buckets, 1);
    assert_eq!(
        serde_json::to_value(&stats.uploads_by_status).unwrap(),
        json!({"PENDING": 1, "COMPLETED": 2})
    );
}
