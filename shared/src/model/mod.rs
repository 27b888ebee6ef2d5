//! The API's records, serialized exactly as the contract's schemas, and the transitions an
//! upload goes through (decided here, without I/O; the store writes them).

mod batch;
mod blob_type;
mod completion;
mod counts;
pub mod multipart;
mod object;
mod status;
mod task;
mod tenancy;
mod upload;

pub use batch::{Batch, BatchView};
pub use blob_type::BlobType;
pub use completion::{Completion, LateBatch, Verified};
pub use counts::{BucketCounts, StatusCount};
pub use multipart::{Multipart, PartPlan, PartUrl, UploadedPart};
pub use object::{BucketObject, HashMarker};
pub use status::{TaskStatus, UploadStatus};
pub use task::{
    BATCH_CONFIRM_TASK_TYPE, BATCH_TASK_TYPE, BatchConfirmInputs, BatchInputs, CONFIRM_TASK_TYPE, ConfirmInputs,
    ConfirmItem, ConfirmOutputs, ConfirmProgress, HashProgress, ItemResult, Task, TaskData, TaskKind, TaskView,
};
pub use tenancy::{ApiKeyRecord, Bucket, Namespace, Tenant};
pub use upload::{JsonMap, STAGING_PREFIX, Transition, Upload};
