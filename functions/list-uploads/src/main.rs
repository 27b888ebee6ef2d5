//! `POST /v1/buckets/{bucket_identifier}/uploads/list`: filters, sorts, searches and pages a
//! bucket's uploads, with stats over every match.

use bucket_uploads::query::PageParams;
use bucket_uploads::routes::LIST_UPLOADS;
use bucket_uploads::{ApiError, App, Wiring, http, listing};
use lambda_http::{Body, Request, Response};

async fn handle(app: App, request: Request) -> Result<Response<Body>, ApiError> {
    let scope = http::scope(&app, &request).await?;
    let bucket = http::bucket_identifier(&request, LIST_UPLOADS)?;
    let (limit, offset) = (
        http::query_param(&request, "limit"),
        http::query_param(&request, "offset"),
    );
    let page = PageParams {
        limit: limit.as_deref(),
        offset: offset.as_deref(),
    };
    let body = http::json_body(&request)?;
    let listed = listing::list_uploads(&app, &scope, &bucket, body.as_ref(), page).await?;
    http::json_response(200, &http::ListResponse::new(listed, &bucket))
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::serve(LIST_UPLOADS, Wiring::signing_urls, handle).await
}
