//! # bucket-uploads domain crate
//!
//! Everything the Lambda functions share, in layers that only look down:
//!
//! | layer | modules |
//! |-------|---------|
//! | records and decisions (no I/O) | [`model`] (uploads and their transitions, tasks, batches, tenancy), [`ids`], [`time`], [`names`], [`query`] (the list query language) |
//! | request validation | [`validate`], [`errors`] (what every operation's error is built from) |
//! | use cases | [`auth`] (with [`directory`], who is who, cached per container), [`uploads`] (create, read, delete), [`confirm`] (the confirmation orchestrator and its worker), [`listing`], [`expiry`], [`events`] (what the table's stream publishes), [`tenancy`], [`quota`] (limits and usage per tenant) and [`usage`] (reading them) |
//! | adapters | [`store`] (DynamoDB), [`objects`] (S3), [`dispatch`] (Step Functions, or the local worker), [`event_bus`] (EventBridge), [`aws`], built once in [`app`] |
//! | the HTTP edge | [`http`] (parameters, bodies, the one mapping of errors to responses), [`routes`] |
//!
//! The functions in `functions/` parse, call a use case, and render through [`http`]. The
//! table layout and its access patterns are documented on [`store`].

pub mod app;
pub mod auth;
pub mod aws;
pub mod calls;
pub mod confirm;
pub mod directory;
pub mod dispatch;
pub mod errors;
pub mod event_bus;
pub mod events;
pub mod expiry;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod listing;
pub mod logging;
pub mod model;
pub mod names;
pub mod objects;
pub mod query;
pub mod quota;
pub mod rate_limit;
pub mod routes;
pub mod signing;
pub mod store;
pub mod tenancy;
pub mod time;
pub mod uploads;
pub mod usage;
pub mod validate;

pub use app::{App, Wiring};
pub use http::ApiError;
