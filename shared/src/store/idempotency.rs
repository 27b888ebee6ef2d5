//! Idempotency-Key records (`idem#<key_id>#<sha256 of the key>` / `idempotency`), each with
//! the TTL DynamoDB removes it by. A key is claimed by a conditional put that succeeds only
//! when no live record holds it, so of racing requests with one key exactly one executes.

use super::schema::{PARTITION_KEY, TTL_ATTRIBUTE};
use super::{Store, key_pair, to_item};
use crate::aws::sdk_failure;
use crate::errors::Failure;
use crate::idempotency::IdempotencyRecord;
use crate::time::Timestamp;
use aws_sdk_dynamodb::types::AttributeValue;

const IDEMPOTENCY: &str = "idempotency";

/// Whether a write changed the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Claimed,
    /// A live record holds the key (`None`: it expired between the write and the read).
    Held(Option<IdempotencyRecord>),
}

impl Store {
    /// Claims `pk` for `record` unless a record that has not expired by `now` holds it.
    pub async fn claim_idempotency_key(
        &self,
        pk: &str,
        record: &IdempotencyRecord,
        now: Timestamp,
    ) -> Result<Claim, Failure> {
        let written = self
            .put_idempotency(pk, record, "attribute_not_exists(#pk) OR #ttl <= :now", now)
            .await?;
        if written {
            return Ok(Claim::Claimed);
        }
        let held: Option<IdempotencyRecord> = self.get(pk, IDEMPOTENCY).await?;
        Ok(Claim::Held(held.filter(|r| r.expires_at > now)))
    }

    /// Replaces the claim with `record` (its answer, or an expiry that frees the key), on the
    /// condition that the claim is still this request's.
    pub async fn settle_idempotency_key(&self, pk: &str, record: &IdempotencyRecord) -> Result<bool, Failure> {
        self.put_idempotency(
            pk,
            record,
            "#fingerprint = :fingerprint AND #created = :created",
            Timestamp::now(),
        )
        .await
    }

    async fn put_idempotency(
        &self,
        pk: &str,
        record: &IdempotencyRecord,
        condition: &str,
        now: Timestamp,
    ) -> Result<bool, Failure> {
        let mut item = to_item(record, &key_pair(pk.to_owned(), IDEMPOTENCY))?;
        item.insert(
            TTL_ATTRIBUTE.to_owned(),
            AttributeValue::N(record.expires_at.epoch_seconds().to_string()),
        );
        let mut request = self
            .dynamodb()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        for (name, attribute) in [
            ("#pk", PARTITION_KEY),
            ("#ttl", TTL_ATTRIBUTE),
            ("#fingerprint", "fingerprint"),
            ("#created", "created_at"),
        ] {
            if condition.contains(name) {
                request = request.expression_attribute_names(name, attribute);
            }
        }
        if condition.contains(":now") {
            request = request.expression_attribute_values(":now", AttributeValue::N(now.epoch_seconds().to_string()));
        }
        if condition.contains(":fingerprint") {
            request =
                request.expression_attribute_values(":fingerprint", AttributeValue::S(record.fingerprint.clone()));
        }
        if condition.contains(":created") {
            request = request.expression_attribute_values(":created", AttributeValue::S(record.created_at.to_string()));
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(sdk_failure("write an idempotency record", err)),
        }
    }
}
