//! The oracle property: for a bucket of ≥ 200 varied uploads and many random requests, the
//! DynamoDB-backed listing (planner, GSIs, projections, batch reads, counters) returns exactly
//! what a plain in-memory evaluation of the same request over the same records returns.

use api_tests::{Tenant, put};
use bucket_uploads::confirm::{ConfirmRequest, Origin, confirm};
use bucket_uploads::http::Pagination;
use bucket_uploads::ids::UploadId;
use bucket_uploads::listing::{AccessPath, Reading, list_bucket, list_bucket_reading};
use bucket_uploads::query::{ListRequest, PageInfo, PageParams, evaluate};
use bucket_uploads::time::Timestamp;
use bucket_uploads::uploads::{NewUpload, create_upload};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const CLIENT: Origin<'static> = Origin::Client { run_async: false };
const UPLOADS: usize = 220;
const EXPIRED: usize = 12;
const REQUESTS: usize = 200;
/// Statuses as clients write them: `case_sensitive` (default false) decides whether
/// `pending` names PENDING, for the planner's status index as for the evaluation.
const STATUSES: &[&str] = &[
    "PENDING",
    "COMPLETED",
    "FAILED",
    "PROCESSING",
    "BOGUS",
    "pending",
    "Completed",
];
const CONTENTS: &[&[u8]] = &[
    b"alpha",
    b"bravo bravo",
    b"charlie!",
    b"delta delta delta",
    b"echo",
    b"foxtrot-42",
];

fn pick<T: Clone>(rng: &mut StdRng, items: &[T]) -> T {
    items.choose(rng).cloned().unwrap_or_else(|| unreachable!("non-empty"))
}

fn metadata(rng: &mut StdRng, i: usize) -> Value {
    let mut m = serde_json::Map::new();
    if rng.random_bool(0.8) {
        m.insert(
            "campaign".into(),
            json!(pick(
                rng,
                &[
                    "summer_2024",
                    "Summer_2024",
                    "winter_2024",
                    "Spring",
                    "SUMMER_2025",
                    "de-launch"
                ]
            )),
        );
    }
    if rng.random_bool(0.7) {
        // Mostly numbers, sometimes a string: comparisons across types must be false.
        let priority = if rng.random_bool(0.85) {
            json!(rng.random_range(0..6))
        } else {
            json!("high")
        };
        m.insert("priority".into(), priority);
    }
    if rng.random_bool(0.6) {
        m.insert("score".into(), json!(f64::from(rng.random_range(0..100u32)) / 10.0));
    }
    if rng.random_bool(0.5) {
        let tags: Vec<&str> = ["red", "blue", "Green"]
            .into_iter()
            .filter(|_| rng.random_bool(0.5))
            .collect();
        m.insert("tags".into(), json!(tags));
    }
    if rng.random_bool(0.5) {
        m.insert(
            "geo".into(),
            json!({"country": pick(rng, &["DE", "US", "FR"]), "city": format!("city-{}", i % 7)}),
        );
    }
    if rng.random_bool(0.3) {
        m.insert("flag".into(), json!(rng.random_bool(0.5)));
    }
    Value::Object(m)
}

fn filename(rng: &mut StdRng, i: usize) -> (String, &'static str) {
    let (stem, ext, content_type) = pick(
        rng,
        &[
            ("product_video", "mp4", "video/mp4"),
            ("Tutorial_Video", "MOV", "video/quicktime"),
            ("cover", "png", "image/png"),
            ("IMG", "JPG", "image/jpeg"),
            ("notes", "txt", "text/plain"),
            ("report.final", "pdf", "application/pdf"),
            ("Summer Teaser", "mp4", "video/mp4"),
        ],
    );
    (format!("{stem}_{i}.{ext}"), content_type)
}

/// Creates the data set: pending uploads, completed ones (originals and duplicates, with and
/// without objects), and expired ones that confirmation failed.
async fn seed(tenant: &Tenant, rng: &mut StdRng) -> Vec<UploadId> {
    let app = &tenant.app;
    let scope = tenant.scope();
    let mut ids = Vec::new();
    let mut to_confirm = Vec::new();
    for i in 0..UPLOADS {
        let (name, content_type) = filename(rng, i);
        let content = rng.random_bool(0.45).then(|| pick(rng, CONTENTS));
        let size = content.map_or_else(
            || pick(rng, &[1u64, 100, 4096, 1_000_000, 5_000_000]),
            |c| c.len() as u64,
        );
        let mut body = json!({
            "filename": name, "content_type": content_type, "file_size_bytes": size, "metadata": metadata(rng, i),
            "skip_duplicates": rng.random_bool(0.7), "create_object_on_confirm": rng.random_bool(0.85),
        });
        if content.is_none() && rng.random_bool(0.15) {
            body["file_size_bytes"] = Value::Null;
        }
        if rng.random_bool(0.3) {
            body["object_metadata"] = json!({"source": pick(rng, &["camera", "phone"])});
        }
        let upload = create_upload(app, &scope, &tenant.bucket_ref(), Some(&body))
            .await
            .unwrap();
        if let Some(content) = content {
            let url = upload.presigned_url.as_deref().unwrap();
            assert_eq!(put(url, &[("content-type", content_type)], content.to_vec()).await, 200);
            if rng.random_bool(0.8) {
                to_confirm.push(upload.clone());
            }
        }
        ids.push(upload.upload_id);
    }
    for upload in to_confirm {
        confirm(app, &tenant.bucket, upload, &ConfirmRequest::default(), CLIENT)
            .await
            .unwrap();
    }
    for i in 0..EXPIRED {
        let body = json!({"filename": format!("old_video_{i}.mp4"), "content_type": "video/mp4", "file_size_bytes": 5, "metadata": metadata(rng, i)});
        let created_at = Timestamp::now().plus_seconds(-7200 - i as i64);
        let new = NewUpload::parse(Some(&body), 10).unwrap();
        let upload = new.into_pending(UploadId::generate(), &tenant.bucket, created_at);
        app.store
            .insert_upload(&upload, &bucket_uploads::quota::Quota::DEFAULT)
            .await
            .unwrap();
        let confirmed = confirm(app, &tenant.bucket, upload.clone(), &ConfirmRequest::default(), CLIENT).await;
        assert!(confirmed.is_err(), "expired uploads fail");
        ids.push(upload.upload_id);
    }
    ids
}

fn condition(rng: &mut StdRng, moments: &[String]) -> Value {
    let cmp = ["gt", "gte", "lt", "lte"];
    match rng.random_range(0..18) {
        0 => json!({"status": pick(rng, STATUSES)}),
        1 => json!({"field": "status", "operator": "in", "value": [pick(rng, STATUSES), pick(rng, STATUSES)]}),
        2 if rng.random_bool(0.5) => json!({"field": "status", "operator": "ne", "value": "PENDING"}),
        2 => json!({"field": "status", "operator": "nin", "value": ["FAILED"]}),
        3 => {
            json!({"field": "file_size_bytes", "operator": pick(rng, &cmp), "value": pick(rng, &[5, 11, 100, 4096, 1_000_000])})
        }
        4 => json!({"metadata.campaign": pick(rng, &["summer_2024", "SUMMER_2024", "spring", "Spring", "nope"])}),
        5 => json!({
            "field": "metadata.campaign", "operator": pick(rng, &["contains", "starts_with", "ends_with", "eq", "text"]),
            "value": pick(rng, &["summer", "SUMMER", "2024", "Spring", "de"]), "case_sensitive": rng.random_bool(0.4),
        }),
        6 => {
            json!({"field": "metadata.priority", "operator": pick(rng, &cmp), "value": if rng.random_bool(0.8) { json!(rng.random_range(0..6)) } else { json!("high") }})
        }
        7 => {
            json!({"field": "metadata.tags", "operator": "contains", "value": pick(rng, &["red", "RED", "green"]), "case_sensitive": rng.random_bool(0.3)})
        }
        8 => {
            json!({"field": "filename", "operator": "regex", "value": pick(rng, &["video", "^img_\\d+", "\\.(mp4|mov)$", "_1\\d\\b"]), "case_sensitive": rng.random_bool(0.3)})
        }
        9 => {
            let (operator, value) = if rng.random_bool(0.5) {
                (
                    pick(rng, &["in", "nin"]),
                    pick(rng, &[json!(["DE", "fr"]), json!(["de"])]),
                )
            } else {
                (pick(rng, &["eq", "ne"]), pick(rng, &[json!("De"), json!("FR")]))
            };
            json!({"field": "metadata.geo.country", "operator": operator, "value": value, "case_sensitive": rng.random_bool(0.4)})
        }
        10 => {
            json!({"field": pick(rng, &["object_id", "etag", "completed_at", "metadata.flag", "metadata.geo"]), "operator": pick(rng, &["exists", "is_null"]), "value": rng.random_bool(0.5)})
        }
        11 => {
            json!({"field": pick(rng, &["created_at", "completed_at"]), "operator": pick(rng, &cmp), "value": pick(rng, moments)})
        }
        // created_at ranges the listing reads as slices of the index.
        16 => json!({"AND": [
            {"field": "created_at", "operator": pick(rng, &["gt", "gte"]), "value": pick(rng, moments)},
            {"field": "created_at", "operator": pick(rng, &["lt", "lte"]), "value": pick(rng, moments)},
        ]}),
        17 => {
            let operator = pick(rng, &["eq", "in"]);
            let value = if operator == "eq" {
                json!(pick(rng, moments))
            } else {
                json!([pick(rng, moments), pick(rng, moments)])
            };
            json!({"field": "created_at", "operator": operator, "value": value})
        }
        12 => json!({"field": "metadata", "operator": "text", "value": pick(rng, &["de", "city-3", "blue", "4.5"])}),
        13 => {
            json!({"field": pick(rng, &["is_duplicate", "skip_duplicates", "create_object_on_confirm", "metadata.flag"]), "operator": "eq", "value": rng.random_bool(0.5)})
        }
        14 => {
            json!({"field": "metadata.score", "operator": pick(rng, &cmp), "value": pick(rng, &[json!(0.5), json!(5), json!(9.9)])})
        }
        _ => json!({"field": "blob_type", "operator": "in", "value": ["VIDEO", "IMAGE"]}),
    }
}

fn filter(rng: &mut StdRng, depth: usize, moments: &[String]) -> Value {
    if depth < 3 && rng.random_bool(0.35) {
        let children: Vec<Value> = (0..rng.random_range(1..4))
            .map(|_| filter(rng, depth + 1, moments))
            .collect();
        let mut node = match rng.random_range(0..4) {
            0 | 1 => json!({"AND": children}),
            2 => json!({"OR": children}),
            _ if rng.random_bool(0.5) => json!({"NOT": children}),
            _ => json!({"NOT": children[0]}),
        };
        // Where Mixpeek's SDK puts it: on the logical operator, for everything beneath.
        if rng.random_bool(0.4) {
            node["case_sensitive"] = json!(rng.random_bool(0.5));
        }
        return node;
    }
    condition(rng, moments)
}

/// A filter of statuses alone, as clients write them: the listing reads one page of each.
fn statuses_only(rng: &mut StdRng) -> Value {
    let mut filter = match rng.random_range(0..4) {
        0 => json!({"status": pick(rng, STATUSES)}),
        1 => json!({"field": "status", "operator": "in", "value": [pick(rng, STATUSES), pick(rng, STATUSES)]}),
        2 => json!({"OR": [{"status": pick(rng, STATUSES)}, {"status": pick(rng, STATUSES)}]}),
        _ => json!({"AND": [
            {"field": "status", "operator": "in", "value": [pick(rng, STATUSES), pick(rng, STATUSES), pick(rng, STATUSES)]},
            {"field": "status", "operator": "in", "value": [pick(rng, STATUSES), pick(rng, STATUSES)]},
        ]}),
    };
    if filter.get("OR").or(filter.get("AND")).is_some() && rng.random_bool(0.3) {
        filter["case_sensitive"] = json!(rng.random_bool(0.5));
    }
    filter
}

fn random_request(rng: &mut StdRng, moments: &[String]) -> Value {
    let mut body =
        json!({"limit": rng.random_range(1..=100), "offset": pick(rng, &[0, 0, 0, 5, 19, 40, 100, 199, 240])});
    if rng.random_bool(0.15) {
        body["sort"] = json!({"field": "created_at", "direction": pick(rng, &["asc", "desc"])});
        return body;
    }
    if rng.random_bool(0.2) {
        body["filters"] = statuses_only(rng);
        if rng.random_bool(0.6) {
            body["sort"] = json!({"field": "created_at", "direction": pick(rng, &["asc", "desc"])});
        }
        return body;
    }
    if rng.random_bool(0.75) {
        body["filters"] = filter(rng, 1, moments);
    }
    if rng.random_bool(0.3) {
        body["search"] = json!(pick(rng, &["video", "SUMMER", "de", "_1", "png", "red", "zzz", "4.5"]));
    }
    let field = pick(
        rng,
        &[
            "created_at",
            "file_size_bytes",
            "filename",
            "metadata.priority",
            "metadata.score",
            "status",
            "completed_at",
            "metadata.geo.country",
            "upload_id",
            "metadata.tags",
        ],
    );
    body["sort"] = json!({"field": field, "direction": pick(rng, &["asc", "desc"])});
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_listing_equals_an_in_memory_evaluation() {
    let tenant = Tenant::new().await;
    let mut rng = StdRng::seed_from_u64(0x05ee_d0f1_1575);
    let ids = seed(&tenant, &mut rng).await;
    assert!(ids.len() >= 200);
    let records: Vec<Value> = tenant
        .app
        .store
        .uploads_by_ids(&ids)
        .await
        .unwrap()
        .iter()
        .map(|u| serde_json::to_value(u).unwrap())
        .collect();
    assert_eq!(records.len(), ids.len());
    let statuses: std::collections::BTreeSet<&str> = records.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        ["COMPLETED", "FAILED", "PENDING"].into(),
        "the data set covers every reachable status"
    );
    assert!(records.iter().any(|r| r["is_duplicate"] == true), "and duplicates");
    let mut created: Vec<Timestamp> = records
        .iter()
        .map(|r| Timestamp::parse(r["created_at"].as_str().unwrap()).unwrap())
        .collect();
    created.sort();
    // Instants to compare created_at with: before and after everything, quartiles, an
    // upload's own instant and a millisecond either side of it (in other offsets, too).
    let exact = created[created.len() / 3];
    let mut moments: Vec<String> = [
        created[0].plus_seconds(-60),
        created[created.len() / 4],
        created[created.len() / 2],
        created[created.len() * 3 / 4],
        exact,
        exact.plus_millis(-1),
        exact.plus_millis(1),
        created[created.len() - 1].plus_seconds(60),
    ]
    .iter()
    .map(Timestamp::to_string)
    .collect();
    let in_paris = exact.plus_seconds(3600).to_string().replace('Z', "+01:00");
    moments.push(in_paris);
    // Partitions cut into slices of about 25 uploads (and so also across the imported
    // uploads, which are older than the bucket), besides the default cut.
    let fine = Reading {
        uploads_per_slice: 25,
        max_slices: 8,
        ..Reading::DEFAULT
    };
    let mut narrowed = 0;

    let mut paths = std::collections::BTreeMap::new();
    for _ in 0..REQUESTS {
        let body = random_request(&mut rng, &moments);
        let request =
            ListRequest::parse(Some(&body), PageParams::default()).unwrap_or_else(|e| panic!("{body}: {e:?}"));
        let listed = list_bucket(&tenant.app, &tenant.bucket, &request).await.unwrap();
        let (page, total, stats) = evaluate(&request, records.clone());
        let sliced = list_bucket_reading(&tenant.app, &tenant.bucket, &request, fine)
            .await
            .unwrap();
        assert_eq!(sliced.results, listed.results, "sliced finely: {body}");
        assert_eq!(sliced.stats, listed.stats, "sliced finely: {body}");
        assert_eq!(sliced.page, listed.page, "sliced finely: {body}");
        if listed.access_path == AccessPath::WholeBucket && listed.items_read < records.len() {
            narrowed += 1;
        }

        let got: Vec<Value> = listed
            .results
            .iter()
            .map(|u| serde_json::to_value(u).unwrap())
            .collect();
        let ids_of = |v: &[Value]| {
            v.iter()
                .map(|u| u["upload_id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids_of(&got), ids_of(&page), "results differ for {body}");
        assert_eq!(got, page, "records differ for {body}");
        assert_eq!(listed.stats, stats, "stats differ for {body}");
        assert_eq!(
            Pagination::new(listed.page, "/list"),
            Pagination::new(
                PageInfo {
                    total,
                    limit: request.limit,
                    offset: request.offset
                },
                "/list"
            ),
            "{body}"
        );
        let name = match listed.access_path {
            AccessPath::CreatedAtPage { .. } => "created_at page",
            AccessPath::StatusPage { .. } => "status page",
            AccessPath::Statuses(_) => "status index",
            AccessPath::WholeBucket => "whole bucket",
        };
        *paths.entry(name).or_insert(0) += 1;
    }
    // Every access path was exercised, and created_at ranges narrowed what was read.
    assert_eq!(paths.len(), 4, "{paths:?}");
    assert!(
        narrowed >= 5,
        "only {narrowed} whole-bucket reads were narrowed by a created_at range"
    );
    println!("access paths used: {paths:?}; whole-bucket reads narrowed by created_at: {narrowed}");

    // Case-insensitive equality, counted independently of the query code.
    let campaign_is = |r: &Value, wanted: &str, fold: bool| {
        r["metadata"]["campaign"]
            .as_str()
            .is_some_and(|c| if fold { c.to_lowercase() == wanted } else { c == wanted })
    };
    for (body, expected) in [
        (
            json!({"filters": {"metadata.campaign": "SUMMER_2024"}}),
            records.iter().filter(|r| campaign_is(r, "summer_2024", true)).count(),
        ),
        (
            json!({"filters": {"metadata.campaign": "SUMMER_2024", "case_sensitive": true}}),
            records.iter().filter(|r| campaign_is(r, "SUMMER_2024", false)).count(),
        ),
        (
            json!({"filters": {"field": "metadata.campaign", "operator": "in", "value": ["Summer_2024", "SPRING"]}}),
            records
                .iter()
                .filter(|r| campaign_is(r, "summer_2024", true) || campaign_is(r, "spring", true))
                .count(),
        ),
        (
            json!({"filters": {"status": "pending"}}),
            records.iter().filter(|r| r["status"] == "PENDING").count(),
        ),
        (
            json!({"filters": {"AND": [{"status": "pending"}], "case_sensitive": true}}),
            0,
        ),
    ] {
        let request = ListRequest::parse(Some(&body), PageParams::default()).unwrap();
        let listed = list_bucket(&tenant.app, &tenant.bucket, &request).await.unwrap();
        assert_eq!(listed.page.total, expected as u64, "{body}");
    }
    let folded = records.iter().filter(|r| campaign_is(r, "summer_2024", true)).count();
    let exact = records.iter().filter(|r| campaign_is(r, "summer_2024", false)).count();
    assert!(
        folded > exact && exact > 0,
        "the data set mixes cases: {folded} vs {exact}"
    );
}
