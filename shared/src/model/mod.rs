//! The API's records, serialized exactly as the contract's schemas.

mod batch;
mod blob_type;
mod object;
mod status;
mod task;
mod tenancy;
mod upload;

pub use batch::{BATCH_TASK_TYPE, Batch};
pub use blob_type::{BLOB_TYPES, blob_type_for};
pub use object::{BucketObject, HashMarker};
pub use status::TaskStatus;
pub use task::{CONFIRM_TASK_TYPE, Task, TaskView};
pub use tenancy::{ApiKeyRecord, Bucket, Namespace, Tenant};
pub use upload::{JsonMap, STAGING_PREFIX, Upload};
