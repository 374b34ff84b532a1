//! The integration suite: one test binary, one build, for every story below.

mod accounts;
mod ai;
mod analytics;
mod auth;
mod autoreply;
mod conformance;
mod contract;
mod conversations;
mod dynamodb;
mod erasure;
mod hardening;
mod http_layer;
mod leads;
mod multiprocess;
mod outbound;
mod postgres;
mod routes;
mod sending;
mod webhooks;
