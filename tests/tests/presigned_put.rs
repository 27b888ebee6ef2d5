//! The S3 server, not the client, enforces what the presigned PUT URL signed: any other
//! Content-Type, length, signature, time or bytes is refused, and nothing is stored.

use api_tests::{SIGNED_PUT_HEADERS, Tenant, expect_json, put, put_exactly, sha256_base64, sha256_hex, state_tag};
use bucket_uploads::objects::PutRequirements;
use serde_json::{Value, json};
use std::time::Duration;

const BYTES: &[u8] = b"0123456789abcdef";

async fn pending(tenant: &Tenant, extra: Value) -> (String, String) {
    let mut body = json!({"filename": "doc.pdf", "content_type": "application/pdf", "file_size_bytes": BYTES.len()});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let created = tenant.create_upload(body).await;
    (
        created["presigned_url"].as_str().unwrap().to_owned(),
        created["s3_key"].as_str().unwrap().to_owned(),
    )
}

async fn assert_nothing_stored(tenant: &Tenant, key: &str) {
    assert!(!tenant.app.objects.exists(key).await.unwrap(), "{key} was stored");
}

#[tokio::test]
async fn another_content_type_is_refused() {
    let tenant = Tenant::new().await;
    let (url, key) = pending(&tenant, json!({})).await;
    assert_eq!(put(&url, &[("content-type", "text/html")], BYTES.to_vec()).await, 403);
    assert_eq!(put(&url, &[], BYTES.to_vec()).await, 403);
    assert_nothing_stored(&tenant, &key).await;
    assert_eq!(
        put(&url, &[("content-type", "application/pdf")], BYTES.to_vec()).await,
        200
    );
}

#[tokio::test]
async fn objects_start_out_tagged_unconfirmed_and_confirmation_retags_them() {
    let tenant = Tenant::new().await;
    let (url, key) = pending(&tenant, json!({})).await;
    let content_type = ("content-type", "application/pdf");
    let condition = SIGNED_PUT_HEADERS[1];
    assert_eq!(put_exactly(&url, &[content_type, condition], BYTES.to_vec()).await, 403);
    let claims_confirmed = ("x-amz-tagging", "upload-state=confirmed");
    assert_eq!(
        put_exactly(&url, &[content_type, condition, claims_confirmed], BYTES.to_vec()).await,
        403
    );
    assert_nothing_stored(&tenant, &key).await;

    assert_eq!(put(&url, &[content_type], BYTES.to_vec()).await, 200);
    assert_eq!(state_tag(&tenant.app, &key).await.as_deref(), Some("unconfirmed"));

    let upload_id = key.split('/').nth(2).unwrap();
    expect_json(tenant.confirm(upload_id, None).await, 200).await;
    assert_eq!(state_tag(&tenant.app, &key).await.as_deref(), Some("confirmed"));
}

#[tokio::test]
async fn a_stored_object_cannot_be_replaced_through_its_url() {
    let tenant = Tenant::new().await;
    let (url, key) = pending(&tenant, json!({})).await;
    let content_type = ("content-type", "application/pdf");
    let without_condition = [content_type, SIGNED_PUT_HEADERS[0]];
    assert_eq!(put_exactly(&url, &without_condition, BYTES.to_vec()).await, 403);
    assert_nothing_stored(&tenant, &key).await;
    assert_eq!(put(&url, &[content_type], BYTES.to_vec()).await, 200);

    let other: Vec<u8> = BYTES.iter().rev().copied().collect();
    assert_eq!(put(&url, &[content_type], other.clone()).await, 412);
    let upload_id = key.split('/').nth(2).unwrap();
    let confirmed = expect_json(tenant.confirm(upload_id, None).await, 200).await;
    assert_eq!(confirmed["file_hash"], sha256_hex(BYTES).as_str());
    // After confirmation too: the verified bytes and their confirmed tag stay.
    assert_eq!(put(&url, &[content_type], other).await, 412);
    assert_eq!(
        tenant.app.objects.sha256_hex(&key).await.unwrap(),
        Some(sha256_hex(BYTES))
    );
    assert_eq!(state_tag(&tenant.app, &key).await.as_deref(), Some("confirmed"));
}

#[tokio::test]
async fn another_length_is_refused() {
    let tenant = Tenant::new().await;
    let (url, key) = pending(&tenant, json!({})).await;
    let headers = [("content-type", "application/pdf")];
    assert_eq!(put(&url, &headers, BYTES[..BYTES.len() - 1].to_vec()).await, 403);
    assert_eq!(put(&url, &headers, [BYTES, b"!"].concat()).await, 403);
    assert_eq!(put(&url, &headers, Vec::new()).await, 403);
    assert_nothing_stored(&tenant, &key).await;
}

#[tokio::test]
async fn a_tampered_or_missing_signature_is_refused() {
    let tenant = Tenant::new().await;
    let (url, key) = pending(&tenant, json!({})).await;
    let headers = [("content-type", "application/pdf")];
    let (head, signature) = url.rsplit_once("X-Amz-Signature=").unwrap();
    let flipped: String = signature.chars().rev().collect();
    assert_eq!(
        put(&format!("{head}X-Amz-Signature={flipped}"), &headers, BYTES.to_vec()).await,
        403
    );
    let unsigned = url.split('?').next().unwrap();
    assert_eq!(put(unsigned, &headers, BYTES.to_vec()).await, 403);
    let other_key = url.replace("doc.pdf", "other.pdf");
    assert_eq!(put(&other_key, &headers, BYTES.to_vec()).await, 403);
    assert_nothing_stored(&tenant, &key).await;
    assert_nothing_stored(&tenant, &key.replace("doc.pdf", "other.pdf")).await;
}

#[tokio::test]
async fn an_expired_url_is_refused() {
    // The API's shortest expiry is 60 s; the adapter itself signs a 1 s URL to keep this fast.
    let app = api_tests::app().await;
    let key = format!("expiry-test/{}", bucket_uploads::ids::IdKind::Upload.generate());
    let needs = PutRequirements {
        content_type: "text/plain",
        content_length: 5,
        sha256_hex: None,
    };
    let url = app
        .objects
        .presign_put(&key, &needs, Duration::from_secs(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        put(&url, &[("content-type", "text/plain")], b"hello".to_vec()).await,
        403
    );
    assert!(!app.objects.exists(&key).await.unwrap());
    let fresh = app
        .objects
        .presign_put(&key, &needs, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        put(&fresh, &[("content-type", "text/plain")], b"hello".to_vec()).await,
        200
    );
}

#[tokio::test]
async fn with_a_declared_hash_other_bytes_are_refused() {
    let tenant = Tenant::new().await;
    let (url, key) = pending(&tenant, json!({"file_hash": sha256_hex(BYTES)})).await;
    let declared = sha256_base64(BYTES);
    let mut other = BYTES.to_vec();
    other[0] ^= 1;
    let headers = [
        ("content-type", "application/pdf"),
        ("x-amz-checksum-sha256", declared.as_str()),
    ];
    // Same length, same declared checksum, different bytes: S3 computes and refuses.
    assert_eq!(put(&url, &headers, other.clone()).await, 400);
    assert_nothing_stored(&tenant, &key).await;
    // The checksum header is signed: leaving it out or changing it breaks the signature.
    assert_eq!(
        put(&url, &[("content-type", "application/pdf")], BYTES.to_vec()).await,
        403
    );
    let forged = sha256_base64(&other);
    let forged_headers = [
        ("content-type", "application/pdf"),
        ("x-amz-checksum-sha256", forged.as_str()),
    ];
    assert_eq!(put(&url, &forged_headers, other).await, 403);
    assert_nothing_stored(&tenant, &key).await;
    assert_eq!(put(&url, &headers, BYTES.to_vec()).await, 200);
}
