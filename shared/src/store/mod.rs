//! The DynamoDB adapter: one table holds tenancy records and uploads.
//!
//! Items are the records' own JSON fields (nulls left out) plus the key attributes below.
//! Every id carries its kind's prefix, so an id alone is a unique partition key.
//!
//! | item            | `pk`                         | `sk`        | GSI keys |
//! |-----------------|------------------------------|-------------|----------|
//! | tenant          | `tnt_…`                      | `tenant`    | — |
//! | API key         | `key_…`                      | `api_key`   | — |
//! | namespace       | `ns_…`                       | `namespace` | — (`bucket_count`: its buckets) |
//! | namespace name  | `nsname#<tenant_id>#<name>`  | `claim`     | — (carries a copy of the namespace) |
//! | bucket          | `bkt_…`                      | `bucket`    | — |
//! | bucket name     | `bktname#<namespace_id>#<name>` | `claim`  | — (carries a copy of the bucket) |
//! | bucket object   | `obj_…`                      | `object`    | — |
//! | hash marker     | `hash#<bucket_id>#<sha256>`  | `dedupe`    | — |
//! | bucket counters | `bkt_…`                      | `counters`  | — (`deleted` once the bucket is) |
//! | tenant usage    | `tnt_…`                      | `usage`     | — |
//! | key request counter | `rate#<key_id>#<epoch second>` | `rate` | — (expires a minute later) |
//! | task            | `task_…`                     | `task`      | — |
//! | batch           | `batch_…`                    | `batch`     | — |
//! | removal tombstone | `upl_…`                    | `removed`   | — |
//! | Idempotency-Key record | `idem#<key_id>#<sha256 of the key>` | `idempotency` | — (expires a day later) |
//! | upload          | `upl_…`                      | `upload`    | `gsi1pk = <bucket_id>`, `gsi1sk = <created_at>#<upload_id>`; `gsi2pk = <bucket_id>#<STATUS>`, `gsi2sk = <created_at>#<upload_id>` |
//!
//! Access patterns:
//!
//! | pattern                                          | how |
//! |--------------------------------------------------|-----|
//! | authenticate a key                               | GetItem `key_…` (then constant-time hash compare) |
//! | namespace by id / by name within a tenant        | GetItem `ns_…` / GetItem `nsname#…` (the claim carries the record) |
//! | bucket by id / by name within a namespace        | GetItem `bkt_…` / GetItem `bktname#…` (the claim carries the record) |
//! | upload by id                                     | GetItem `upl_…` (ownership checked against the bucket) |
//! | a bucket's uploads by `created_at`               | Query GSI `by_created_at` on `gsi1pk = bucket_id` |
//! | a bucket's uploads in one status by `created_at` | Query GSI `by_status` on `gsi2pk = bucket_id#STATUS` |
//! | object by id                                     | GetItem `obj_…` |
//! | task by id (scoped to its namespace)             | GetItem `task_…` |
//! | batch by id (scoped to its bucket)               | GetItem `batch_…` |
//! | a bucket's upload count and bytes per status     | GetItem `bkt_…` / `counters` |
//! | a tenant's bytes stored, reserved, pending uploads | GetItem `tnt_…` / `usage` |
//! | a key's requests in one second, across containers | UpdateItem ADD `rate#…` (returns the total) |
//! | a page of uploads by id                          | BatchGetItem `upl_…` |
//! | the original upload of some bytes in a bucket    | GetItem `hash#<bucket_id>#<sha256>` |
//!
//! Name claims are written in the same transaction as the record they name, with
//! `attribute_not_exists(pk)`, so two concurrent creates cannot take one name. A claim
//! carries a copy of the record it names (namespaces and buckets are immutable once
//! created), so a name resolves in one read even in a cold container.
//! Confirming an upload is one transaction: the upload is replaced on the condition that it
//! is still PENDING, its object is put, and (for the first upload of some bytes) its hash
//! marker is put on the condition that none exists; so each upload completes once, and of
//! uploads with equal bytes racing to complete, exactly one becomes the original.
//! Every status change (create, confirm, fail) also moves the upload between the per-status
//! count and byte attributes of the bucket's counters item, in the same transaction.
//! Likewise every change moves the upload's tenant's usage item (bytes stored, bytes
//! reserved, pending uploads; `quota`), and a change that grows it carries the condition
//! that it stays within the tenant's quota.
//! Records of uploads that never completed (PENDING, FAILED) carry a TTL; when DynamoDB
//! removes one, the `expired-uploads` function takes it out of the counters, writing a
//! tombstone (itself with a TTL) in the same transaction so that happens once.
//! All point reads are strongly consistent: a record is readable right after it is written.

mod completion;
mod counters;
mod expiry;
mod idempotency;
mod listing;
pub mod schema;
mod tenancy;
mod transact;
mod uploads;
mod usage;

use crate::aws::{LazyClient, invalid_request, sdk_failure};
use crate::calls::CallCounter;
use crate::errors::Failure;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

pub use idempotency::Claim;
pub use listing::{IndexQuery, IndexRead, QueryError, ReadBudget};
pub use tenancy::{RATE_PREFIX, RecordKind};
pub use uploads::{UNCONFIRMED_RETENTION_SECS, UPLOAD_SORT_KEY, record_expiry};

pub type Item = HashMap<String, AttributeValue>;

/// Why a conditional write did not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The upload is no longer in the status the transition started from: another request
    /// changed it (or it is gone).
    UploadChanged,
    /// Another upload with the same bytes became the original first.
    MarkerTaken,
    /// The name is taken (namespaces per tenant, buckets per namespace).
    NameTaken,
    /// The task is no longer in the status it was read with: another run changed it.
    TaskChanged,
    /// The tenant's usage would grow past its quota.
    OverQuota,
    /// The bucket or namespace the write belongs to was deleted.
    Gone,
    /// The bucket holds uploads, or the namespace buckets.
    NotEmpty,
    /// What the write creates exists already (a batch submitted earlier).
    Exists,
}

/// A write that did not happen: a condition that did not hold, or a failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("conditional write refused: {0:?}")]
    Conflict(Conflict),
    #[error(transparent)]
    Failure(#[from] Failure),
}

#[derive(Clone, Debug)]
pub struct Store {
    client: LazyClient<aws_sdk_dynamodb::Client>,
    table: String,
}

impl Store {
    /// The table, through a client built from `sdk` on first use, its calls counted.
    pub fn new(sdk: &aws_types::SdkConfig, calls: &CallCounter, table: impl Into<String>) -> Self {
        Self {
            client: LazyClient::new(sdk, calls),
            table: table.into(),
        }
    }

    pub fn from_sdk(sdk: &aws_types::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(sdk, &CallCounter::default(), table)
    }

    fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        self.client.get(|sdk, calls| {
            let config = aws_sdk_dynamodb::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .build();
            aws_sdk_dynamodb::Client::from_conf(config)
        })
    }

    /// The SDK client, for tests that look at items directly.
    #[cfg(feature = "test-support")]
    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        self.dynamodb()
    }

    /// The table, for tests that look at items directly.
    #[cfg(feature = "test-support")]
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table from `schema` unless it exists. Used by the local setup and tests;
    /// in AWS the table comes from `template.yaml`.
    pub async fn ensure_table(&self) -> Result<bool, Failure> {
        if self
            .dynamodb()
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .is_ok()
        {
            self.ensure_ttl().await?;
            return Ok(false);
        }
        let request = schema::apply(self.dynamodb().create_table().table_name(&self.table))
            .map_err(invalid_request("table schema"))?;
        let created = match request.send().await {
            Ok(_) => true,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => false,
            Err(err) => return Err(sdk_failure("create table", err)),
        };
        self.ensure_ttl().await?;
        Ok(created)
    }

    /// Turns on TTL on `schema::TTL_ATTRIBUTE`, as `template.yaml` declares it.
    async fn ensure_ttl(&self) -> Result<(), Failure> {
        use aws_sdk_dynamodb::types::{TimeToLiveSpecification, TimeToLiveStatus};
        let current = self
            .dynamodb()
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|err| sdk_failure("describe time to live", err))?;
        let status = current.time_to_live_description().and_then(|d| d.time_to_live_status());
        if matches!(status, Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)) {
            return Ok(());
        }
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(schema::TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(invalid_request("TTL specification"))?;
        self.dynamodb()
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|err| sdk_failure("update time to live", err))?;
        Ok(())
    }

    async fn get<T: DeserializeOwned>(&self, pk: &str, sk: &str) -> Result<Option<T>, Failure> {
        let output = self
            .dynamodb()
            .get_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, AttributeValue::S(pk.to_owned()))
            .key(schema::SORT_KEY, AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| sdk_failure("get item", err))?;
        output.item.map(from_item).transpose()
    }
}

/// Serializes `record` to an item, leaving out nulls, and adds the key attributes.
pub(crate) fn to_item<T: Serialize>(record: &T, keys: &[(&str, String)]) -> Result<Item, Failure> {
    let mut item: Item = serde_dynamo::aws_sdk_dynamodb_1::to_item(record)
        .map_err(|err| Failure::bug(format!("a record does not serialize to an item: {err}")))?;
    item.retain(|_, value| !value.is_null());
    for (name, value) in keys {
        item.insert((*name).to_owned(), AttributeValue::S(value.clone()));
    }
    Ok(item)
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, Failure> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
        .map_err(|err| Failure::bug(format!("a stored item does not deserialize: {err}")))
}

fn key_pair(pk: String, sk: &str) -> [(&'static str, String); 2] {
    [(schema::PARTITION_KEY, pk), (schema::SORT_KEY, sk.to_owned())]
}
