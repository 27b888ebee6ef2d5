//! The single source of truth for the table's key schema and GSIs. The local setup
//! (`uploads-admin create-table`) builds the table from here, and a test fails when
//! `template.yaml` declares anything else.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};

pub const PARTITION_KEY: &str = "pk";
pub const SORT_KEY: &str = "sk";

/// DynamoDB's TTL attribute (epoch seconds): items carrying it are deleted some time after
/// it passed. Only records of uploads that never completed, and tombstones, carry it.
pub const TTL_ATTRIBUTE: &str = "ttl";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSchema {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// A bucket's uploads, newest or oldest first: `gsi1pk = bucket_id`,
/// `gsi1sk = created_at#upload_id`.
pub const BY_CREATED_AT: IndexSchema = IndexSchema {
    name: "by_created_at",
    partition_key: "gsi1pk",
    sort_key: "gsi1sk",
};

/// A bucket's uploads in one status, by creation time: `gsi2pk = bucket_id#STATUS`,
/// `gsi2sk = created_at#upload_id`.
pub const BY_STATUS: IndexSchema = IndexSchema {
    name: "by_status",
    partition_key: "gsi2pk",
    sort_key: "gsi2sk",
};

pub const INDEXES: [IndexSchema; 2] = [BY_CREATED_AT, BY_STATUS];

/// Every key attribute is a string.
pub fn key_attributes() -> Vec<&'static str> {
    let mut names = vec![PARTITION_KEY, SORT_KEY];
    for index in INDEXES {
        names.extend([index.partition_key, index.sort_key]);
    }
    names
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, aws_sdk_dynamodb::error::BuildError> {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build()
}

/// Applies the schema to a CreateTable request (on-demand billing, all attributes projected).
pub fn apply(
    request: aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder,
) -> Result<
    aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder,
    aws_sdk_dynamodb::error::BuildError,
> {
    let mut request = request
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key(SORT_KEY, KeyType::Range)?);
    for name in key_attributes() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        );
    }
    for index in INDEXES {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.partition_key, KeyType::Hash)?)
                .key_schema(key(index.sort_key, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()?,
        );
    }
    Ok(request)
}
