//! Transactions that retry DynamoDB's `TransactionConflict` cancellations (two transactions
//! touching one item at once, e.g. a bucket's counters), and report condition failures.

use super::Store;
use crate::aws::sdk_failure;
use crate::errors::Failure;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;
use std::time::Duration;

const MAX_ATTEMPTS: u32 = 10;

/// The items whose condition failed, by position, when a transaction was canceled for that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionsFailed(pub Vec<usize>);

impl Store {
    pub(super) async fn transact(
        &self,
        context: &'static str,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), ConditionsFailed>, Failure> {
        for attempt in 0..MAX_ATTEMPTS {
            let result = self
                .dynamodb()
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(Ok(())),
                Err(err) => err,
            };
            let codes: Vec<Option<String>> = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(canceled)) => canceled
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().map(str::to_owned))
                    .collect(),
                _ => return Err(sdk_failure(context, err)),
            };
            let failed: Vec<usize> = codes
                .iter()
                .enumerate()
                .filter(|(_, c)| c.as_deref() == Some("ConditionalCheckFailed"))
                .map(|(i, _)| i)
                .collect();
            if !failed.is_empty() {
                return Ok(Err(ConditionsFailed(failed)));
            }
            if !codes.iter().any(|c| c.as_deref() == Some("TransactionConflict")) {
                tracing::error!(context, ?codes, "transaction canceled");
                return Err(Failure::Unavailable);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        tracing::warn!(context, "transaction kept conflicting");
        Err(Failure::Unavailable)
    }
}

/// Exponential backoff with full jitter: 0–10 ms, 0–20 ms, … capped at 500 ms.
fn backoff(attempt: u32) -> Duration {
    let cap = (10u64 << attempt.min(6)).min(500);
    Duration::from_millis(rand::random_range(0..=cap))
}
