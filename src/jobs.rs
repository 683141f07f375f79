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
            let db2 = db.clone();
            match actix_web::web::block(move || purge_idempotency_keys(&db2)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => log::info!("purged {n} expired idempotency keys"),
                Ok(Err(e)) => log::warn!("could not purge expired idempotency keys: {e}"),
                Err(e) => log::warn!("could not purge expired idempotency keys: {e}"),
            }
            let db = db.clone();
            match actix_web::web::block(move || db.write_untracked(crate::storage::webhooks::purge))
                .await
            {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => log::info!("purged {n} ended webhook deliveries"),
                Ok(Err(e)) => log::warn!("could not purge ended webhook deliveries: {e}"),
                Err(e) => log::warn!("could not purge ended webhook deliveries: {e}"),
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

/// Deletes the console's ended sessions (idle past `idle` or older than `max`) every
/// `every`; a session is refused the moment it ends, this only keeps the table small.
pub fn spawn_session_purge(db: Db, every: Duration, idle: chrono::Duration, max: chrono::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if db.health().broken().is_some() {
                continue;
            }
            let db = db.clone();
            let cutoffs = crate::storage::sessions::Cutoffs::now(idle, max);
            match actix_web::web::block(move || {
                db.write_untracked(|tx| crate::storage::sessions::purge(tx, &cutoffs))
            })
            .await
            {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => log::info!("purged {n} ended console sessions"),
                Ok(Err(e)) => log::warn!("could not purge ended console sessions: {e}"),
                Err(e) => log::warn!("could not purge ended console sessions: {e}"),
            }
        }
    });
}
