//! `POST /v1/buckets/{bucket_identifier}/uploads/{upload_id}/confirm`: verifies the uploaded
//! object, records it, creates its bucket object and detects duplicates — exactly once.

use bucket_uploads::routes::CONFIRM_UPLOAD;
use bucket_uploads::{ApiError, App, Wiring, confirm, http};
use lambda_http::{Body, Request, Response};

async fn handle(app: App, request: Request) -> Result<Response<Body>, ApiError> {
    let scope = http::scope(&app, &request).await?;
    // Once per Idempotency-Key, when the request carries one.
    http::idempotent(&app, &scope, &request, || async {
        let bucket = http::bucket_identifier(&request, CONFIRM_UPLOAD)?;
        let upload_id = http::upload_id(&request, CONFIRM_UPLOAD)?;
        let run_async = http::query_bool(&request, "async", false)?;
        let body = http::json_body(&request)?;
        let confirmed = confirm::confirm_upload(&app, &scope, &bucket, &upload_id, body.as_ref(), run_async).await?;
        http::json_response(200, &confirmed)
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::serve(CONFIRM_UPLOAD, Wiring::starting_workers, handle).await
}
