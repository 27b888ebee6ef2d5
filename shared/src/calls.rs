//! Counting the AWS calls a request makes: an SDK interceptor installed on every client the
//! app builds. Each request's log line reports its counts, and the benchmarks read them.
//!
//! A call is counted when its response arrived (every attempt, retries included); presigning
//! builds a request without sending it, so it counts nothing. An attempt that takes
//! [`SLOW_ATTEMPT`] or more is logged with its service and operation, so that a stalled
//! dependency shows by name, not only as a slow request.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Calls take milliseconds; an attempt this slow is worth a log line.
pub const SLOW_ATTEMPT: Duration = Duration::from_secs(5);

/// When the attempt under way was sent.
#[derive(Debug, Clone, Copy)]
struct AttemptSent(Instant);

impl Storable for AttemptSent {
    type Storer = StoreReplace<Self>;
}

/// Calls made, by service (`DynamoDB`, `S3`, …) and operation (`GetItem`, …).
pub type Tally = BTreeMap<(String, String), u64>;

#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    tally: Arc<Mutex<Tally>>,
}

impl CallCounter {
    /// The calls counted since the last `take`, and a fresh start.
    pub fn take(&self) -> Tally {
        std::mem::take(&mut *self.tally.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Calls of one service in a tally.
pub fn of_service(tally: &Tally, service: &str) -> u64 {
    tally.iter().filter(|((s, _), _)| s == service).map(|(_, n)| n).sum()
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(AttemptSent(Instant::now()));
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = names(cfg);
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        *tally.entry((service.to_owned(), operation.to_owned())).or_default() += 1;
        Ok(())
    }

    /// Also after attempts that failed or timed out without a response.
    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(AttemptSent(sent)) = cfg.load::<AttemptSent>().copied() else {
            return Ok(());
        };
        let elapsed = sent.elapsed();
        if elapsed >= SLOW_ATTEMPT {
            let (service, operation) = names(cfg);
            let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
            let status = context.response().map(|response| response.status().as_u16());
            tracing::warn!(service, operation, elapsed_ms, ?status, "slow backend call attempt");
        }
        Ok(())
    }
}

fn names(cfg: &ConfigBag) -> (&str, &str) {
    cfg.load::<Metadata>()
        .map_or(("unknown", "unknown"), |m| (m.service(), m.name()))
}
