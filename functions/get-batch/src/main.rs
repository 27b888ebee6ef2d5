//! `GET /v1/buckets/{bucket_identifier}/batches/{batch_id}`: a batch and its status.

use bucket_uploads::routes::GET_BATCH;
use bucket_uploads::{ApiError, App, Wiring, http, uploads};
use lambda_http::{Body, Request, Response};

async fn handle(app: App, request: Request) -> Result<Response<Body>, ApiError> {
    let scope = http::scope(&app, &request).await?;
    let bucket = http::bucket_identifier(&request, GET_BATCH)?;
    let batch_id = http::batch_id(&request, GET_BATCH)?;
    let batch = uploads::get_batch(&app, &scope, &bucket, &batch_id).await?;
    http::json_response(200, &batch.view())
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::serve(GET_BATCH, Wiring::shared_only, handle).await
}
