//! List Uploads through the API: every example of the contract, pagination links, download
//! URLs, validation and tenancy.

use api_tests::{Tenant, expect_error, expect_json, expect_validation};
use serde_json::{Value, json};

/// A bucket holding: two pending videos (one of the summer campaign), a completed image, a
/// pending text file with a summer campaign, and a large pending archive.
async fn catalogue() -> (Tenant, Vec<Value>) {
    let tenant = Tenant::new().await;
    let specs = [
        (
            "product_video.mp4",
            "video/mp4",
            5_000_000,
            json!({"campaign": "summer_2024", "priority": 2}),
        ),
        (
            "tutorial_video.mov",
            "video/quicktime",
            1_500_000,
            json!({"campaign": "winter", "priority": 5}),
        ),
        ("cover.png", "image/png", 12, json!({"campaign": "autumn"})),
        (
            "notes.txt",
            "text/plain",
            300,
            json!({"campaign": "summer_2024", "priority": 1}),
        ),
        ("backup.zip", "application/zip", 900_000_000, json!({})),
    ];
    let mut created = Vec::new();
    for (filename, content_type, size, metadata) in specs {
        let body =
            json!({"filename": filename, "content_type": content_type, "file_size_bytes": size, "metadata": metadata});
        created.push(tenant.create_upload(body).await);
    }
    // Complete the image.
    let url = created[2]["presigned_url"].as_str().unwrap();
    assert_eq!(
        api_tests::put(url, &[("content-type", "image/png")], vec![7; 12]).await,
        200
    );
    expect_json(
        tenant.confirm(created[2]["upload_id"].as_str().unwrap(), None).await,
        200,
    )
    .await;
    (tenant, created)
}

fn filenames(response: &Value) -> Vec<&str> {
    response["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["filename"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_contracts_example_request() {
    let (tenant, _) = catalogue().await;
    let body = json!({
        "filters": {"status": "PENDING"},
        "sort": {"direction": "desc", "field": "created_at"},
        "search": "video",
        "return_presigned_urls": false,
        "limit": 20,
        "offset": 0
    });
    let response = expect_json(tenant.list("", body).await, 200).await;
    assert_eq!(filenames(&response), ["tutorial_video.mov", "product_video.mp4"]);
    assert_eq!(
        response["pagination"],
        json!({
            "total": 2, "page": 1, "page_size": 20, "total_pages": 1, "next_page": null, "previous_page": null
        })
    );
    assert_eq!(
        response["stats"],
        json!({
            "total_uploads": 2, "total_size_bytes": 6_500_000, "uploads_by_status": {"PENDING": 2},
            "avg_file_size_bytes": 3_250_000, "unique_buckets": 1
        })
    );
    for upload in response["results"].as_array().unwrap() {
        assert_eq!(upload["presigned_url"], Value::Null);
        assert_eq!(upload["status"], "PENDING");
    }
}

#[tokio::test]
async fn the_documented_filter_sort_and_search_examples() {
    let (tenant, _) = catalogue().await;
    let list = |body: Value| async { expect_json(tenant.list("", body).await, 200).await };

    let pending = list(json!({"filters": {"status": "PENDING"}})).await;
    assert_eq!(pending["pagination"]["total"], 4);
    let summer = list(json!({"filters": {"metadata.campaign": "summer_2024"}})).await;
    assert_eq!(filenames(&summer), ["notes.txt", "product_video.mp4"]);
    let complex = list(json!({"filters": {"AND": [
        {"field": "status", "operator": "eq", "value": "PENDING"},
        {"field": "file_size_bytes", "operator": "gte", "value": 1000000}
    ]}}))
    .await;
    assert_eq!(
        filenames(&complex),
        ["backup.zip", "tutorial_video.mov", "product_video.mp4"]
    );

    let video = list(json!({"search": "video"})).await;
    assert_eq!(filenames(&video), ["tutorial_video.mov", "product_video.mp4"]);
    let summer_search = list(json!({"search": "summer"})).await;
    assert_eq!(filenames(&summer_search), ["notes.txt", "product_video.mp4"]);

    let newest_first = list(json!({"sort": {"field": "created_at", "direction": "desc"}})).await;
    assert_eq!(
        filenames(&newest_first),
        [
            "backup.zip",
            "notes.txt",
            "cover.png",
            "tutorial_video.mov",
            "product_video.mp4"
        ]
    );
    let by_size = list(json!({"sort": {"field": "file_size_bytes", "direction": "asc"}})).await;
    assert_eq!(
        filenames(&by_size),
        [
            "cover.png",
            "notes.txt",
            "tutorial_video.mov",
            "product_video.mp4",
            "backup.zip"
        ]
    );
    let by_priority = list(json!({"sort": {"field": "metadata.priority", "direction": "desc"}})).await;
    assert_eq!(
        filenames(&by_priority)[..3],
        ["tutorial_video.mov", "product_video.mp4", "notes.txt"]
    );
    assert_eq!(
        by_priority["results"][3]["metadata"].get("priority"),
        None,
        "missing values sort last"
    );

    let everything = list(json!({})).await;
    assert_eq!(
        everything["stats"]["uploads_by_status"],
        json!({"PENDING": 4, "COMPLETED": 1})
    );
    assert_eq!(
        everything["stats"]["total_size_bytes"],
        5_000_000 + 1_500_000 + 12 + 300 + 900_000_000u64
    );
}

#[tokio::test]
async fn pages_link_to_each_other() {
    let (tenant, _) = catalogue().await;
    let first = expect_json(tenant.list("?limit=2", json!({"limit": 50})).await, 200).await;
    assert_eq!(
        first["pagination"]["page_size"], 2,
        "the query string wins over the body"
    );
    assert_eq!(first["pagination"]["total_pages"], 3);
    let next = first["pagination"]["next_page"].as_str().unwrap();
    assert_eq!(next, format!("{}/list?limit=2&offset=2", tenant.uploads_path()));
    let second = expect_json(
        tenant
            .request(reqwest::Method::POST, next)
            .json(&json!({"limit": 50}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(second["pagination"]["page"], 2);
    let third = expect_json(tenant.list("?limit=2&offset=4", json!({})).await, 200).await;
    assert_eq!(third["pagination"]["next_page"], Value::Null);
    assert_eq!(filenames(&third).len(), 1);
    let mut all: Vec<&str> = [filenames(&first), filenames(&second), filenames(&third)].concat();
    all.sort();
    assert_eq!(
        all,
        [
            "backup.zip",
            "cover.png",
            "notes.txt",
            "product_video.mp4",
            "tutorial_video.mov"
        ]
    );
    let beyond = expect_json(tenant.list("", json!({"offset": 100})).await, 200).await;
    assert_eq!(filenames(&beyond).len(), 0);
    assert_eq!(beyond["pagination"]["total"], 5);
}

#[tokio::test]
async fn download_urls_only_for_stored_objects() {
    let (tenant, created) = catalogue().await;
    let response = expect_json(tenant.list("", json!({"return_presigned_urls": true})).await, 200).await;
    for upload in response["results"].as_array().unwrap() {
        if upload["upload_id"] == created[2]["upload_id"] {
            let url = upload["presigned_url"]
                .as_str()
                .expect("a download URL for the stored image");
            assert!(!url.contains("x-id=PutObject"), "{url}");
            let bytes = api_tests::http().get(url).send().await.unwrap().bytes().await.unwrap();
            assert_eq!(bytes.to_vec(), vec![7; 12]);
        } else {
            assert_eq!(upload["presigned_url"], Value::Null, "{upload}");
        }
    }
}

#[tokio::test]
async fn bad_requests_are_422_and_other_tenants_buckets_404() {
    let (tenant, _) = catalogue().await;
    let bad = tenant
        .list(
            "",
            json!({"filters": {"field": "status", "operator": "like", "value": "x"}}),
        )
        .await;
    assert_eq!(
        expect_validation(bad).await,
        vec![json!(["body", "filters", "operator"])]
    );
    let bad_limit = tenant.list("?limit=500", json!({})).await;
    assert_eq!(expect_validation(bad_limit).await, vec![json!(["query", "limit"])]);
    let no_body = tenant
        .request(reqwest::Method::POST, &format!("{}/list", tenant.uploads_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_json(no_body, 200).await["pagination"]["total"],
        5,
        "the body is optional"
    );

    let other = Tenant::new().await;
    let foreign = other
        .request(
            reqwest::Method::POST,
            &format!("/v1/buckets/{}/uploads/list", tenant.bucket.bucket_id),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(foreign, 404, "NotFoundError").await;
    let own = expect_json(other.list("", json!({})).await, 200).await;
    assert_eq!(own["pagination"]["total"], 0);
    assert_eq!(own["stats"]["unique_buckets"], 0);
}

/// list-uploads is built with the `regex` operator's Unicode case folding and Perl classes,
/// not the `\p{…}` property tables (binary size, issue 13): `\p{L}` is refused as an invalid
/// pattern, where the request points, while `\w` matches beyond ASCII.
#[tokio::test]
async fn regex_property_classes_are_refused_and_perl_classes_are_unicode() {
    let tenant = Tenant::new().await;
    tenant
        .create_upload(json!({"filename": "Été_ΔΣ.txt", "content_type": "text/plain"}))
        .await;
    let regex = |pattern: &str| json!({"filters": {"field": "filename", "operator": "regex", "value": pattern}});
    let found = expect_json(tenant.list("", regex("^\\w+_ΔΣ\\.")).await, 200).await;
    assert_eq!(found["pagination"]["total"], 1, "{found}");
    let locs = expect_validation(tenant.list("", regex("\\p{L}")).await).await;
    assert_eq!(locs, vec![json!(["body", "filters", "value"])]);
}
