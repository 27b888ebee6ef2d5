//! `GET /v1/tasks/{task_id}`: an asynchronous operation's status, inputs and outputs.
//! `X-Namespace` is optional here (Mixpeek's SDK sends none): without it, any task of the
//! caller's tenant is visible.

use bucket_uploads::routes::GET_TASK;
use bucket_uploads::{ApiError, App, Wiring, http, uploads};
use lambda_http::{Body, Request, Response};

async fn handle(app: App, request: Request) -> Result<Response<Body>, ApiError> {
    let caller = http::caller(&app, &request).await?;
    let task_id = http::task_id(&request, GET_TASK)?;
    let task = uploads::get_task(&app, &caller, &task_id).await?;
    http::json_response(200, &task.view())
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::serve(GET_TASK, Wiring::shared_only, handle).await
}
