//! A URL never outlives the credentials that sign it: S3 refuses a URL whose session token
//! expired, whatever its `X-Amz-Expires` says. With credentials that expire in ten minutes
//! (Lambda's are session credentials), a URL asked for an hour or a day lives ten minutes at
//! most, `expires_at` says so, and the message says why.

use api_tests::{Tenancy, put, sha256_hex, stored_sha256};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use bucket_uploads::app::{App, Settings};
use bucket_uploads::confirm::confirm_upload;
use bucket_uploads::model::UploadStatus;
use bucket_uploads::time::Timestamp;
use bucket_uploads::uploads::{create_upload, create_uploads_batch, get_upload};
use serde_json::json;
use std::time::{Duration, SystemTime};

const TEN_MINUTES: Duration = Duration::from_secs(600);

/// The app a function runs, except that its credentials expire in ten minutes.
fn app_with_credentials_expiring_in_ten_minutes() -> App {
    let sdk = bucket_uploads::aws::function_sdk_config();
    let local = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name}: run through `make test`"));
    let expiring = Credentials::new(
        local("AWS_ACCESS_KEY_ID"),
        local("AWS_SECRET_ACCESS_KEY"),
        None,
        Some(SystemTime::now() + TEN_MINUTES),
        "expiring",
    );
    let sdk = sdk
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(expiring))
        .build();
    // A deployment without the signing identity: URLs are signed with these credentials.
    let settings = Settings {
        signing_secret: None,
        ..Settings::from_env().expect("make test sets the environment")
    };
    App::new(&sdk, &settings)
}

fn x_amz_expires(url: &str) -> u64 {
    let (_, query) = url.split_once('?').expect("a query");
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("X-Amz-Expires="))
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or_else(|| panic!("no X-Amz-Expires in {url}"))
}

#[tokio::test]
async fn urls_and_expires_at_end_when_the_signing_credentials_do() {
    let app = app_with_credentials_expiring_in_ten_minutes();
    let tenancy = Tenancy::create(&app, ["media", "photos"], None).await;
    let scope = tenancy.scope(&app).await;
    let bytes = b"bytes signed for ten minutes".to_vec();
    let asked = json!({
        "filename": "a.bin", "content_type": "application/octet-stream",
        "file_size_bytes": bytes.len(), "presigned_url_expiration": 3600,
    });
    let latest = Timestamp::now().plus_seconds(600);
    let upload = create_upload(&app, &scope, &tenancy.bucket_ref(), Some(&asked))
        .await
        .expect("created");
    assert_eq!(upload.presigned_url_expiration, 3600, "what was asked is kept");
    assert!(
        upload.expires_at <= latest,
        "expires_at {} after {latest}",
        upload.expires_at
    );
    assert!(
        upload.expires_at > Timestamp::now().plus_seconds(590),
        "{}",
        upload.expires_at
    );
    let url = upload.presigned_url.clone().expect("an upload URL");
    assert!(x_amz_expires(&url) <= 600, "{url}");
    let message = upload.message.clone().unwrap_or_default();
    assert!(message.contains("sooner than the 3600 s asked for"), "{message}");
    let stored = app.store.upload(&upload.upload_id).await.unwrap().expect("stored");
    assert_eq!(
        stored.expires_at, upload.expires_at,
        "the record holds what the response says"
    );

    // The URL works while the credentials do, and the download URL is cut short too.
    let headers = [("content-type", "application/octet-stream")];
    assert_eq!(put(&url, &headers, bytes.clone()).await, 200);
    assert_eq!(stored_sha256(&app, &upload.s3_key).await, Some(sha256_hex(&bytes)));
    let confirmed = confirm_upload(&app, &scope, &tenancy.bucket_ref(), &upload.upload_id, None, false)
        .await
        .expect("confirmed");
    assert_eq!(confirmed.status, UploadStatus::Completed);
    let read = get_upload(&app, &scope, &tenancy.bucket_ref(), &upload.upload_id, true)
        .await
        .expect("read");
    let download = read.presigned_url.expect("a download URL");
    assert!(x_amz_expires(&download) <= 600, "{download}");

    // Batch create cuts every item short the same way.
    let batch = json!({"uploads": [
        {"filename": "b.bin", "content_type": "text/plain", "presigned_url_expiration": 86400},
        {"filename": "c.bin", "content_type": "text/plain", "presigned_url_expiration": 60},
    ]});
    let created = create_uploads_batch(&app, &scope, &tenancy.bucket_ref(), Some(&batch))
        .await
        .expect("batch created");
    let [long, short] = &created.uploads[..] else {
        panic!("two uploads")
    };
    assert!(long.expires_at <= Timestamp::now().plus_seconds(600));
    assert!(x_amz_expires(long.presigned_url.as_deref().unwrap()) <= 600);
    assert!(long.url_cut_short());
    assert!(!short.url_cut_short(), "a minute is within the credentials' ten");
    assert!(x_amz_expires(short.presigned_url.as_deref().unwrap()) <= 60);
    assert!(!short.message.clone().unwrap_or_default().contains("sooner"));
}
