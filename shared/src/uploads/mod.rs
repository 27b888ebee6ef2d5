//! The upload use cases, independent of HTTP: create (with its request, [`NewUpload`]),
//! read, delete, and the lookups they share. Confirmation lives in [`crate::confirm`],
//! listing in [`crate::listing`].

mod batch;
mod create;
mod delete;
mod lookup;
mod multipart;
mod new_upload;
mod read;

pub use batch::{BatchCreated, MAX_BATCH_UPLOADS, create_uploads_batch};
pub use create::{CreateError, create_upload};
pub use delete::{DeleteError, delete_upload};
pub use lookup::{ReadError, load_upload, resolve_bucket};
pub use multipart::{PartsAnswer, request_parts};
pub use new_upload::{MAX_EXPIRATION_SECS, MultipartAsk, NewUpload};
pub use read::{download_url, get_batch, get_task, get_upload};
