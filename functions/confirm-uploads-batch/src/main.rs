//! `POST /v1/buckets/{bucket_identifier}/uploads/confirm/batch`: records a batch
//! confirmation task for the worker and answers at once (200 `BatchConfirmResponse`).

use bucket_uploads::confirm::batch::{BatchConfirmResponse, confirm_uploads_batch};
use bucket_uploads::routes::CONFIRM_UPLOADS_BATCH;
use bucket_uploads::{ApiError, App, Wiring, http};
use lambda_http::{Body, Request, Response};

async fn handle(app: App, request: Request) -> Result<Response<Body>, ApiError> {
    let scope = http::scope(&app, &request).await?;
    // Once per Idempotency-Key, when the request carries one.
    http::idempotent(&app, &scope, &request, || async {
        let bucket = http::bucket_identifier(&request, CONFIRM_UPLOADS_BATCH)?;
        let body = http::json_body(&request)?;
        let task = confirm_uploads_batch(&app, &scope, &bucket, body.as_ref()).await?;
        http::json_response(200, &BatchConfirmResponse::new(&task))
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::serve(CONFIRM_UPLOADS_BATCH, Wiring::starting_workers, handle).await
}
