//! The integration suite: one test binary, one build, for every story below.

mod auth;
mod conformance;
mod dynamodb;
mod http_layer;
mod leads;
mod multiprocess;
