//! S3 trouble, end to end: through an API whose functions cannot reach S3, the requests that
//! need it (confirmation) answer 503 in the contract's envelope, without the cause, and
//! change nothing; the same requests through the working API then succeed. Requests that
//! only presign (create, download URLs) never call S3 and keep working.

use api_tests::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn expect_unavailable(response: reqwest::Response) {
    assert_eq!(
        response.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1"),
        "a 503 says when to retry"
    );
    let envelope = expect_error(response, 503, "ServiceUnavailableError").await;
    assert_eq!(envelope["success"], false);
    assert_eq!(envelope["status"], 503);
    let message = envelope["error"]["message"].as_str().unwrap();
    assert!(message.contains("retry"), "{envelope}");
    let text = envelope.to_string();
    for leak in ["127.0.0.1", "dispatch", "connect", "s3"] {
        assert!(
            !text.to_lowercase().contains(leak),
            "the cause leaked ({leak}): {envelope}"
        );
    }
}

#[tokio::test]
async fn requests_that_need_an_unreachable_s3_are_503s_that_change_nothing() {
    let tenant = Tenant::new().await;
    let created = tenant.uploaded(b"some bytes", json!({})).await;
    let upload_id = created["upload_id"].as_str().unwrap();
    let upload_path = format!("{}/{upload_id}", tenant.uploads_path());
    let down = s3_down_api_url();
    let namespace = tenant.namespace.name.as_str();

    let confirm = tenant.request_via(&down, namespace, Method::POST, &format!("{upload_path}/confirm"));
    expect_unavailable(confirm.send().await.unwrap()).await;

    // Requests that need only DynamoDB still work there.
    let plain = tenant.request_via(&down, namespace, Method::GET, &upload_path);
    let pending: Value = expect_json(plain.send().await.unwrap(), 200).await;
    assert_eq!(pending["status"], "PENDING");

    let confirmed = expect_json(tenant.confirm(upload_id, None).await, 200).await;
    assert_eq!(confirmed["status"], "COMPLETED");
    assert_eq!(confirmed["file_hash"], sha256_hex(b"some bytes").as_str());

    // A download URL is signed locally: no S3 call, so it is given while S3 is down (for
    // that API's S3 endpoint, which is the closed port).
    let read = tenant.request_via(
        &down,
        namespace,
        Method::GET,
        &format!("{upload_path}?return_presigned_urls=true"),
    );
    let completed: Value = expect_json(read.send().await.unwrap(), 200).await;
    assert!(
        completed["presigned_url"]
            .as_str()
            .is_some_and(|url| url.contains("X-Amz-Signature="))
    );
}
