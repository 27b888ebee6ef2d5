//! `DELETE /v1/buckets/{bucket_identifier}/uploads/{upload_id}`: cancels a PENDING or FAILED
//! upload, and deletes its bytes unless `delete_s3_object=false` (204). PROCESSING and
//! COMPLETED uploads are refused (409).

use bucket_uploads::routes::DELETE_UPLOAD;
use bucket_uploads::{ApiError, App, Wiring, http, uploads};
use lambda_http::{Body, Request, Response};

async fn handle(app: App, request: Request) -> Result<Response<Body>, ApiError> {
    let scope = http::scope(&app, &request).await?;
    // Once per Idempotency-Key, when the request carries one.
    http::idempotent(&app, &scope, &request, || async {
        let bucket = http::bucket_identifier(&request, DELETE_UPLOAD)?;
        let upload_id = http::upload_id(&request, DELETE_UPLOAD)?;
        let delete_s3_object = http::query_bool(&request, "delete_s3_object", true)?;
        uploads::delete_upload(&app, &scope, &bucket, &upload_id, delete_s3_object).await?;
        http::no_content()
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::serve(DELETE_UPLOAD, Wiring::shared_only, handle).await
}
