//! API Gateway's `$default` route: a path no route serves, or a method the path does not
//! have, answers 404 in the contract's envelope rather than API Gateway's own
//! `{"message":"Not Found"}`.

use bucket_uploads::http;
use bucket_uploads::routes::NOT_FOUND;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::serve_route_not_found(NOT_FOUND).await
}
