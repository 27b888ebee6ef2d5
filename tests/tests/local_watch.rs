//! The local watch (`tools/local-watch`: cargo-lambda's watch with our patches) answers as
//! API Gateway and Lambda would where the released watch did not: a function's response that
//! reaches it in more than one read is answered at once, not when the function next writes on
//! that connection; a text body that is not UTF-8 reaches the function base64-encoded.

use api_tests::*;
use std::time::{Duration, Instant};

/// A request through the watch's HTTP trigger (`/lambda-url/FUNCTION/`, as a Lambda
/// function URL; the API's routes go the same way), which reads the function's whole answer
/// before it answers.
async fn through_the_watch(function: &str, body: &str) -> String {
    let url = format!("{}/lambda-url/{function}/", api_url());
    let response = http()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap_or_else(|err| panic!("no answer from {function}: {err}"));
    assert_eq!(response.status(), 200);
    response.text().await.expect("an answer")
}

#[tokio::test]
async fn a_response_whose_body_comes_in_a_later_read_is_answered_at_once() {
    // The first request starts the function (cargo run): not timed.
    assert_eq!(
        through_the_watch("split-response-function", r#"{"n": 0}"#).await,
        r#"{"n": 0}"#
    );
    for n in 1..=5 {
        let started = Instant::now();
        let sent = format!(r#"{{"n": {n}}}"#);
        assert_eq!(through_the_watch("split-response-function", &sent).await, sent);
        // The function takes 50 ms between head and body; a held response waits until the
        // client gives up (20 s).
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "answered after {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn a_json_body_that_is_not_utf8_is_the_functions_422() {
    let tenant = Tenant::new().await;
    let response = tenant
        .request(reqwest::Method::POST, &tenant.uploads_path())
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, b'{', b'}'])
        .send()
        .await
        .unwrap();
    let body = expect_json(response, 422).await;
    assert_eq!(body["detail"][0]["type"], "json_invalid", "{body}");
}
