//! The domain's types: parsed once at the edge, trusted everywhere after.

pub mod company;
pub mod conversation;
pub mod lead;
pub mod merge_patch;
pub mod page;
pub mod phone;
pub mod text;
pub mod time;

pub use company::{Company, CompanyId};
pub use time::Timestamp;
