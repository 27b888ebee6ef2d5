//! The upload URL takes exactly the PUT Mixpeek documents (`curl -X PUT -H "Content-Type: …"
//! --upload-file F`), and the S3 server, not the client, enforces what it signed: any other
//! Content-Type, length, signature or time is refused and nothing is stored. The URL writes
//! a staging key; what a confirmation verified lives at a final key no URL can write.

use api_tests::{Tenant, expect_json, put, sha256_base64, sha256_hex, stored_sha256};
use bucket_uploads::model::STAGING_PREFIX;
use bucket_uploads::objects::PutRequirements;
use serde_json::{Value, json};
use std::time::Duration;

const BYTES: &[u8] = b"0123456789abcdef";
const PDF: (&str, &str) = ("content-type", "application/pdf");

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

/// The `X-Amz-SignedHeaders` of a presigned URL.
fn signed_headers(url: &str) -> String {
    let query = url.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("X-Amz-SignedHeaders="))
        .unwrap()
        .replace("%3B", ";")
}

#[tokio::test]
async fn the_url_signs_only_what_the_documented_put_sends() {
    let tenant = Tenant::new().await;
    let (url, key) = pending(&tenant, json!({})).await;
    assert_eq!(signed_headers(&url), "content-length;content-type;host");
    assert!(key.starts_with(STAGING_PREFIX), "{key}");

    let without_size = tenant
        .create_upload(json!({"filename": "a.bin", "content_type": "application/octet-stream"}))
        .await;
    assert_eq!(without_size["file_size_bytes"], Value::Null);
    assert_eq!(
        signed_headers(without_size["presigned_url"].as_str().unwrap()),
        "content-type;host"
    );
    let with_hash = tenant
        .create_upload(
            json!({"filename": "a.bin", "content_type": "application/octet-stream", "file_hash": sha256_hex(BYTES)}),
        )
        .await;
    assert_eq!(
        signed_headers(with_hash["presigned_url"].as_str().unwrap()),
        "content-type;host",
        "a declared hash is verified at confirmation, not demanded of the PUT"
    );

    // Content-Type and the bytes, nothing else (Content-Length is the HTTP client's own).
    assert_eq!(put(&url, &[PDF], BYTES.to_vec()).await, 200);
    assert_eq!(stored_sha256(&tenant.app, &key).await, Some(sha256_hex(BYTES)));
    let any_length = without_size["presigned_url"].as_str().unwrap();
    let headers = [("content-type", "application/octet-stream")];
    assert_eq!(put(any_length, &headers, b"any length at all".to_vec()).await, 200);
}

/// The local S3 server's endpoint is an IP address, which the S3 client's endpoint rules
/// address path style (no resolver answers `<bucket>.127.0.0.1`); the stack does not ask
/// for path style, so the URL must choose it as the client does, and the PUT must land.
#[tokio::test]
async fn on_an_ip_endpoint_the_url_addresses_the_bucket_path_style() {
    assert!(
        std::env::var("UPLOADS_S3_FORCE_PATH_STYLE").is_err(),
        "the test stack must leave the addressing to the endpoint rules"
    );
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3").expect("the local S3 endpoint");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let tenant = Tenant::new().await;
    let (url, key) = pending(&tenant, json!({})).await;
    let bucket = tenant.app.objects.bucket();
    assert!(url.starts_with(&format!("{endpoint}/{bucket}/{key}?")), "{url}");
    assert_eq!(put(&url, &[PDF], BYTES.to_vec()).await, 200);
    assert!(tenant.app.objects.exists(&key).await.unwrap());
}

#[tokio::test]
async fn another_content_type_is_refused() {
    let tenant = Tenant::new().await;
    let (url, key) = pending(&tenant, json!({})).await;
    assert_eq!(put(&url, &[("content-type", "text/html")], BYTES.to_vec()).await, 403);
    assert_eq!(put(&url, &[], BYTES.to_vec()).await, 403);
    assert_nothing_stored(&tenant, &key).await;
    assert_eq!(put(&url, &[PDF], BYTES.to_vec()).await, 200);
}

/// Guarantee 1: bytes a confirmation verified can never be replaced through an upload URL.
#[tokio::test]
async fn a_put_after_confirmation_cannot_touch_the_confirmed_bytes() {
    let tenant = Tenant::new().await;
    let (url, staging_key) = pending(&tenant, json!({})).await;
    let other: Vec<u8> = BYTES.iter().rev().copied().collect();
    // Before confirmation the staged bytes may still be replaced: the last PUT counts.
    assert_eq!(put(&url, &[PDF], other.clone()).await, 200);
    assert_eq!(put(&url, &[PDF], BYTES.to_vec()).await, 200);

    let upload_id = staging_key.split('/').nth(3).unwrap();
    let confirmed = expect_json(tenant.confirm(upload_id, None).await, 200).await;
    assert_eq!(confirmed["file_hash"], sha256_hex(BYTES).as_str());
    let completed = expect_json(tenant.get_upload(upload_id, "").await, 200).await;
    let final_key = completed["s3_key"].as_str().unwrap().to_owned();
    assert_eq!(format!("{STAGING_PREFIX}{final_key}"), staging_key);
    assert_nothing_stored(&tenant, &staging_key).await;

    // The URL still works until it expires, but only ever writes the staging key.
    assert_eq!(put(&url, &[PDF], other.clone()).await, 200);
    assert_eq!(stored_sha256(&tenant.app, &final_key).await, Some(sha256_hex(BYTES)));
    assert_eq!(stored_sha256(&tenant.app, &staging_key).await, Some(sha256_hex(&other)));
    let again = expect_json(tenant.confirm(upload_id, None).await, 200).await;
    assert_eq!(again, confirmed, "a settled upload answers from its record");
    let fetched = expect_json(tenant.get_upload(upload_id, "?return_presigned_urls=true").await, 200).await;
    assert_eq!(fetched["file_hash"], sha256_hex(BYTES).as_str());
    let download = fetched["presigned_url"].as_str().unwrap();
    let downloaded = api_tests::http().get(download).send().await.unwrap();
    assert_eq!(downloaded.bytes().await.unwrap().to_vec(), BYTES);
    // And no URL signs the final key: the create URL for another key cannot be bent to it.
    let bent = url.replacen(STAGING_PREFIX, "", 1);
    assert_eq!(put(&bent, &[PDF], other).await, 403);
    assert_eq!(stored_sha256(&tenant.app, &final_key).await, Some(sha256_hex(BYTES)));
}

#[tokio::test]
async fn another_length_is_refused() {
    let tenant = Tenant::new().await;
    let (url, key) = pending(&tenant, json!({})).await;
    assert_eq!(put(&url, &[PDF], BYTES[..BYTES.len() - 1].to_vec()).await, 403);
    assert_eq!(put(&url, &[PDF], [BYTES, b"!"].concat()).await, 403);
    assert_eq!(put(&url, &[PDF], Vec::new()).await, 403);
    assert_nothing_stored(&tenant, &key).await;
}

#[tokio::test]
async fn a_tampered_or_missing_signature_is_refused() {
    let tenant = Tenant::new().await;
    let (url, key) = pending(&tenant, json!({})).await;
    let (head, signature) = url.rsplit_once("X-Amz-Signature=").unwrap();
    let flipped: String = signature.chars().rev().collect();
    assert_eq!(
        put(&format!("{head}X-Amz-Signature={flipped}"), &[PDF], BYTES.to_vec()).await,
        403
    );
    let unsigned = url.split('?').next().unwrap();
    assert_eq!(put(unsigned, &[PDF], BYTES.to_vec()).await, 403);
    let other_key = url.replace("doc.pdf", "other.pdf");
    assert_eq!(put(&other_key, &[PDF], BYTES.to_vec()).await, 403);
    assert_nothing_stored(&tenant, &key).await;
    assert_nothing_stored(&tenant, &key.replace("doc.pdf", "other.pdf")).await;
}

#[tokio::test]
async fn an_expired_url_is_refused() {
    // The API's shortest expiry is 60 s; the adapter itself signs a 1 s URL to keep this fast.
    let app = api_tests::app().await;
    let key = format!(
        "{STAGING_PREFIX}expiry-test/{}",
        bucket_uploads::ids::IdKind::Upload.generate()
    );
    let needs = PutRequirements {
        content_type: "text/plain",
        content_length: Some(5),
        sha256_hex: None,
    };
    let url = app
        .objects
        .presign_put(&key, &needs, Duration::from_secs(1))
        .await
        .unwrap()
        .url;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let text = [("content-type", "text/plain")];
    assert_eq!(put(&url, &text, b"hello".to_vec()).await, 403);
    assert!(!app.objects.exists(&key).await.unwrap());
    let fresh = app
        .objects
        .presign_put(&key, &needs, Duration::from_secs(60))
        .await
        .unwrap()
        .url;
    assert_eq!(put(&fresh, &text, b"hello".to_vec()).await, 200);
}

/// `checksum_required` (our extension): the URL signs the declared checksum, so S3 itself
/// refuses any other bytes.
#[tokio::test]
async fn with_a_required_checksum_other_bytes_are_refused() {
    let tenant = Tenant::new().await;
    let (url, key) = pending(
        &tenant,
        json!({"file_hash": sha256_hex(BYTES), "checksum_required": true}),
    )
    .await;
    assert_eq!(
        signed_headers(&url),
        "content-length;content-type;host;x-amz-checksum-sha256"
    );
    let declared = sha256_base64(BYTES);
    let mut other = BYTES.to_vec();
    other[0] ^= 1;
    let headers = [PDF, ("x-amz-checksum-sha256", declared.as_str())];
    // Same length, same declared checksum, different bytes: S3 computes and refuses.
    assert_eq!(put(&url, &headers, other.clone()).await, 400);
    assert_nothing_stored(&tenant, &key).await;
    // The checksum header is signed: leaving it out or changing it breaks the signature.
    assert_eq!(put(&url, &[PDF], BYTES.to_vec()).await, 403);
    let forged = sha256_base64(&other);
    let forged_headers = [PDF, ("x-amz-checksum-sha256", forged.as_str())];
    assert_eq!(put(&url, &forged_headers, other).await, 403);
    assert_nothing_stored(&tenant, &key).await;
    assert_eq!(put(&url, &headers, BYTES.to_vec()).await, 200);
    // S3 verified it, and keeps it.
    let head = tenant.app.objects.head(&key).await.unwrap().unwrap();
    assert_eq!(head.sha256_hex, Some(sha256_hex(BYTES)));
}

#[tokio::test]
async fn any_filename_makes_a_key_the_url_writes_and_the_download_url_reads() {
    let tenant = Tenant::new().await;
    let name = "résumé + notes (v2) 100%&=?#.pdf";
    let (url, key) = pending(&tenant, json!({"filename": name})).await;
    assert!(key.ends_with(name), "{key}");
    assert_eq!(put(&url, &[PDF], BYTES.to_vec()).await, 200);
    assert_eq!(stored_sha256(&tenant.app, &key).await, Some(sha256_hex(BYTES)));

    let upload_id = key.split('/').nth(3).unwrap().to_owned();
    expect_json(tenant.confirm(&upload_id, None).await, 200).await;
    assert_eq!(tenant.downloaded(&upload_id).await, BYTES.to_vec());
}
