//! Background jobs that keep what grows bounded: each table that grows has its retention
//! rule beside the code that stores it, and its purge runs here on a schedule.

use std::time::Duration;

use crate::storage::{idempotency, Db};

/// Runs every purge now and then every `every`, for as long as the server runs.
pub fn spawn_purges(db: Db, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if db.health().broken().is_some() {
                continue; // the database is refused (see storage::health); nothing to purge
            }
            let db = db.clone();
            match actix_web::web::block(move || purge_idempotency_keys(&db)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => log::info!("purged {n} expired idempotency keys"),
                Ok(Err(e)) => log::warn!("could not purge expired idempotency keys: {e}"),
                Err(e) => log::warn!("could not purge expired idempotency keys: {e}"),
            }
        }
    });
}

/// Deletes every idempotency key past its retention, a batch per transaction; returns how
/// many.
pub fn purge_idempotency_keys(db: &Db) -> crate::error::Result<usize> {
    let mut total = 0;
    loop {
        let n = db.write_untracked(idempotency::purge)?;
        total += n;
        if i64::try_from(n).unwrap_or(i64::MAX) < idempotency::PURGE_BATCH {
            return Ok(total);
        }
    }
}
