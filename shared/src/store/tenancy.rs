use super::completion::Condition;
use super::transact::ConditionsFailed;
use super::{Conflict, Item, Store, StoreError, key_pair, to_item};
use crate::aws::{invalid_request, sdk_failure};
use crate::errors::Failure;
use crate::ids::{BucketId, KeyId, NamespaceId, TenantId};
use crate::model::{ApiKeyRecord, Bucket, Namespace, Tenant};
use crate::rate_limit::RateLimit;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const TENANT: &str = "tenant";
const API_KEY: &str = "api_key";
const NAMESPACE: &str = "namespace";
const BUCKET: &str = "bucket";
const CLAIM: &str = "claim";
/// A namespace's buckets, kept by the transactions that create and delete them.
const BUCKET_COUNT: &str = "bucket_count";

/// The tenancy records an operator lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Tenant,
    Namespace,
    Bucket,
    ApiKey,
}

impl RecordKind {
    fn sort_key(self) -> &'static str {
        match self {
            RecordKind::Tenant => TENANT,
            RecordKind::Namespace => NAMESPACE,
            RecordKind::Bucket => BUCKET,
            RecordKind::ApiKey => API_KEY,
        }
    }
}
/// Per-key, per-second request counters (`rate_limit`): `rate#<key_id>#<epoch second>`.
pub const RATE_PREFIX: &str = "rate#";
const RATE: &str = "rate";
/// How long a counter item is kept after its second (TTL removes it).
const RATE_RETENTION_SECS: i64 = 60;

/// A name, taken by the record it names. It carries a copy of that record (namespaces and
/// buckets never change), so a name resolves in one read; claims written before it did
/// point at the record only.
#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct NameClaim<T> {
    target_id: String,
    #[serde(default)]
    record: Option<T>,
}

fn namespace_claim(tenant_id: &TenantId, name: &str) -> String {
    format!("nsname#{tenant_id}#{name}")
}

fn bucket_claim(namespace_id: &NamespaceId, name: &str) -> String {
    format!("bktname#{namespace_id}#{name}")
}

impl Store {
    pub async fn put_tenant(&self, tenant: &Tenant) -> Result<(), Failure> {
        self.put_new(to_item(tenant, &key_pair(tenant.tenant_id.to_string(), TENANT))?)
            .await
    }

    pub async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), Failure> {
        self.put_new(to_item(key, &key_pair(key.key_id.to_string(), API_KEY))?)
            .await
    }

    /// Stores the namespace and claims its name within the tenant, atomically
    /// (`Conflict::NameTaken` when the name is taken).
    pub async fn put_namespace(&self, ns: &Namespace) -> Result<(), StoreError> {
        let record = to_item(ns, &key_pair(ns.namespace_id.to_string(), NAMESPACE))?;
        let claim = claim_item(namespace_claim(&ns.tenant_id, &ns.name), ns.namespace_id.as_str(), ns)?;
        self.put_with_claim(record, claim).await
    }

    /// Stores the bucket, claims its name within the namespace and counts it in the
    /// namespace, atomically (`Conflict::NameTaken` when the name is taken, `Conflict::Gone`
    /// when the namespace was deleted).
    pub async fn put_bucket(&self, bucket: &Bucket) -> Result<(), StoreError> {
        let record = to_item(bucket, &key_pair(bucket.bucket_id.to_string(), BUCKET))?;
        let claim = claim_item(
            bucket_claim(&bucket.namespace_id, &bucket.name),
            bucket.bucket_id.as_str(),
            bucket,
        )?;
        let items = vec![
            self.transact_put(record, None)?,
            self.transact_put(claim, None)?,
            self.namespace_buckets_add(&bucket.namespace_id, 1)?,
        ];
        match self.transact("put bucket", items).await? {
            Ok(()) => Ok(()),
            Err(ConditionsFailed(failed)) if failed.contains(&2) => Err(StoreError::Conflict(Conflict::Gone)),
            Err(_) => Err(StoreError::Conflict(Conflict::NameTaken)),
        }
    }

    /// Deletes the bucket and its name, on the condition that it holds no upload
    /// (`Conflict::NotEmpty`; `Conflict::Gone` when it is deleted already). Its counters item
    /// stays, marked deleted, so that no upload is created in it afterwards.
    pub async fn delete_bucket(&self, bucket: &Bucket) -> Result<(), StoreError> {
        let items = vec![
            self.counters_close(&bucket.bucket_id)?,
            self.transact_delete(bucket.bucket_id.as_str(), BUCKET, None)?,
            self.transact_delete(
                &bucket_claim(&bucket.namespace_id, &bucket.name),
                CLAIM,
                Some(bucket.bucket_id.as_str()),
            )?,
            self.namespace_buckets_add(&bucket.namespace_id, -1)?,
        ];
        match self.transact("delete bucket", items).await? {
            Ok(()) => Ok(()),
            Err(ConditionsFailed(failed)) if failed == [0] => Err(StoreError::Conflict(Conflict::NotEmpty)),
            Err(_) => Err(StoreError::Conflict(Conflict::Gone)),
        }
    }

    /// Deletes the namespace and its name, on the condition that it counts no bucket
    /// (`Conflict::NotEmpty`, or `Conflict::Gone`). Namespaces stored before buckets were
    /// counted count none: the caller also looks for their buckets.
    pub async fn delete_namespace(&self, namespace: &Namespace) -> Result<(), StoreError> {
        let empty = (
            "attribute_exists(pk) AND (attribute_not_exists(#count) OR #count <= :zero)".to_owned(),
            HashMap::from([("#count".to_owned(), BUCKET_COUNT.to_owned())]),
            HashMap::from([(":zero".to_owned(), AttributeValue::N("0".to_owned()))]),
        );
        let items = vec![
            self.transact_delete_if(namespace.namespace_id.as_str(), NAMESPACE, empty)?,
            self.transact_delete(
                &namespace_claim(&namespace.tenant_id, &namespace.name),
                CLAIM,
                Some(namespace.namespace_id.as_str()),
            )?,
        ];
        match self.transact("delete namespace", items).await? {
            Ok(()) => Ok(()),
            Err(_) => match self.namespace(&namespace.namespace_id).await? {
                Some(_) => Err(StoreError::Conflict(Conflict::NotEmpty)),
                None => Err(StoreError::Conflict(Conflict::Gone)),
            },
        }
    }

    /// Every tenant, namespace, bucket or API key record (`sk` = `kind`), optionally only
    /// those whose `attribute` is `value`: a Scan of the whole table, uploads included, so
    /// for operators, not for requests.
    pub async fn scan_records<T: DeserializeOwned>(
        &self,
        kind: RecordKind,
        only: Option<(&str, &str)>,
    ) -> Result<Vec<T>, Failure> {
        let mut filter = "#sk = :sk".to_owned();
        let mut names = HashMap::from([("#sk".to_owned(), super::schema::SORT_KEY.to_owned())]);
        let mut values = HashMap::from([(":sk".to_owned(), AttributeValue::S(kind.sort_key().to_owned()))]);
        if let Some((attribute, value)) = only {
            filter.push_str(" AND #only = :only");
            names.insert("#only".to_owned(), attribute.to_owned());
            values.insert(":only".to_owned(), AttributeValue::S(value.to_owned()));
        }
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamodb()
                .scan()
                .table_name(&self.table)
                .filter_expression(&filter)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|err| sdk_failure("scan records", err))?;
            for item in page.items.unwrap_or_default() {
                records.push(super::from_item(item)?);
            }
            start = page.last_evaluated_key.filter(|key| !key.is_empty());
            if start.is_none() {
                return Ok(records);
            }
        }
    }

    /// `ADD bucket_count :delta` on the namespace, which must exist.
    fn namespace_buckets_add(&self, namespace_id: &NamespaceId, delta: i64) -> Result<TransactWriteItem, Failure> {
        let update = Update::builder()
            .table_name(&self.table)
            .key(
                super::schema::PARTITION_KEY,
                AttributeValue::S(namespace_id.to_string()),
            )
            .key(super::schema::SORT_KEY, AttributeValue::S(NAMESPACE.to_owned()))
            .update_expression("ADD #count :delta")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#count", BUCKET_COUNT)
            .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()))
            .build()
            .map_err(invalid_request("namespace bucket count"))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Deletes an item that exists (and, for a name claim, still names `target_id`).
    fn transact_delete(&self, pk: &str, sk: &str, target_id: Option<&str>) -> Result<TransactWriteItem, Failure> {
        let condition = match target_id {
            Some(id) => (
                "target_id = :target".to_owned(),
                HashMap::new(),
                HashMap::from([(":target".to_owned(), AttributeValue::S(id.to_owned()))]),
            ),
            None => ("attribute_exists(pk)".to_owned(), HashMap::new(), HashMap::new()),
        };
        self.transact_delete_if(pk, sk, condition)
    }

    fn transact_delete_if(&self, pk: &str, sk: &str, condition: Condition) -> Result<TransactWriteItem, Failure> {
        let (expression, names, values) = condition;
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(super::schema::PARTITION_KEY, AttributeValue::S(pk.to_owned()))
            .key(super::schema::SORT_KEY, AttributeValue::S(sk.to_owned()))
            .condition_expression(expression)
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(invalid_request("transactional Delete"))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    pub async fn tenant(&self, tenant_id: &TenantId) -> Result<Option<Tenant>, Failure> {
        self.get(tenant_id.as_str(), TENANT).await
    }

    pub async fn api_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, Failure> {
        self.get(key_id.as_str(), API_KEY).await
    }

    /// Sets the key's own allowance; the key as it now stands, or `None` when there is no
    /// such key (the update is conditional on it, so a revoked key is not brought back).
    pub async fn set_api_key_rate_limit(
        &self,
        key_id: &KeyId,
        limit: RateLimit,
    ) -> Result<Option<ApiKeyRecord>, Failure> {
        let value = serde_dynamo::to_attribute_value(limit)
            .map_err(|err| Failure::bug(format!("rate limit does not serialize: {err}")))?;
        let result = self
            .dynamodb()
            .update_item()
            .table_name(&self.table)
            .key(super::schema::PARTITION_KEY, AttributeValue::S(key_id.to_string()))
            .key(super::schema::SORT_KEY, AttributeValue::S(API_KEY.to_owned()))
            .condition_expression("attribute_exists(#pk)")
            .update_expression("SET #limit = :limit")
            .expression_attribute_names("#pk", super::schema::PARTITION_KEY)
            .expression_attribute_names("#limit", "rate_limit")
            .expression_attribute_values(":limit", value)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => output.attributes.map(super::from_item).transpose(),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(sdk_failure("set api key rate limit", err)),
        }
    }

    /// Adds `requests` a container admitted to the key's shared counter for the second
    /// `window` (epoch seconds) and returns the total so far. Counter items have a partition
    /// of their own (`rate#…`), which is all the API functions may update, and expire.
    pub async fn count_key_requests(&self, key_id: &KeyId, window: i64, requests: u32) -> Result<u64, Failure> {
        let output = self
            .dynamodb()
            .update_item()
            .table_name(&self.table)
            .key(
                super::schema::PARTITION_KEY,
                AttributeValue::S(format!("{RATE_PREFIX}{key_id}#{window}")),
            )
            .key(super::schema::SORT_KEY, AttributeValue::S(RATE.to_owned()))
            .update_expression("ADD #count :n SET #ttl = :ttl")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", super::schema::TTL_ATTRIBUTE)
            .expression_attribute_values(":n", AttributeValue::N(requests.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N((window + RATE_RETENTION_SECS).to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|err| sdk_failure("count key requests", err))?;
        let count = output.attributes.as_ref().and_then(|a| a.get("count"));
        match count {
            Some(AttributeValue::N(n)) => n.parse().map_err(|_| Failure::bug(format!("a request count is {n}"))),
            _ => Err(Failure::bug("the request counter answered no count")),
        }
    }

    /// Deletes the key; the key it deleted, or `None` when there was none.
    pub async fn delete_api_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, Failure> {
        let output = self
            .dynamodb()
            .delete_item()
            .table_name(&self.table)
            .key(super::schema::PARTITION_KEY, AttributeValue::S(key_id.to_string()))
            .key(super::schema::SORT_KEY, AttributeValue::S(API_KEY.to_owned()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|err| sdk_failure("delete api key", err))?;
        output.attributes.map(super::from_item).transpose()
    }

    pub async fn namespace(&self, namespace_id: &NamespaceId) -> Result<Option<Namespace>, Failure> {
        self.get(namespace_id.as_str(), NAMESPACE).await
    }

    pub async fn namespace_by_name(&self, tenant_id: &TenantId, name: &str) -> Result<Option<Namespace>, Failure> {
        self.claimed(&namespace_claim(tenant_id, name), NAMESPACE).await
    }

    pub async fn bucket(&self, bucket_id: &BucketId) -> Result<Option<Bucket>, Failure> {
        self.get(bucket_id.as_str(), BUCKET).await
    }

    pub async fn bucket_by_name(&self, namespace_id: &NamespaceId, name: &str) -> Result<Option<Bucket>, Failure> {
        self.claimed(&bucket_claim(namespace_id, name), BUCKET).await
    }

    /// The record a name claim points at.
    async fn claimed<T: DeserializeOwned>(&self, claim_pk: &str, record_sk: &str) -> Result<Option<T>, Failure> {
        match self.get::<NameClaim<T>>(claim_pk, CLAIM).await? {
            Some(NameClaim {
                record: Some(record), ..
            }) => Ok(Some(record)),
            Some(claim) => self.get(&claim.target_id, record_sk).await,
            None => Ok(None),
        }
    }

    /// Writes an item that must not exist yet (ids are fresh, so a clash is a bug).
    pub(super) async fn put_new(&self, item: Item) -> Result<(), Failure> {
        self.dynamodb()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|err| sdk_failure("put new item", err))?;
        Ok(())
    }

    async fn put_with_claim(&self, record: Item, claim: Item) -> Result<(), StoreError> {
        let items = vec![self.transact_put(record, None)?, self.transact_put(claim, None)?];
        match self.transact("put record with name claim", items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict(Conflict::NameTaken)),
        }
    }
}

fn claim_item(pk: String, target_id: &str, record: &impl Serialize) -> Result<Item, Failure> {
    Ok(Item::from([
        (super::schema::PARTITION_KEY.to_owned(), AttributeValue::S(pk)),
        (super::schema::SORT_KEY.to_owned(), AttributeValue::S(CLAIM.to_owned())),
        ("target_id".to_owned(), AttributeValue::S(target_id.to_owned())),
        ("record".to_owned(), AttributeValue::M(to_item(record, &[])?)),
    ]))
}
