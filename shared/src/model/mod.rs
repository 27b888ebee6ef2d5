//! The API's records, serialized exactly as the contract's schemas.

mod blob_type;
mod object;
mod status;
mod tenancy;
mod upload;

pub use blob_type::{BLOB_TYPES, blob_type_for};
pub use object::{BucketObject, HashMarker};
pub use status::TaskStatus;
pub use tenancy::{ApiKeyRecord, Bucket, Namespace, Tenant};
pub use upload::{JsonMap, Upload};
