//! `GET /v1/buckets/{bucket_identifier}/uploads/{upload_id}`: reads one upload, optionally
//! with a fresh presigned download URL (`return_presigned_urls=true`).

use bucket_uploads::routes::GET_UPLOAD;
use bucket_uploads::{ApiError, App, Wiring, http, uploads};
use lambda_http::{Body, Request, Response};

async fn handle(app: App, request: Request) -> Result<Response<Body>, ApiError> {
    let scope = http::scope(&app, &request).await?;
    let bucket = http::bucket_identifier(&request, GET_UPLOAD)?;
    let upload_id = http::upload_id(&request, GET_UPLOAD)?;
    let with_url = http::query_bool(&request, "return_presigned_urls", false)?;
    let upload = uploads::get_upload(&app, &scope, &bucket, &upload_id, with_url).await?;
    http::json_response(200, &upload)
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::serve(GET_UPLOAD, Wiring::signing_urls, handle).await
}
