//! What API Gateway hands a function, fed to the function's real binary through a fake
//! Runtime API: a body API Gateway delivers base64-encoded (`isBase64Encoded`) reaches the
//! function, and bytes that are not JSON get the contract's 422, not a server error.
//! (`tests/tests/local_watch.rs` checks the same through the local watch, which the released
//! cargo lambda watch failed with its own 500.)

use api_tests::Tenancy;
use api_tests::fake_runtime::{api_gateway_event, function_env, invoke_once};
use base64::Engine as _;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// The debug binary `make test` built next to this test's own.
fn function_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/debug");
    let binary = dir.join(name);
    assert!(
        binary.exists(),
        "{} is not built: run through `make test`",
        binary.display()
    );
    binary
}

async fn answer_to(function: &str, event: &Value) -> (u64, Value) {
    let invocation = invoke_once(
        &function_binary(function),
        &function_env(function),
        event,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(invocation.outcome, "response", "{:?}", invocation.answer);
    let status = invocation.answer["statusCode"].as_u64().expect("a status");
    let body = invocation.answer["body"].as_str().unwrap_or_default();
    let body = if invocation.answer["isBase64Encoded"] == Value::Bool(true) {
        let bytes = base64::engine::general_purpose::STANDARD.decode(body).expect("base64");
        serde_json::from_slice(&bytes).expect("a JSON body")
    } else {
        serde_json::from_str(body).expect("a JSON body")
    };
    (status, body)
}

#[tokio::test]
async fn a_base64_body_that_is_not_utf8_gets_the_validation_envelope() {
    let app = api_tests::app().await;
    let made = Tenancy::create(&app, ["events", "events"], None).await;
    let authorization = made.authorization();
    let headers = [
        ("authorization", authorization.as_str()),
        ("x-namespace", made.namespace.name.as_str()),
        ("content-type", "application/json"),
    ];
    let garbage = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b'"', 0x80]);
    let path = format!("/v1/buckets/{}/uploads", made.bucket.name);
    for (function, path) in [
        ("create-upload", path.clone()),
        ("create-uploads-batch", format!("{path}/batch")),
        ("list-uploads", format!("{path}/list")),
    ] {
        let event = api_gateway_event("POST", &path, &headers, Some(garbage.clone()), true);
        let (status, body) = answer_to(function, &event).await;
        assert_eq!(status, 422, "{function}: {body}");
        assert_eq!(body["detail"][0]["type"], "json_invalid", "{function}: {body}");
        assert_eq!(body["error"]["type"], "ValidationError", "{function}: {body}");
    }

    // The same bytes base64-encoded but valid: the function reads the decoded body.
    let valid =
        base64::engine::general_purpose::STANDARD.encode(br#"{"filename": "a.txt", "content_type": "text/plain"}"#);
    let event = api_gateway_event("POST", &path, &headers, Some(valid), true);
    let (status, body) = answer_to("create-upload", &event).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["filename"], "a.txt");
}
