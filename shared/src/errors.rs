//! What every operation's error is built from: a request that does not validate
//! ([`Invalid`]), something the caller cannot see ([`NotFound`]), and a dependency that
//! failed ([`Failure`]). Each operation has its own error enum (e.g.
//! [`crate::confirm::ConfirmError`]); the HTTP edge ([`crate::http`]) maps each to a status
//! and body in one place, and the worker maps confirmation errors to retry decisions.

use serde::Serialize;

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

/// One problem with a request: where (`loc`), what (`msg`) and its pydantic-style `type`.
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

/// A request that does not validate: every problem found, at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request validation failed")]
pub struct Invalid(pub Vec<FieldError>);

impl Invalid {
    pub fn at(loc: Vec<Loc>, kind: &str, msg: impl Into<String>) -> Self {
        Invalid(vec![FieldError::new(loc, kind, msg)])
    }
}

/// A resource the caller cannot see, whether or not it exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{resource} not found: {id}")]
pub struct NotFound {
    pub resource: &'static str,
    pub id: String,
}

impl NotFound {
    pub fn new(resource: &'static str, id: impl std::fmt::Display) -> Self {
        Self {
            resource,
            id: id.to_string(),
        }
    }

    /// What a client reads: `Upload not found` (never whether it exists elsewhere).
    pub fn message(&self) -> String {
        let mut chars = self.resource.chars();
        let resource: String = match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        };
        format!("{resource} not found")
    }
}

/// The error of an operation on something a request names, with a body to validate
/// (create, list): the body is invalid, the caller cannot see what it names, the tenant's
/// quota has no room, or a dependency failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// The tenant's quota has no room for what the request would create.
    #[error(transparent)]
    OverQuota(#[from] crate::quota::QuotaExceeded),
    #[error(transparent)]
    Failure(#[from] Failure),
}

/// A dependency (DynamoDB, S3, Step Functions) failed, or the code met a state it cannot
/// handle. The cause is logged where it happened and never shown to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Throttling, timeouts, unreachable, 5xx: worth retrying.
    #[error("a dependency is unavailable")]
    Unavailable,
    /// A request built wrongly, a stored record that does not parse, an impossible state:
    /// retrying cannot help.
    #[error("bug: {0}")]
    Bug(String),
}

impl Failure {
    /// Logs a bug with what it is about and returns it.
    pub fn bug(what: impl Into<String>) -> Self {
        let what = what.into();
        tracing::error!(bug = %what, "internal error");
        Failure::Bug(what)
    }
}
