//! `POST /v1/buckets/{bucket_identifier}/uploads/{upload_id}/parts` (our extension): URLs for
//! the parts of a multipart upload named in `part_numbers` (each signing the part's exact
//! size, and its SHA-256 when `checksums_sha256` gives it), and the parts S3 already holds,
//! for resuming.

use bucket_uploads::routes::UPLOAD_PARTS;
use bucket_uploads::{ApiError, App, Wiring, http, uploads};
use lambda_http::{Body, Request, Response};

async fn handle(app: App, request: Request) -> Result<Response<Body>, ApiError> {
    let scope = http::scope(&app, &request).await?;
    let bucket = http::bucket_identifier(&request, UPLOAD_PARTS)?;
    let upload_id = http::upload_id(&request, UPLOAD_PARTS)?;
    let body = http::json_body(&request)?;
    let parts = uploads::request_parts(&app, &scope, &bucket, &upload_id, body.as_ref()).await?;
    http::json_response(200, &parts)
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::serve(UPLOAD_PARTS, Wiring::signing_urls, handle).await
}
