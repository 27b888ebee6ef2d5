//! `POST /v1/buckets/{bucket_identifier}/uploads`: creates a PENDING upload and returns it
//! with a presigned PUT URL, or a completed duplicate when the bucket already holds the
//! declared bytes (200, as Mixpeek's SDK expects).

use bucket_uploads::routes::CREATE_UPLOAD;
use bucket_uploads::{ApiError, App, Wiring, http, uploads};
use lambda_http::{Body, Request, Response};

async fn handle(app: App, request: Request) -> Result<Response<Body>, ApiError> {
    let scope = http::scope(&app, &request).await?;
    // Once per Idempotency-Key, when the request carries one.
    http::idempotent(&app, &scope, &request, || async {
        let bucket = http::bucket_identifier(&request, CREATE_UPLOAD)?;
        let body = http::json_body(&request)?;
        let upload = uploads::create_upload(&app, &scope, &bucket, body.as_ref()).await?;
        http::json_response(200, &upload)
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::serve(CREATE_UPLOAD, Wiring::signing_urls, handle).await
}
