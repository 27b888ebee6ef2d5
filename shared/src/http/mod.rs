//! The Lambda/HTTP edge shared by every function: parameters parsed into their types, JSON
//! bodies, the operations' errors mapped to statuses and bodies ([`error`]), responses
//! (with List's pagination links, [`list`]), and the request loop with its span. Handlers
//! stay a few lines long.

mod error;
mod idempotent;
mod list;

pub use error::ApiError;
pub use idempotent::{REPLAYED, idempotent};
pub use list::{ListResponse, Pagination};

use crate::app::{App, Wiring};
use crate::auth::{Caller, Scope, authenticate, identify};
use crate::calls::of_service;
use crate::errors::Loc;
use crate::ids::{BatchId, BucketRef, IdKind, TaskId, UploadId};
use crate::routes::Route;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use tracing::Instrument;

/// Runs a function's request loop: logging per `AWS_LAMBDA_LOG_FORMAT`, the app built once
/// with what `uses` adds to it (see [`Wiring`]), one span per request, and every `ApiError`
/// rendered through `ApiError::body`.
pub async fn serve<W, F, Fut>(route: Route, uses: W, handler: F) -> Result<(), lambda_http::Error>
where
    W: FnOnce(Wiring) -> Wiring,
    F: Fn(App, Request) -> Fut + Sync,
    Fut: Future<Output = Result<Response<Body>, ApiError>> + Send,
{
    crate::logging::init();
    let app = uses(Wiring::from_env()?).build();
    let handler = &handler;
    lambda_http::run(service_fn(move |request: Request| {
        let app = app.clone();
        let span = tracing::info_span!(
            "request",
            function = route.function,
            method = %request.method(),
            path = %request.uri().path(),
            status = tracing::field::Empty,
        );
        async move {
            // A container serves one request at a time: what was counted since is this one's.
            app.calls.take();
            let started = std::time::Instant::now();
            let response = handler(app.clone(), request)
                .await
                .unwrap_or_else(|err| error_response(&err));
            let status = response.status().as_u16();
            tracing::Span::current().record("status", status);
            let calls = app.calls.take();
            let (dynamodb_calls, s3_calls) = (of_service(&calls, "DynamoDB"), of_service(&calls, "S3"));
            let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(status, dynamodb_calls, s3_calls, elapsed_ms, "request finished");
            Ok::<_, std::convert::Infallible>(response)
        }
        .instrument(span)
    }))
    .await
}

/// Runs a function that answers every request with the same document: no app, no
/// authentication, one span per request like `serve`.
pub async fn serve_static(
    route: Route,
    content_type: &'static str,
    body: &'static str,
) -> Result<(), lambda_http::Error> {
    crate::logging::init();
    lambda_http::run(service_fn(move |request: Request| {
        let span = tracing::info_span!("request", function = route.function, method = %request.method());
        async move {
            let response = Response::builder()
                .status(200)
                .header("content-type", content_type)
                .header("cache-control", "public, max-age=300")
                .body(Body::from(body))
                .unwrap_or_else(|_| error_response(&ApiError::Internal));
            tracing::info!(status = response.status().as_u16(), "request finished");
            Ok::<_, std::convert::Infallible>(response)
        }
        .instrument(span)
    }))
    .await
}

/// Runs the function behind API Gateway's `$default` route: any method on a path no route
/// serves is a 404 in the contract's envelope, naming what was asked. No authentication:
/// which routes exist is public (`/openapi.json`).
pub async fn serve_route_not_found(route: Route) -> Result<(), lambda_http::Error> {
    crate::logging::init();
    lambda_http::run(service_fn(move |request: Request| {
        let asked = format!("{} {}", request.method(), request.uri().path());
        let span = tracing::info_span!("request", function = route.function, route = %asked);
        async move { Ok::<_, std::convert::Infallible>(error_response(&ApiError::not_found("route", asked))) }
            .instrument(span)
    }))
    .await
}

pub fn json_response(status: u16, body: &impl Serialize) -> Result<Response<Body>, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|err| {
        tracing::error!(error = %err, "response does not serialize");
        ApiError::Internal
    })?;
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(bytes))
        .map_err(|_| ApiError::Internal)
}

/// 204 No Content.
pub fn no_content() -> Result<Response<Body>, ApiError> {
    Response::builder()
        .status(204)
        .body(Body::Empty)
        .map_err(|_| ApiError::Internal)
}

pub fn error_response(err: &ApiError) -> Response<Body> {
    let status = err.status();
    if status >= 500 {
        tracing::error!(status, "request failed");
    } else {
        tracing::info!(status, error = %err, "request rejected");
    }
    let body = serde_json::to_vec(&err.body()).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert("content-type", http::HeaderValue::from_static("application/json"));
    let retry_after = match err {
        // A dependency failed or did not answer in time: worth retrying shortly.
        ApiError::Unavailable => Some(RETRY_AFTER_SECS.to_owned()),
        ApiError::TooManyRequests { retry_after_secs, .. } => Some(retry_after_secs.to_string()),
        // Another request with the same Idempotency-Key is running.
        ApiError::Conflict {
            code: "request_in_progress",
            ..
        } => Some("1".to_owned()),
        _ => None,
    };
    if let Some(value) = retry_after.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

/// What a 503 tells the client to wait before retrying, in seconds.
pub const RETRY_AFTER_SECS: &str = "1";

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Authenticates the caller and resolves its namespace from the request headers.
pub async fn scope(app: &App, request: &Request) -> Result<Scope, ApiError> {
    Ok(authenticate(
        &app.directory,
        header(request, "authorization"),
        header(request, "x-namespace"),
    )
    .await?)
}

/// Authenticates the caller and, when the request names one, resolves its namespace.
pub async fn caller(app: &App, request: &Request) -> Result<Caller, ApiError> {
    Ok(identify(
        &app.directory,
        header(request, "authorization"),
        header(request, "x-namespace"),
    )
    .await?)
}

/// A path parameter: from API Gateway's `pathParameters` when present, otherwise matched
/// from the raw path against the route's template.
fn path_param(request: &Request, route: Route, name: &str) -> Option<String> {
    if let Some(value) = request.path_parameters_ref().and_then(|p| p.first(name)) {
        return Some(value.to_owned());
    }
    let path = request.uri().path();
    let template: Vec<&str> = route.path.trim_matches('/').split('/').collect();
    let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
    let offset = actual.len().checked_sub(template.len())?;
    let wanted = format!("{{{name}}}");
    template
        .iter()
        .position(|segment| *segment == wanted)
        .map(|i| actual[offset + i].to_owned())
}

fn path_error(name: &str, msg: &str) -> ApiError {
    ApiError::invalid(vec![Loc::from("path"), Loc::from(name)], "string_pattern_mismatch", msg)
}

/// `{bucket_identifier}`: a bucket id or a valid bucket name.
pub fn bucket_identifier(request: &Request, route: Route) -> Result<BucketRef, ApiError> {
    let value = path_param(request, route, "bucket_identifier").unwrap_or_default();
    BucketRef::parse(&value)
        .ok_or_else(|| path_error("bucket_identifier", "must be a bucket id (bkt_…) or a bucket name"))
}

/// An id path parameter (`{upload_id}`, `{task_id}`, `{batch_id}`), parsed into its type.
fn id_param<T>(
    request: &Request,
    route: Route,
    name: &str,
    kind: IdKind,
    parse: fn(&str) -> Option<T>,
) -> Result<T, ApiError> {
    let value = path_param(request, route, name).unwrap_or_default();
    parse(&value).ok_or_else(|| {
        path_error(
            name,
            &format!("must be an id of the form {kind}… (26 base-32 characters after the prefix)"),
        )
    })
}

pub fn upload_id(request: &Request, route: Route) -> Result<UploadId, ApiError> {
    id_param(request, route, "upload_id", UploadId::KIND, UploadId::parse)
}

pub fn task_id(request: &Request, route: Route) -> Result<TaskId, ApiError> {
    id_param(request, route, "task_id", TaskId::KIND, TaskId::parse)
}

pub fn batch_id(request: &Request, route: Route) -> Result<BatchId, ApiError> {
    id_param(request, route, "batch_id", BatchId::KIND, BatchId::parse)
}

/// A query parameter's first value.
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_owned)
}

/// A boolean query parameter, read the way pydantic reads one (`true/false/1/0/yes/no/on/off`).
pub fn query_bool(request: &Request, name: &str, default: bool) -> Result<bool, ApiError> {
    let params = request.query_string_parameters_ref();
    let Some(raw) = params.and_then(|p| p.first(name)) else {
        return Ok(default);
    };
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(ApiError::invalid(
            vec![Loc::from("query"), Loc::from(name)],
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret input",
        )),
    }
}

/// The JSON body, `None` when the body is empty. Invalid JSON is a 422 at `["body", <byte offset>]`.
pub fn json_body(request: &Request) -> Result<Option<Value>, ApiError> {
    let bytes = request.body().as_ref();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes).map(Some).map_err(|err| {
        let offset = byte_offset(bytes, err.line(), err.column());
        ApiError::invalid(
            vec![Loc::from("body"), Loc::from(offset)],
            "json_invalid",
            format!("JSON decode error: {err}"),
        )
    })
}

fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = bytes
        .split(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    line_start + column.saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::GET_UPLOAD;

    fn request(path: &str, body: &str) -> Request {
        let mut req = Request::new(Body::from(body.to_owned()));
        *req.uri_mut() = path.parse().unwrap();
        req
    }

    #[test]
    fn path_params_fall_back_to_the_route_template() {
        let req = request("/v1/buckets/media/uploads/upl_01hzx3q5n1v8w6t2k9r4m7p0ab", "");
        assert_eq!(
            bucket_identifier(&req, GET_UPLOAD).unwrap(),
            BucketRef::Name("media".into())
        );
        assert_eq!(
            upload_id(&req, GET_UPLOAD).unwrap().as_str(),
            "upl_01hzx3q5n1v8w6t2k9r4m7p0ab"
        );
        let bad = request("/v1/buckets/bad%20name/uploads/123", "");
        assert_eq!(bucket_identifier(&bad, GET_UPLOAD).unwrap_err().status(), 422);
        assert_eq!(
            upload_id(&bad, GET_UPLOAD).unwrap_err().body()["detail"][0]["loc"],
            serde_json::json!(["path", "upload_id"])
        );
    }

    #[test]
    fn json_bodies() {
        assert_eq!(json_body(&request("/", "  ")).unwrap(), None);
        assert_eq!(
            json_body(&request("/", "{\"a\":1}")).unwrap(),
            Some(serde_json::json!({"a": 1}))
        );
        let err = json_body(&request("/", "{\n \"a\": }")).unwrap_err();
        assert_eq!(err.body()["detail"][0]["type"], "json_invalid");
        assert_eq!(err.body()["detail"][0]["loc"], serde_json::json!(["body", 8]));
    }
}
