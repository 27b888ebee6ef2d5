//! `GET /v1/usage` (our extension): the calling tenant's storage usage and quota.
//! `X-Namespace` is optional: usage belongs to the tenant.

use bucket_uploads::routes::GET_USAGE;
use bucket_uploads::{ApiError, App, Wiring, http, usage};
use lambda_http::{Body, Request, Response};

async fn handle(app: App, request: Request) -> Result<Response<Body>, ApiError> {
    let caller = http::caller(&app, &request).await?;
    let usage = usage::tenant_usage(&app, &caller).await?;
    http::json_response(200, &usage)
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::serve(GET_USAGE, Wiring::shared_only, handle).await
}
