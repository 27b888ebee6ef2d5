//! Requests no route serves get the API's own 404 in the contract's envelope, as API
//! Gateway's `$default` route gives them to `route-not-found`; requests a route does serve
//! go where API Gateway sends them, whatever path segment a parameter matches.

use api_tests::*;
use reqwest::Method;

async fn expect_route_not_found(response: reqwest::Response, asked: &str) {
    let envelope = expect_error(response, 404, "NotFoundError").await;
    assert_eq!(envelope["error"]["message"], "Route not found", "{envelope}");
    assert_eq!(envelope["error"]["details"]["id"], asked, "{envelope}");
}

#[tokio::test]
async fn a_path_no_route_serves_is_our_404() {
    let client = http();
    for path in [
        "/",
        "/nope",
        "/v1",
        "/v1/buckets/photos",
        "/v1/usage/extra",
        "/v1/buckets/b/uploads/u/confirm/x",
    ] {
        let response = client.get(format!("{}{path}", api_url())).send().await.unwrap();
        expect_route_not_found(response, &format!("GET {path}")).await;
    }
}

#[tokio::test]
async fn a_method_a_path_does_not_have_is_our_404() {
    let tenant = Tenant::new().await;
    let upload = format!("{}/upl_00000000000000000000000000", tenant.uploads_path());
    let cases = [
        (Method::PUT, upload.clone()),
        (Method::POST, upload.clone()),
        (Method::PATCH, tenant.uploads_path()),
        (Method::DELETE, "/v1/usage".to_owned()),
        (Method::POST, "/openapi.json".to_owned()),
    ];
    for (method, path) in cases {
        let response = tenant.request(method.clone(), &path).send().await.unwrap();
        expect_route_not_found(response, &format!("{method} {path}")).await;
    }
    // HEAD gets the status alone.
    let head = tenant.request(Method::HEAD, "/openapi.json").send().await.unwrap();
    assert_eq!(head.status(), 404);
}

/// The HttpApi has no CORS configuration, so API Gateway routes OPTIONS like any method.
#[tokio::test]
async fn options_is_routed_like_any_method() {
    let tenant = Tenant::new().await;
    let response = tenant.request(Method::OPTIONS, "/v1/usage").send().await.unwrap();
    expect_route_not_found(response, "OPTIONS /v1/usage").await;
}

/// `GET …/uploads/list` matches `GET …/uploads/{upload_id}` with the id "list", as in API
/// Gateway: get-upload refuses the id.
#[tokio::test]
async fn a_literal_segment_a_parameter_matches_goes_to_the_parameters_route() {
    let tenant = Tenant::new().await;
    let response = tenant
        .request(Method::GET, &format!("{}/list", tenant.uploads_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_validation(response).await,
        vec![serde_json::json!(["path", "upload_id"])]
    );
}
