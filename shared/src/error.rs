//! The API's errors and the one place that maps them to HTTP statuses and bodies.
//!
//! Client errors use the contract's envelope
//! `{"success": false, "status", "error": {"message", "type", "code", "details"}}`.
//! Request-shape errors (422) carry FastAPI's `{"detail": [{"loc", "msg", "type"}]}`, which
//! the seeds declare, *and* the envelope (`type: ValidationError`, the same list under
//! `details.errors`), which Mixpeek's SDK parses every error body as.
//! Server-side failures never echo their cause: it is logged, and the body is generic.

use serde::Serialize;
use serde_json::{Value, json};

/// One segment of a validation error location: a field name or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Loc {
    Field(String),
    Index(usize),
}

impl From<&str> for Loc {
    fn from(s: &str) -> Self {
        Loc::Field(s.to_owned())
    }
}

impl From<String> for Loc {
    fn from(s: String) -> Self {
        Loc::Field(s)
    }
}

impl From<usize> for Loc {
    fn from(i: usize) -> Self {
        Loc::Index(i)
    }
}

/// One entry of an `HTTPValidationError` detail list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub loc: Vec<Loc>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    pub fn new(loc: Vec<Loc>, kind: &str, msg: impl Into<String>) -> Self {
        Self {
            loc,
            msg: msg.into(),
            kind: kind.to_owned(),
        }
    }
}

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

    /// The message a client reads in `error.message`.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest { message, .. } | ApiError::Conflict { message, .. } => message.clone(),
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
                format!("{} not found", capitalize(resource)),
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

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
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
