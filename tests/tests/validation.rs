//! Malformed paths, queries and bodies get a 422 detail list pointing at the problem, and
//! no bad input ever produces a 500.

use api_tests::{Tenant, expect_json, expect_validation};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn malformed_path_and_query_are_422() {
    let tenant = Tenant::new().await;
    let bad_id = tenant.get_upload("not-an-id", "").await;
    assert_eq!(expect_validation(bad_id).await, vec![json!(["path", "upload_id"])]);
    let bad_bucket = tenant
        .request(
            Method::GET,
            "/v1/buckets/bad%20name/uploads/upl_01hzx3q5n1v8w6t2k9r4m7p0ab",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_validation(bad_bucket).await,
        vec![json!(["path", "bucket_identifier"])]
    );
    let created = tenant
        .create_upload(json!({"filename": "a.txt", "content_type": "text/plain", "file_size_bytes": 1}))
        .await;
    let bad_bool = tenant
        .get_upload(created["upload_id"].as_str().unwrap(), "?return_presigned_urls=maybe")
        .await;
    assert_eq!(
        expect_validation(bad_bool).await,
        vec![json!(["query", "return_presigned_urls"])]
    );
}

#[tokio::test]
async fn malformed_bodies_are_422_with_every_location() {
    let tenant = Tenant::new().await;
    let path = tenant.uploads_path();

    let not_json = tenant
        .request(Method::POST, &path)
        .header("content-type", "application/json")
        .body("{\"filename\": ")
        .send()
        .await
        .unwrap();
    let locs = expect_validation(not_json).await;
    assert_eq!(locs[0][0], "body");

    let empty = tenant.request(Method::POST, &path).send().await.unwrap();
    assert_eq!(expect_validation(empty).await, vec![json!(["body"])]);

    let array = tenant
        .request(Method::POST, &path)
        .json(&json!([1, 2]))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_validation(array).await, vec![json!(["body"])]);

    let everything_wrong = tenant
        .request(Method::POST, &path)
        .json(&json!({"filename": "../x", "file_size_bytes": "10", "presigned_url_expiration": 10, "file_hash": "xyz"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_validation(everything_wrong).await,
        vec![
            json!(["body", "filename"]),
            json!(["body", "content_type"]),
            json!(["body", "file_size_bytes"]),
            json!(["body", "presigned_url_expiration"]),
            json!(["body", "file_hash"]),
        ]
    );
}

#[tokio::test]
async fn the_file_size_limit_is_the_buckets() {
    let tenant = Tenant::with_max_file_size(Some(1000)).await;
    let over = tenant
        .request(Method::POST, &tenant.uploads_path())
        .json(&json!({"filename": "a.txt", "content_type": "text/plain", "file_size_bytes": 1001}))
        .send()
        .await
        .unwrap();
    let body = expect_json(over, 422).await;
    assert_eq!(body["detail"][0]["loc"], json!(["body", "file_size_bytes"]));
    assert_eq!(body["detail"][0]["type"], "less_than_equal");
    tenant
        .create_upload(json!({"filename": "a.txt", "content_type": "text/plain", "file_size_bytes": 1000}))
        .await;
}

#[tokio::test]
async fn no_bad_input_is_a_server_error() {
    let tenant = Tenant::new().await;
    let bodies = [
        "null",
        "true",
        "\"x\"",
        "{}",
        "{\"filename\": null}",
        "{\"filename\": {}}",
        "\u{feff}{}",
        "{\"a\":1}{",
        "{\"filename\":\"a\",\"content_type\":\"text/plain\",\"file_size_bytes\":1e400}",
        "{\"filename\":\"a\",\"content_type\":\"text/plain\",\"file_size_bytes\":18446744073709551616}",
        "{\"filename\":\"a\",\"content_type\":\"text/plain\",\"file_size_bytes\":1,\"metadata\":{\"k\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}}",
        "{\"filename\":\"\\u0000\",\"content_type\":\"text/plain\",\"file_size_bytes\":1}",
    ];
    for body in bodies {
        let response = tenant
            .request(Method::POST, &tenant.uploads_path())
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{body:?} answered {status}");
    }
    let paths = [
        "/v1/buckets/%FF/uploads/upl_x",
        "/v1/buckets/a/uploads/upl_01hzx3q5n1v8w6t2k9r4m7p0ab%00",
    ];
    for path in paths {
        let status = tenant
            .request(Method::GET, path)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert!((400..500).contains(&status), "{path} answered {status}");
    }
}

/// Mixpeek refuses undeclared body keys (since 2026-11-02): every endpoint with a body
/// answers 422 `extra_forbidden` at the key's location, naming the accepted keys.
#[tokio::test]
async fn unknown_body_keys_are_refused_on_every_endpoint() {
    let tenant = Tenant::new().await;
    let created = tenant
        .create_upload(json!({"filename": "a.txt", "content_type": "text/plain", "file_size_bytes": 1}))
        .await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let create = tenant
        .request(Method::POST, &tenant.uploads_path())
        .json(&json!({"filename": "a.txt", "content_type": "text/plain", "bucket_id": "x"}))
        .send()
        .await
        .unwrap();
    let confirm = tenant
        .confirm(upload_id, Some(json!({"etag": "x", "checksum": "y"})))
        .await;
    let list = tenant.list("", json!({"filters": {}, "page_token": "z"})).await;
    let sort = tenant
        .list("", json!({"sort": {"field": "created_at", "order": "asc"}}))
        .await;
    for (response, loc, accepted) in [
        (create, json!(["body", "bucket_id"]), "skip_duplicates"),
        (confirm, json!(["body", "checksum"]), "auto_submit_batch"),
        (list, json!(["body", "page_token"]), "return_presigned_urls"),
        (sort, json!(["body", "sort", "order"]), "direction"),
    ] {
        let body = expect_json(response, 422).await;
        assert_eq!(body["detail"][0]["loc"], loc, "{body}");
        assert_eq!(body["detail"][0]["type"], "extra_forbidden", "{body}");
        assert!(body["detail"][0]["msg"].as_str().unwrap().contains(accepted), "{body}");
        assert_eq!(body["error"]["type"], "ValidationError", "{body}");
        assert_eq!(body["status"], 422, "{body}");
    }
    // Nothing was created or confirmed by the refused requests.
    let listed = expect_json(tenant.list("", json!({})).await, 200).await;
    assert_eq!(listed["pagination"]["total"], 1);
    assert_eq!(listed["results"][0]["status"], "PENDING");
}
