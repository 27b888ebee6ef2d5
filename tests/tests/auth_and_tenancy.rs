//! Keys are checked on every request; one tenant never sees another's namespaces, buckets
//! or uploads: those answer 404 exactly as if they did not exist.

use api_tests::{Tenant, api_url, expect_error, expect_json, expect_validation, http};
use reqwest::Method;
use serde_json::json;

fn body() -> serde_json::Value {
    json!({"filename": "a.txt", "content_type": "text/plain", "file_size_bytes": 1})
}

#[tokio::test]
async fn missing_malformed_unknown_or_wrong_keys_are_401() {
    let tenant = Tenant::new().await;
    let path = format!("{}{}", api_url(), tenant.uploads_path());
    let client = http();

    let no_key = client
        .post(&path)
        .header("X-Namespace", &tenant.namespace.name)
        .json(&body())
        .send()
        .await
        .unwrap();
    let envelope = expect_error(no_key, 401, "UnauthorizedError").await;
    assert!(!envelope.to_string().contains("sk_key_"), "{envelope}");

    let (key_id_part, secret) = tenant.api_key.rsplit_once('_').unwrap();
    let wrong_secret = format!("{key_id_part}_{}", secret.chars().rev().collect::<String>());
    let unknown_id = format!("sk_{}_{secret}", bucket_uploads::ids::IdKind::ApiKey.generate());
    let attempts = [
        format!("Bearer {wrong_secret}"),
        format!("Bearer {unknown_id}"),
        "Bearer sk_nonsense".to_owned(),
        format!("Basic {}", tenant.api_key),
        tenant.api_key.clone(),
    ];
    // By name or by id (read alongside the key), the namespace is never judged first.
    let namespaces = [tenant.namespace.name.as_str(), tenant.namespace.namespace_id.as_str()];
    for (authorization, namespace) in attempts.iter().flat_map(|a| namespaces.map(|n| (a, n))) {
        let response = client
            .get(format!("{path}/upl_01hzx3q5n1v8w6t2k9r4m7p0ab"))
            .header("Authorization", authorization)
            .header("X-Namespace", namespace)
            .send()
            .await
            .unwrap();
        expect_error(response, 401, "UnauthorizedError").await;
    }
}

#[tokio::test]
async fn a_missing_namespace_header_is_a_422_detail() {
    let tenant = Tenant::new().await;
    let response = http()
        .post(format!("{}{}", api_url(), tenant.uploads_path()))
        .bearer_auth(&tenant.api_key)
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_validation(response).await,
        vec![json!(["header", "x-namespace"])]
    );
}

#[tokio::test]
async fn another_tenants_resources_are_404() {
    let alice = Tenant::new().await;
    let mallory = Tenant::new().await;
    let alices_upload = alice.create_upload(body()).await;
    let upload_id = alices_upload["upload_id"].as_str().unwrap();

    // Alice's namespace, by id and by name (both tenants call theirs "media": names are per tenant).
    let by_ns_id = mallory
        .request_in(
            alice.namespace.namespace_id.as_str(),
            Method::GET,
            &format!("{}/{upload_id}", mallory.uploads_path()),
        )
        .send()
        .await
        .unwrap();
    let envelope = expect_error(by_ns_id, 404, "NotFoundError").await;
    assert_eq!(
        envelope["error"]["details"],
        json!({"resource": "namespace", "id": alice.namespace.namespace_id})
    );
    let unknown_ns = mallory
        .request_in(
            "no-such-namespace",
            Method::GET,
            &format!("{}/{upload_id}", mallory.uploads_path()),
        )
        .send()
        .await
        .unwrap();
    let unknown = expect_error(unknown_ns, 404, "NotFoundError").await;
    // Unknown and foreign namespaces are indistinguishable apart from the id echoed back.
    assert_eq!(unknown["error"]["message"], envelope["error"]["message"]);

    // Alice's bucket id from Mallory's namespace.
    let bucket = mallory
        .request(
            Method::GET,
            &format!("/v1/buckets/{}/uploads/{upload_id}", alice.bucket.bucket_id),
        )
        .send()
        .await
        .unwrap();
    let envelope = expect_error(bucket, 404, "NotFoundError").await;
    assert_eq!(envelope["error"]["details"]["resource"], "bucket");
    let create_in_foreign = mallory
        .request(Method::POST, &format!("/v1/buckets/{}/uploads", alice.bucket.bucket_id))
        .json(&body())
        .send()
        .await
        .unwrap();
    expect_error(create_in_foreign, 404, "NotFoundError").await;

    // Alice's upload id through Mallory's own bucket.
    let upload = mallory.get_upload(upload_id, "?return_presigned_urls=true").await;
    let envelope = expect_error(upload, 404, "NotFoundError").await;
    assert_eq!(
        envelope["error"]["details"],
        json!({"resource": "upload", "id": upload_id})
    );

    // And an id that never existed looks the same.
    let never = mallory
        .get_upload(&bucket_uploads::ids::IdKind::Upload.generate(), "")
        .await;
    expect_error(never, 404, "NotFoundError").await;

    // Alice still reads her own.
    expect_json(alice.get_upload(upload_id, "").await, 200).await;
}

#[tokio::test]
async fn a_second_namespace_of_the_same_tenant_does_not_see_the_first_ones_buckets() {
    let tenant = Tenant::new().await;
    let other = bucket_uploads::tenancy::create_namespace(&tenant.app.store, &tenant.tenant_id, "archive")
        .await
        .unwrap();
    let response = tenant
        .request_in(&other.name, Method::POST, &tenant.uploads_path())
        .json(&body())
        .send()
        .await
        .unwrap();
    let envelope = expect_error(response, 404, "NotFoundError").await;
    assert_eq!(envelope["error"]["details"]["resource"], "bucket");
}
