//! One List request body (JSON bytes) through the query language: parsing must refuse or
//! accept without panicking; what parses is evaluated over a fixed set of uploads (filter,
//! search, sort, pagination, stats) without panicking, and the `created_at` range pushed
//! into the index query, and its segments, must hold every upload the filter matches.
//! libFuzzer's `-timeout` bounds the time per input.

#![no_main]

use bucket_uploads::query::range::CreatedAtRange;
use bucket_uploads::query::{ListRequest, PageParams, evaluate};
use bucket_uploads::time::Timestamp;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use std::sync::LazyLock;

const BASE_MILLIS: u64 = 1_764_460_800_000; // 2025-11-30T00:00:00Z

fn instant(offset_ms: i64) -> Timestamp {
    Timestamp::from_epoch_millis(BASE_MILLIS).plus_millis(offset_ms)
}

static UPLOADS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let statuses = ["PENDING", "PROCESSING", "COMPLETED", "FAILED"];
    let campaigns = ["summer", "Winter", "", "c3"];
    (0..24i64)
        .map(|i| {
            json!({
                "upload_id": format!("upl_{i:026}"),
                "bucket_id": "bkt_1",
                "status": statuses[(i % 4) as usize],
                "file_size_bytes": if i % 5 == 0 { Value::Null } else { json!(i * 1000) },
                "filename": format!("file_{i}.{}", ["mp4", "txt", "PDF"][(i % 3) as usize]),
                "content_type": "video/mp4",
                "created_at": instant(i * 15_000).to_string(),
                "completed_at": if i % 4 == 2 { json!(instant(i * 15_000 + 500).to_string()) } else { Value::Null },
                "metadata": {"campaign": campaigns[(i % 4) as usize], "n": i, "tags": ["a", i]},
                "object_metadata": {"x": i % 2 == 0},
                "is_duplicate": i % 7 == 0,
            })
        })
        .collect()
});

fn contains(range: &CreatedAtRange, t: Timestamp) -> bool {
    range.from.is_none_or(|from| from <= t) && range.until.is_none_or(|until| t < until)
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(request) = ListRequest::parse(Some(&body), PageParams::default()) else {
        return;
    };
    let _ = request.attributes();
    let (page, total, _stats) = evaluate(&request, UPLOADS.clone());
    assert!(page.len() <= request.limit as usize);
    assert!(total as usize <= UPLOADS.len());

    let range = CreatedAtRange::of(request.filter.as_ref());
    let segments = range.split(5, instant(0), instant(24 * 15_000));
    for upload in UPLOADS.iter().filter(|u| request.selects(u)) {
        let t = upload["created_at"].as_str().and_then(Timestamp::parse).expect("created_at");
        assert!(contains(&range, t), "{upload} matches but lies outside {range:?}");
        assert_eq!(segments.iter().filter(|s| contains(s, t)).count(), 1, "{t} in {segments:?}");
    }
});
