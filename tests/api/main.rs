//! One test binary: every integration test talks HTTP to a real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod cli;
mod cors;
mod cursors;
mod errors;
mod etags;
mod events;
mod hardening;
mod health;
mod helpers;
mod idempotency;
mod lifecycle;
mod members;
mod openapi;
mod organizations;
mod props;
mod rate_limits;
mod readme;
mod reliability;
mod revocation;
mod scopes;
mod search;
mod seeds;
mod tiers;
mod users;
