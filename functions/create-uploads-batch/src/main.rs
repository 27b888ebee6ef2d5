//! `POST /v1/buckets/{bucket_identifier}/uploads/batch`: up to 100 uploads in one request,
//! validated all or nothing, safe to retry (200 `{uploads, total}`).

use bucket_uploads::routes::CREATE_UPLOADS_BATCH;
use bucket_uploads::{ApiError, App, Wiring, http, uploads};
use lambda_http::{Body, Request, Response};

async fn handle(app: App, request: Request) -> Result<Response<Body>, ApiError> {
    let scope = http::scope(&app, &request).await?;
    // Once per Idempotency-Key, when the request carries one.
    http::idempotent(&app, &scope, &request, || async {
        let bucket = http::bucket_identifier(&request, CREATE_UPLOADS_BATCH)?;
        let body = http::json_body(&request)?;
        let created = uploads::create_uploads_batch(&app, &scope, &bucket, body.as_ref()).await?;
        http::json_response(200, &created)
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::serve(CREATE_UPLOADS_BATCH, Wiring::signing_urls, handle).await
}
