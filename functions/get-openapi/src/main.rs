//! `GET /openapi.json`: the OpenAPI document of the whole API (`shared/openapi.yaml`, as
//! JSON). No authentication: it describes the API, not a tenant's data.

use bucket_uploads::http;
use bucket_uploads::routes::GET_OPENAPI;

const DOCUMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::serve_static(GET_OPENAPI, "application/json", DOCUMENT).await
}
