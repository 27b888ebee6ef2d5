//! The `Idempotency-Key` header on the writes ([`crate::idempotency`]): claim the key, run
//! the request once, keep its answer, replay it to the same request, refuse another one.

use super::{ApiError, error_response};
use crate::app::App;
use crate::auth::Scope;
use crate::errors::Loc;
use crate::idempotency::{IdempotencyKey, IdempotencyRecord, Seen, StoredAnswer, fingerprint, keeps};
use crate::store::Claim;
use crate::time::Timestamp;
use base64::Engine;
use lambda_http::{Body, Request, Response};
use std::future::Future;

/// The header a replayed answer carries (Stripe's name).
pub const REPLAYED: &str = "idempotent-replayed";

/// Runs `execute` for `request`, once per `Idempotency-Key` when it carries one: a repeat of
/// the same request gets the first answer again; another request with the key, 422; a repeat
/// while the first still runs, 409 with Retry-After.
pub async fn idempotent<F, Fut>(
    app: &App,
    scope: &Scope,
    request: &Request,
    execute: F,
) -> Result<Response<Body>, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let Some(raw) = request.headers().get("idempotency-key") else {
        return execute().await;
    };
    let loc = || vec![Loc::from("header"), Loc::from("Idempotency-Key")];
    let key = raw
        .to_str()
        .map_err(|_| "Idempotency-Key is visible ASCII".to_owned())
        .and_then(IdempotencyKey::parse)
        .map_err(|msg| ApiError::invalid(loc(), "value_error", msg))?;
    let pk = key.record_key(&scope.key_id);
    let path = request.uri().path_and_query().map_or("", |p| p.as_str());
    let now = Timestamp::now();
    let claim = IdempotencyRecord::claim(
        fingerprint(request.method().as_str(), path, request.body().as_ref()),
        now,
    );
    match app.store.claim_idempotency_key(&pk, &claim, now).await? {
        Claim::Claimed => {}
        Claim::Held(None) => return Err(in_progress()),
        Claim::Held(Some(held)) => {
            return match held.seen_by(&claim.fingerprint) {
                Seen::Replay(answer) => replay(&answer),
                Seen::InProgress => Err(in_progress()),
                Seen::Reused => Err(ApiError::invalid(
                    loc(),
                    "idempotency_key_reused",
                    "This Idempotency-Key was used for another request (method, path or body); use a new key",
                )),
            };
        }
    }
    let response = execute().await.unwrap_or_else(|err| error_response(&err));
    let status = response.status().as_u16();
    let settled = if keeps(status) {
        claim.answered(stored(&response))
    } else {
        claim.released(Timestamp::now())
    };
    // The request ran: its answer goes out whether or not it could be kept (a retry then
    // finds the claim, 409, until it expires).
    if let Err(err) = app.store.settle_idempotency_key(&pk, &settled).await {
        tracing::warn!(error = %err, "an idempotent request's answer was not kept");
    }
    Ok(response)
}

fn in_progress() -> ApiError {
    ApiError::Conflict {
        message: "A request with this Idempotency-Key is still being processed; retry shortly".into(),
        code: "request_in_progress",
        details: None,
    }
}

fn stored(response: &Response<Body>) -> StoredAnswer {
    StoredAnswer {
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: base64::engine::general_purpose::STANDARD.encode(response.body().as_ref()),
    }
}

fn replay(answer: &StoredAnswer) -> Result<Response<Body>, ApiError> {
    let body = base64::engine::general_purpose::STANDARD
        .decode(&answer.body)
        .map_err(|_| ApiError::Internal)?;
    let mut response = Response::builder().status(answer.status).header(REPLAYED, "true");
    if let Some(content_type) = &answer.content_type {
        response = response.header("content-type", content_type);
    }
    let body = if body.is_empty() { Body::Empty } else { Body::from(body) };
    response.body(body).map_err(|_| ApiError::Internal)
}
