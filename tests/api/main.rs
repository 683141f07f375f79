//! One test binary: every integration test talks HTTP to a real server.

mod health;
mod helpers;
mod reliability;
