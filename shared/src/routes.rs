//! Every HTTP route of the API, with the function that serves it. `template.yaml`'s HttpApi
//! events and the `cargo lambda watch` router in `Cargo.toml` must list exactly these
//! (a test compares them).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: &'static str,
}

pub const CREATE_UPLOAD: Route = Route {
    method: "POST",
    path: "/v1/buckets/{bucket_identifier}/uploads",
    function: "create-upload",
};
pub const CREATE_UPLOADS_BATCH: Route = Route {
    method: "POST",
    path: "/v1/buckets/{bucket_identifier}/uploads/batch",
    function: "create-uploads-batch",
};

pub const CONFIRM_UPLOADS_BATCH: Route = Route {
    method: "POST",
    path: "/v1/buckets/{bucket_identifier}/uploads/confirm/batch",
    function: "confirm-uploads-batch",
};

pub const GET_UPLOAD: Route = Route {
    method: "GET",
    path: "/v1/buckets/{bucket_identifier}/uploads/{upload_id}",
    function: "get-upload",
};

pub const DELETE_UPLOAD: Route = Route {
    method: "DELETE",
    path: "/v1/buckets/{bucket_identifier}/uploads/{upload_id}",
    function: "delete-upload",
};

pub const CONFIRM_UPLOAD: Route = Route {
    method: "POST",
    path: "/v1/buckets/{bucket_identifier}/uploads/{upload_id}/confirm",
    function: "confirm-upload",
};

/// Part URLs of a multipart upload, and the parts S3 holds (our extension).
pub const UPLOAD_PARTS: Route = Route {
    method: "POST",
    path: "/v1/buckets/{bucket_identifier}/uploads/{upload_id}/parts",
    function: "upload-parts",
};

pub const LIST_UPLOADS: Route = Route {
    method: "POST",
    path: "/v1/buckets/{bucket_identifier}/uploads/list",
    function: "list-uploads",
};

pub const GET_TASK: Route = Route {
    method: "GET",
    path: "/v1/tasks/{task_id}",
    function: "get-task",
};

pub const GET_BATCH: Route = Route {
    method: "GET",
    path: "/v1/buckets/{bucket_identifier}/batches/{batch_id}",
    function: "get-batch",
};

/// The calling tenant's storage usage and quota (our extension).
pub const GET_USAGE: Route = Route {
    method: "GET",
    path: "/v1/usage",
    function: "get-usage",
};

/// The OpenAPI document of the whole API (`shared/openapi.yaml`); no authentication.
pub const GET_OPENAPI: Route = Route {
    method: "GET",
    path: "/openapi.json",
    function: "get-openapi",
};

pub const ALL: &[Route] = &[
    CREATE_UPLOAD,
    CREATE_UPLOADS_BATCH,
    CONFIRM_UPLOADS_BATCH,
    GET_UPLOAD,
    DELETE_UPLOAD,
    CONFIRM_UPLOAD,
    UPLOAD_PARTS,
    LIST_UPLOADS,
    GET_TASK,
    GET_USAGE,
    GET_BATCH,
    GET_OPENAPI,
];

/// API Gateway's `$default` route: every request no route above matches, whatever its method
/// (API Gateway picks the most specific route whose path and method match; the watch router
/// in `Cargo.toml` spells that out path by path).
pub const NOT_FOUND: Route = Route {
    method: "ANY",
    path: "$default",
    function: "route-not-found",
};

/// Functions without a route: the state machine's worker, the TTL stream consumer, the
/// signing key's rotation, auto-confirm (S3's ObjectCreated events, queued) and the stream's
/// event publisher.
pub const WORKERS: &[&str] = &[
    "confirm-worker",
    "expired-uploads",
    "rotate-signing-key",
    "auto-confirm",
    "upload-events",
];
