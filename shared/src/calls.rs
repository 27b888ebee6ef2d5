//! Counting the AWS calls a request makes: an SDK interceptor installed on every client the
//! app builds. Each request's log line reports its counts, and the benchmarks read them.
//!
//! A call is counted when its response arrived (every attempt, retries included); presigning
//! builds a request without sending it, so it counts nothing.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

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

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("unknown", "unknown"), |m| (m.service(), m.name()));
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        *tally.entry((service.to_owned(), operation.to_owned())).or_default() += 1;
        Ok(())
    }
}
