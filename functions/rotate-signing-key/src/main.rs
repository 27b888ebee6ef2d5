//! Secrets Manager's rotation function for the signing identity's access key: each of the
//! four steps (`bucket_uploads::signing`) in one invocation. An error fails the step; Secrets
//! Manager retries it, and the template's alarm reports the function's errors.
//!
//! `UPLOADS_SIGNING_USER`: the IAM user; `UPLOADS_SIGNING_MIN_KEY_AGE_SECS`: how long a key
//! must have been current before the one it replaced may be deleted (the longest URL plus
//! the functions' refresh interval).

use bucket_uploads::signing::{Rotation, RotationEvent};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use std::time::Duration;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    bucket_uploads::logging::init();
    let user = std::env::var("UPLOADS_SIGNING_USER").map_err(|_| "UPLOADS_SIGNING_USER is not set")?;
    let min_key_age = std::env::var("UPLOADS_SIGNING_MIN_KEY_AGE_SECS")
        .map_err(|_| "UPLOADS_SIGNING_MIN_KEY_AGE_SECS is not set")?
        .parse()
        .map_err(|_| "UPLOADS_SIGNING_MIN_KEY_AGE_SECS is not a number of seconds")?;
    let rotation = Rotation::new(
        &bucket_uploads::aws::function_sdk_config(),
        user,
        Duration::from_secs(min_key_age),
    );
    let rotation = &rotation;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<RotationEvent>| async move {
        let span = tracing::info_span!("rotation", step = %event.payload.step);
        rotation.run(&event.payload).instrument(span).await.map_err(|err| {
            tracing::error!(error_type = err.error_type(), error = %err, "rotation step failed");
            Diagnostic {
                error_type: err.error_type().to_owned(),
                error_message: err.to_string(),
            }
        })
    }))
    .await
}
