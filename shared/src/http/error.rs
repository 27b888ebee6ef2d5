//! The one place that maps the operations' errors to HTTP statuses and bodies.
//!
//! Each operation returns its own error ([`ConfirmError`], [`DeleteError`], …); here they
//! become an [`ApiError`], the response a client reads. Client errors use the contract's envelope
//! `{"success": false, "status", "error": {"message", "type", "code", "details"}}`.
//! Request-shape errors (422) carry FastAPI's `{"detail": [{"loc", "msg", "type"}]}`, which
//! the seeds declare, *and* the envelope (`type: ValidationError`, the same list under
//! `details.errors`), which Mixpeek's SDK parses every error body as.
//! Server-side failures never echo their cause: it is logged, and the body is generic.

use crate::auth::AuthError;
use crate::confirm::ConfirmError;
use crate::errors::{Failure, FieldError, Invalid, Loc, NotFound, RequestError};
use crate::listing::{ListError, TooBroad};
use crate::quota::QuotaExceeded;
use crate::rate_limit::RateLimit;
use crate::tenancy::TenancyError;
use crate::uploads::{DeleteError, ReadError};
use serde_json::{Value, json};

/// An error as a client receives it: a status and a body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("{resource} not found: {id}")]
    NotFound { resource: &'static str, id: String },
    #[error("request validation failed")]
    Validation(Vec<FieldError>),
    #[error("bad request: {message}")]
    BadRequest {
        message: String,
        code: Option<&'static str>,
        details: Option<Value>,
    },
    /// The request conflicts with the resource's state (409).
    #[error("conflict: {message}")]
    Conflict {
        message: String,
        code: &'static str,
        details: Option<Value>,
    },
    /// The tenant's quota has no room for the request (403).
    #[error("quota exceeded: {0}")]
    OverQuota(QuotaExceeded),
    /// The key used up its requests-per-second allowance (429).
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64, limit: RateLimit },
    /// A dependency is throttling or unreachable: worth retrying.
    #[error("service unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        ApiError::NotFound {
            resource,
            id: id.into(),
        }
    }

    pub fn invalid(loc: Vec<Loc>, kind: &str, msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(loc, kind, msg)])
    }

    fn bad_request(message: String, code: &'static str, details: Value) -> Self {
        ApiError::BadRequest {
            message,
            code: Some(code),
            details: Some(details),
        }
    }

    /// The message a client reads in `error.message`.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest { message, .. } | ApiError::Conflict { message, .. } => message.clone(),
            ApiError::OverQuota(exceeded) => exceeded.to_string(),
            ApiError::Unauthorized(message) => (*message).to_owned(),
            other => other.to_string(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::Unauthorized(_) => 401,
            ApiError::NotFound { .. } => 404,
            ApiError::Validation(_) => 422,
            ApiError::BadRequest { .. } => 400,
            ApiError::Conflict { .. } => 409,
            ApiError::OverQuota(_) => 403,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::Unavailable => 503,
            ApiError::Internal => 500,
        }
    }

    pub fn body(&self) -> Value {
        let status = self.status();
        let (message, kind, code, details): (String, &str, Option<&str>, Option<Value>) = match self {
            ApiError::Validation(errors) => {
                return json!({
                    "detail": errors,
                    "success": false,
                    "status": status,
                    "error": {
                        "message": validation_summary(errors),
                        "type": "ValidationError",
                        "code": null,
                        "details": { "errors": errors },
                    },
                });
            }
            ApiError::Unauthorized(message) => (
                (*message).to_owned(),
                "UnauthorizedError",
                Some("invalid_api_key"),
                None,
            ),
            ApiError::NotFound { resource, id } => (
                NotFound::new(resource, id).message(),
                "NotFoundError",
                None,
                Some(json!({ "resource": resource, "id": id })),
            ),
            ApiError::BadRequest { message, code, details } => {
                (message.clone(), "BadRequestError", *code, details.clone())
            }
            ApiError::Conflict { message, code, details } => {
                (message.clone(), "ConflictError", Some(*code), details.clone())
            }
            ApiError::OverQuota(exceeded) => {
                let details = match exceeded {
                    QuotaExceeded::Storage {
                        max_bytes,
                        bytes_used,
                        requested_bytes,
                    } => json!({
                        "max_bytes": max_bytes,
                        "bytes_used": bytes_used,
                        "requested_bytes": requested_bytes,
                    }),
                    QuotaExceeded::PendingUploads {
                        max_pending_uploads,
                        pending_uploads,
                        requested,
                    } => json!({
                        "max_pending_uploads": max_pending_uploads,
                        "pending_uploads": pending_uploads,
                        "requested": requested,
                    }),
                };
                (
                    exceeded.to_string(),
                    "ForbiddenError",
                    Some(exceeded.code()),
                    Some(details),
                )
            }
            ApiError::TooManyRequests {
                retry_after_secs,
                limit,
            } => (
                format!(
                    "Too many requests for this API key: at most {} a second (bursts of {}). Retry after {retry_after_secs} s.",
                    limit.per_second, limit.burst
                ),
                "TooManyRequestsError",
                Some("rate_limited"),
                Some(json!({
                    "limit_per_second": limit.per_second,
                    "burst": limit.burst,
                    "retry_after_seconds": retry_after_secs,
                })),
            ),
            ApiError::Unavailable => (
                "The service is temporarily unavailable, please retry".to_owned(),
                "ServiceUnavailableError",
                None,
                None,
            ),
            ApiError::Internal => ("Internal server error".to_owned(), "InternalServerError", None, None),
        };
        json!({
            "success": false,
            "status": status,
            "error": { "message": message, "type": kind, "code": code, "details": details },
        })
    }
}

/// `Request validation failed: body.filename: Field required; …`
fn validation_summary(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let loc: Vec<String> = e
                .loc
                .iter()
                .map(|l| match l {
                    Loc::Field(f) => f.clone(),
                    Loc::Index(i) => i.to_string(),
                })
                .collect();
            format!("{}: {}", loc.join("."), e.msg)
        })
        .collect();
    format!("Request validation failed: {}", parts.join("; "))
}

const UNAUTHORIZED: &str = "Invalid or missing API key. Send 'Authorization: Bearer sk_…'.";

impl From<Invalid> for ApiError {
    fn from(Invalid(errors): Invalid) -> Self {
        ApiError::Validation(errors)
    }
}

impl From<NotFound> for ApiError {
    fn from(NotFound { resource, id }: NotFound) -> Self {
        ApiError::NotFound { resource, id }
    }
}

impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Unavailable => ApiError::Unavailable,
            Failure::Bug(_) => ApiError::Internal,
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Unauthorized => ApiError::Unauthorized(UNAUTHORIZED),
            AuthError::NamespaceRequired => ApiError::invalid(
                vec![Loc::from("header"), Loc::from("x-namespace")],
                "missing",
                "Field required",
            ),
            AuthError::NamespaceNotFound(not_found) => not_found.into(),
            AuthError::RateLimited { retry_after, limit } => ApiError::TooManyRequests {
                // Whole seconds, rounded up: a client that waits that long finds a token.
                retry_after_secs: retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0),
                limit,
            },
            AuthError::Failure(failure) => failure.into(),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::NotFound(not_found) => not_found.into(),
            ReadError::Failure(failure) => failure.into(),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(err: RequestError) -> Self {
        match err {
            RequestError::Invalid(invalid) => invalid.into(),
            RequestError::NotFound(not_found) => not_found.into(),
            RequestError::OverQuota(exceeded) => ApiError::OverQuota(exceeded),
            RequestError::Failure(failure) => failure.into(),
        }
    }
}

impl From<ListError> for ApiError {
    fn from(err: ListError) -> Self {
        match err {
            ListError::Request(err) => err.into(),
            ListError::TooBroad(too_broad) => {
                let details = match &too_broad {
                    TooBroad::Filter { in_scope, cap } => {
                        json!({ "max_items_read": cap, "uploads_in_scope": in_scope })
                    }
                    TooBroad::Offset { offset, limit, cap } => {
                        json!({ "max_items_read": cap, "offset": offset, "limit": limit })
                    }
                };
                ApiError::bad_request(too_broad.to_string(), "list_too_broad", details)
            }
        }
    }
}

impl From<DeleteError> for ApiError {
    fn from(err: DeleteError) -> Self {
        match err {
            DeleteError::NotFound(not_found) => not_found.into(),
            DeleteError::NotDeletable { upload_id, status } => ApiError::Conflict {
                message: format!("The upload is {status} and cannot be deleted: only PENDING and FAILED uploads can."),
                code: "upload_not_deletable",
                details: Some(json!({ "upload_id": upload_id, "status": status })),
            },
            DeleteError::Failure(failure) => failure.into(),
        }
    }
}

impl From<ConfirmError> for ApiError {
    fn from(err: ConfirmError) -> Self {
        let (message, code) = (err.to_string(), err.code());
        let details = match err {
            ConfirmError::Invalid(invalid) => return invalid.into(),
            ConfirmError::NotFound(not_found) => return not_found.into(),
            ConfirmError::Failure(failure) => return failure.into(),
            ConfirmError::OverQuota(exceeded) => return ApiError::OverQuota(exceeded),
            ConfirmError::NotUploaded { upload_id, s3_key } => json!({ "upload_id": upload_id, "s3_key": s3_key }),
            ConfirmError::Mismatch(mismatch) => {
                json!({ "field": mismatch.field(), "expected": mismatch.expected(), "actual": mismatch.actual() })
            }
            ConfirmError::TooLarge { max, actual } => json!({ "max_file_size_bytes": max, "actual": actual }),
            ConfirmError::Expired { upload_id, expires_at } => {
                json!({ "upload_id": upload_id, "expires_at": expires_at })
            }
            ConfirmError::Failed { upload_id, .. } => json!({ "upload_id": upload_id }),
            ConfirmError::NotPending { upload_id, status } => json!({ "upload_id": upload_id, "status": status }),
            ConfirmError::PartsMissing {
                upload_id,
                missing,
                part_count,
            } => json!({ "upload_id": upload_id, "missing_parts": missing, "part_count": part_count }),
            ConfirmError::PartsRefused { upload_id, .. } => json!({ "upload_id": upload_id }),
            // Only the worker sees it; should it escape, the client retries.
            ConfirmError::Unfinished => return Failure::Unavailable.into(),
        };
        ApiError::bad_request(message, code, details)
    }
}

impl From<TenancyError> for ApiError {
    fn from(err: TenancyError) -> Self {
        let message = err.to_string();
        match err {
            TenancyError::Invalid(invalid) => invalid.into(),
            TenancyError::NotFound(not_found) => not_found.into(),
            TenancyError::NameTaken { resource, name } => {
                let code = if resource == "bucket" {
                    "bucket_name_taken"
                } else {
                    "namespace_name_taken"
                };
                ApiError::bad_request(message, code, json!({ "name": name }))
            }
            TenancyError::NotEmpty { resource, id, holds } => ApiError::Conflict {
                message,
                code: if resource == "bucket" {
                    "bucket_not_empty"
                } else {
                    "namespace_not_empty"
                },
                details: Some(json!({ "resource": resource, "id": id, "holds": holds })),
            },
            TenancyError::Failure(failure) => failure.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_uses_the_contract_envelope() {
        let body = ApiError::not_found("namespace", "ns_123").body();
        assert_eq!(
            body,
            json!({
                "success": false,
                "status": 404,
                "error": {
                    "message": "Namespace not found",
                    "type": "NotFoundError",
                    "code": null,
                    "details": { "resource": "namespace", "id": "ns_123" }
                }
            })
        );
    }

    #[test]
    fn validation_errors_are_a_detail_list_inside_the_envelope() {
        let err = ApiError::invalid(vec!["body".into(), "filename".into()], "missing", "Field required");
        assert_eq!(err.status(), 422);
        let entry = json!({ "loc": ["body", "filename"], "msg": "Field required", "type": "missing" });
        assert_eq!(
            err.body(),
            json!({
                "detail": [entry],
                "success": false,
                "status": 422,
                "error": {
                    "message": "Request validation failed: body.filename: Field required",
                    "type": "ValidationError",
                    "code": null,
                    "details": { "errors": [entry] }
                }
            })
        );
    }

    #[test]
    fn server_errors_do_not_leak_causes() {
        let body = ApiError::Internal.body();
        assert_eq!(body["status"], 500);
        assert_eq!(body["error"]["message"], "Internal server error");
    }
}
