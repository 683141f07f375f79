//! invois: a self-hosted user- and organization-management API over one SQLite file.

pub mod auth;
pub mod body_deadline;
pub mod config;
pub mod console;
pub mod cors;
pub mod domain;
pub mod error;
pub mod header_check;
pub mod jobs;
pub mod metrics;
pub mod model;
pub mod protocol_errors;
pub mod routes;
pub mod startup;
pub mod storage;
pub mod webhooks;
