//! Per-tenant usage (`quota`): bytes stored and reserved, and pending uploads, on one item
//! per tenant, moved in the same transactions that change an upload's status. A move that
//! grows usage is conditional on the quota still having room: DynamoDB conditions cannot
//! add, so the limit minus the growth is what the stored total is compared with.

use super::{Store, key_pair};
use crate::aws::{invalid_request, sdk_failure};
use crate::errors::Failure;
use crate::ids::TenantId;
use crate::model::{Tenant, Upload};
use crate::quota::{Quota, QuotaOverride, Usage, UsageDelta};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use std::collections::HashMap;

const USAGE: &str = "usage";
const TENANT: &str = "tenant";

const BYTES_STORED: &str = "bytes_stored";
const BYTES_RESERVED: &str = "bytes_reserved";
/// Stored plus reserved, kept as its own attribute because the quota's condition compares
/// one attribute with one value.
const BYTES_USED: &str = "bytes_used";
const PENDING_UPLOADS: &str = "pending_uploads";

impl Store {
    /// The usage update for uploads changing from `from` to `to` (see `counters_move`).
    pub(super) fn usage_move(
        &self,
        from: Option<&Upload>,
        to: Option<&Upload>,
        quota: Option<&Quota>,
    ) -> Result<Option<TransactWriteItem>, Failure> {
        match UsageDelta::of_move(from, to) {
            Some((tenant, delta)) => self.usage_change(&tenant, &delta, quota),
            None => Ok(None),
        }
    }

    /// The update moving `tenant`'s usage by `delta`, `None` when it does not move. With
    /// `quota`, a move that grows bytes used or pending uploads holds only while they stay
    /// within it (`Conflict::OverQuota` for the transaction).
    pub(super) fn usage_change(
        &self,
        tenant: &TenantId,
        delta: &UsageDelta,
        quota: Option<&Quota>,
    ) -> Result<Option<TransactWriteItem>, Failure> {
        if delta.is_zero() {
            return Ok(None);
        }
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut adds = Vec::new();
        let moves = [
            (BYTES_STORED, delta.bytes_stored),
            (BYTES_RESERVED, delta.bytes_reserved),
            (BYTES_USED, delta.bytes_used()),
            (PENDING_UPLOADS, delta.pending_uploads),
        ];
        for (attribute, amount) in moves.into_iter().filter(|(_, amount)| *amount != 0) {
            names.insert(format!("#{attribute}"), attribute.to_owned());
            values.insert(format!(":{attribute}"), AttributeValue::N(amount.to_string()));
            adds.push(format!("#{attribute} :{attribute}"));
        }
        let mut conditions = Vec::new();
        let limits = quota.map(|q| [(BYTES_USED, q.max_bytes), (PENDING_UPLOADS, q.max_pending_uploads)]);
        for (attribute, limit) in limits.into_iter().flatten() {
            let growth = if attribute == BYTES_USED {
                delta.bytes_used()
            } else {
                delta.pending_uploads
            };
            if growth <= 0 {
                continue;
            }
            let room = i128::from(limit) - i128::from(growth);
            values.insert(format!(":room_{attribute}"), AttributeValue::N(room.to_string()));
            // Growth beyond the whole limit fails even before the tenant's first use.
            conditions.push(if room >= 0 {
                format!("(attribute_not_exists(#{attribute}) OR #{attribute} <= :room_{attribute})")
            } else {
                format!("#{attribute} <= :room_{attribute}")
            });
        }
        let [pk, sk] = key_pair(tenant.to_string(), USAGE);
        let update = Update::builder()
            .table_name(&self.table)
            .key(pk.0, AttributeValue::S(pk.1))
            .key(sk.0, AttributeValue::S(sk.1))
            .update_expression(format!("ADD {}", adds.join(", ")))
            .set_condition_expression((!conditions.is_empty()).then(|| conditions.join(" AND ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(invalid_request("usage update"))?;
        Ok(Some(TransactWriteItem::builder().update(update).build()))
    }

    /// The tenant's usage (one strongly consistent read).
    pub async fn usage(&self, tenant: &TenantId) -> Result<Usage, Failure> {
        Ok(self.get(tenant.as_str(), USAGE).await?.unwrap_or_default())
    }

    /// Sets the tenant's own limits (those not given stay as they were); its record as it
    /// now stands, `None` when there is no such tenant.
    pub async fn set_tenant_quota(
        &self,
        tenant_id: &TenantId,
        quota: &QuotaOverride,
    ) -> Result<Option<Tenant>, Failure> {
        let Some(mut tenant) = self.tenant(tenant_id).await? else {
            return Ok(None);
        };
        let own = tenant.quota.unwrap_or_default();
        tenant.quota = Some(QuotaOverride {
            max_bytes: quota.max_bytes.or(own.max_bytes),
            max_pending_uploads: quota.max_pending_uploads.or(own.max_pending_uploads),
            max_file_size_bytes: quota.max_file_size_bytes.or(own.max_file_size_bytes),
        });
        let value = serde_dynamo::to_attribute_value(tenant.quota)
            .map_err(|err| Failure::bug(format!("a quota does not serialize: {err}")))?;
        let result = self
            .dynamodb()
            .update_item()
            .table_name(&self.table)
            .key(super::schema::PARTITION_KEY, AttributeValue::S(tenant_id.to_string()))
            .key(super::schema::SORT_KEY, AttributeValue::S(TENANT.to_owned()))
            .condition_expression("attribute_exists(#pk)")
            .update_expression("SET #quota = :quota")
            .expression_attribute_names("#pk", super::schema::PARTITION_KEY)
            .expression_attribute_names("#quota", "quota")
            .expression_attribute_values(":quota", value)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(tenant)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(sdk_failure("set tenant quota", err)),
        }
    }
}
