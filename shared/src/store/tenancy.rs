use super::{Item, Store, key_pair, to_item};
use crate::aws::sdk_failure;
use crate::error::ApiError;
use crate::model::{ApiKeyRecord, Bucket, Namespace, Tenant};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;
use serde::de::DeserializeOwned;

const TENANT: &str = "tenant";
const API_KEY: &str = "api_key";
const NAMESPACE: &str = "namespace";
const BUCKET: &str = "bucket";
const CLAIM: &str = "claim";

#[derive(Deserialize)]
struct NameClaim {
    target_id: String,
}

fn namespace_claim(tenant_id: &str, name: &str) -> String {
    format!("nsname#{tenant_id}#{name}")
}

fn bucket_claim(namespace_id: &str, name: &str) -> String {
    format!("bktname#{namespace_id}#{name}")
}

impl Store {
    pub async fn put_tenant(&self, tenant: &Tenant) -> Result<(), ApiError> {
        self.put_new(to_item(tenant, &key_pair(tenant.tenant_id.clone(), TENANT))?)
            .await
    }

    pub async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), ApiError> {
        self.put_new(to_item(key, &key_pair(key.key_id.clone(), API_KEY))?)
            .await
    }

    /// Stores the namespace and claims its name within the tenant, atomically.
    /// A taken name is a 400 with code `namespace_name_taken`.
    pub async fn put_namespace(&self, ns: &Namespace) -> Result<(), ApiError> {
        let record = to_item(ns, &key_pair(ns.namespace_id.clone(), NAMESPACE))?;
        let claim = claim_item(namespace_claim(&ns.tenant_id, &ns.name), &ns.namespace_id);
        self.put_with_claim(record, claim, "namespace_name_taken", &ns.name)
            .await
    }

    /// Stores the bucket and claims its name within the namespace, atomically.
    pub async fn put_bucket(&self, bucket: &Bucket) -> Result<(), ApiError> {
        let record = to_item(bucket, &key_pair(bucket.bucket_id.clone(), BUCKET))?;
        let claim = claim_item(bucket_claim(&bucket.namespace_id, &bucket.name), &bucket.bucket_id);
        self.put_with_claim(record, claim, "bucket_name_taken", &bucket.name)
            .await
    }

    pub async fn tenant(&self, tenant_id: &str) -> Result<Option<Tenant>, ApiError> {
        self.get(tenant_id, TENANT).await
    }

    pub async fn api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>, ApiError> {
        self.get(key_id, API_KEY).await
    }

    pub async fn namespace(&self, namespace_id: &str) -> Result<Option<Namespace>, ApiError> {
        self.get(namespace_id, NAMESPACE).await
    }

    pub async fn namespace_by_name(&self, tenant_id: &str, name: &str) -> Result<Option<Namespace>, ApiError> {
        self.claimed(&namespace_claim(tenant_id, name), NAMESPACE).await
    }

    pub async fn bucket(&self, bucket_id: &str) -> Result<Option<Bucket>, ApiError> {
        self.get(bucket_id, BUCKET).await
    }

    pub async fn bucket_by_name(&self, namespace_id: &str, name: &str) -> Result<Option<Bucket>, ApiError> {
        self.claimed(&bucket_claim(namespace_id, name), BUCKET).await
    }

    /// The record a name claim points at.
    async fn claimed<T: DeserializeOwned>(&self, claim_pk: &str, record_sk: &str) -> Result<Option<T>, ApiError> {
        match self.get::<NameClaim>(claim_pk, CLAIM).await? {
            Some(claim) => self.get(&claim.target_id, record_sk).await,
            None => Ok(None),
        }
    }

    /// Writes an item that must not exist yet (ids are fresh, so a clash is a bug).
    pub(super) async fn put_new(&self, item: Item) -> Result<(), ApiError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|err| sdk_failure("put new item", err))?;
        Ok(())
    }

    async fn put_with_claim(
        &self,
        record: Item,
        claim: Item,
        taken_code: &'static str,
        name: &str,
    ) -> Result<(), ApiError> {
        let items = vec![self.transact_put(record, None)?, self.transact_put(claim, None)?];
        match self.transact("put record with name claim", items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(ApiError::BadRequest {
                message: format!("The name '{name}' is already taken"),
                code: Some(taken_code),
                details: Some(serde_json::json!({ "name": name })),
            }),
        }
    }
}

fn claim_item(pk: String, target_id: &str) -> Item {
    Item::from([
        (super::schema::PARTITION_KEY.to_owned(), AttributeValue::S(pk)),
        (super::schema::SORT_KEY.to_owned(), AttributeValue::S(CLAIM.to_owned())),
        ("target_id".to_owned(), AttributeValue::S(target_id.to_owned())),
    ])
}
