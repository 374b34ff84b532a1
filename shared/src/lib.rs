//! WiizoChat's shared library: everything the six Lambda functions have in common.
//!
//! A function's `main.rs` builds one [`App`] at init and hands every request to its own
//! router through [`http::respond`], which does the parts every route shares (request id,
//! CORS, body limits, authentication, the envelope, the request log line).

pub mod app;
pub mod auth;
#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod meta;
pub mod openai;
pub mod signature;
pub mod store;
pub mod telemetry;
pub mod usecase;

pub use app::App;
pub use error::{ApiError, FieldErrors};
