//! # bucket-uploads domain crate
//!
//! Everything the Lambda functions share: the contract's models ([`model`]), request
//! validation ([`validate`], [`uploads::NewUpload`]), errors and their one HTTP mapping
//! ([`error`]), tenancy and auth ([`auth`]), and the DynamoDB and S3 adapters
//! ([`store`], [`objects`]). The functions in `functions/` only parse, call
//! [`uploads`], and render through [`http`].
//!
//! The table layout and its access patterns are documented on [`store`].

pub mod app;
pub mod auth;
pub mod aws;
pub mod confirm;
pub mod dispatch;
pub mod error;
pub mod expiry;
pub mod http;
pub mod ids;
pub mod listing;
pub mod model;
pub mod names;
pub mod objects;
pub mod query;
pub mod routes;
pub mod store;
pub mod tenancy;
pub mod time;
pub mod uploads;
pub mod validate;

pub use app::App;
pub use error::ApiError;
