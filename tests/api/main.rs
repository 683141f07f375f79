//! One test binary: every integration test talks HTTP to a real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod cli;
mod cursors;
mod errors;
mod etags;
mod events;
mod health;
mod helpers;
mod idempotency;
mod lifecycle;
mod members;
mod openapi;
mod organizations;
mod props;
mod python_client;
mod rate_limits;
mod reliability;
mod scopes;
mod search;
mod tiers;
mod users;
