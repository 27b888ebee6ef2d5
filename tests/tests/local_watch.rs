//! The local watch (`tools/local-watch`: cargo-lambda's watch with our patches) answers as
//! API Gateway and Lambda would where the released watch did not: a function's response that
//! reaches it in more than one read is answered at once, not when the function next writes on
//! that connection; a text body that is not UTF-8 reaches the function base64-encoded; one
//! function's backlog of invocations does not stop the others.

use api_tests::*;
use std::time::{Duration, Instant};

/// A request through the watch's HTTP trigger (`/lambda-url/FUNCTION/`, as a Lambda
/// function URL; the API's routes go the same way), which reads the function's whole answer
/// before it answers.
async fn through_the_watch(function: &str, body: &str) -> String {
    invoke(function, body, Duration::from_secs(20)).await
}

async fn invoke(function: &str, body: &str, timeout: Duration) -> String {
    let url = format!("{}/lambda-url/{function}/", api_url());
    let response = http()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .timeout(timeout)
        .send()
        .await
        .unwrap_or_else(|err| panic!("no answer from {function}: {err}"));
    assert_eq!(response.status(), 200);
    response.text().await.expect("an answer")
}

/// The tests that use split-response-function take turns: one's backlog would hold up the
/// other's timed requests.
static SPLIT_FUNCTION: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_response_whose_body_comes_in_a_later_read_is_answered_at_once() {
    let _turn = SPLIT_FUNCTION.lock().await;
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

#[tokio::test]
async fn a_backlog_of_one_function_does_not_stop_the_others() {
    let _turn = SPLIT_FUNCTION.lock().await;
    through_the_watch("split-response-function", r#"{"n": 0}"#).await;
    // 150 invocations at once, each taking the function over 50 ms: more than the released
    // watch queued for a function (100), after which no function of it answered again.
    let backlog = tokio::spawn(futures::future::join_all((1..=150).map(|n| async move {
        let sent = format!(r#"{{"n": {n}}}"#);
        (
            invoke("split-response-function", &sent, Duration::from_secs(60)).await,
            sent,
        )
    })));
    // Time for the burst to reach the watch; the function has then worked through about 20.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let response = http()
        .get(format!("{}/v1/usage", api_url()))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("another function answers while the backlog waits");
    assert_eq!(response.status(), 401);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered after {:?}",
        started.elapsed()
    );
    for (answer, sent) in backlog.await.expect("the backlog's requests") {
        assert_eq!(answer, sent);
    }
}
