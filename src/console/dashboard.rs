//! The dashboard: counts, the database (engine, size, health) and the latest events.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::events::table as events_table;
use super::page;
use super::session::Sess;
use super::{ConsoleError, Result};
use crate::error::ApiError;
use crate::storage::health::Broken;
use crate::storage::{events, operators, stats, Db, Engine};

/// A size for people: `12.3 MiB`.
fn size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b < 1024.0 {
        return format!("{bytes} bytes");
    }
    let mut v = b / 1024.0;
    for unit in ["KiB", "MiB", "GiB"] {
        if v < 1024.0 {
            return format!("{v:.1} {unit}");
        }
        v /= 1024.0;
    }
    format!("{v:.1} TiB")
}

pub async fn show(req: HttpRequest, sess: Sess, db: web::Data<Db>) -> Result<HttpResponse> {
    let (counts, bytes, latest, ops) = db
        .read(&sess.check, |c| -> Result<_, ApiError> {
            Ok((
                stats::counts(c)?,
                stats::size_bytes(c)?,
                events::list(c, None, None, None, 10)?,
                operators::list(c)?,
            ))
        })
        .await
        .map_err(ConsoleError::from)?;
    let health = match db.health().broken() {
        Some(Broken::Replaced(why)) => format!("the database file {why}; restart the server"),
        Some(Broken::Corrupt) => "the database is corrupt; restore the last backup".to_owned(),
        None if !db.writes_ok() => "the last write failed (disk full or read-only)".to_owned(),
        None => "ok".to_owned(),
    };
    let engine = match db.engine() {
        Engine::Sqlite => "SQLite",
        Engine::Postgres => "PostgreSQL",
    };
    let content = html! {
        h1 { "Dashboard" }
        section #counts aria-label="Counts" {
            @for (label, n, href) in [
                ("Organizations", counts.organizations, "/console/organizations"),
                ("Users", counts.users, "/console/users"),
                ("Memberships", counts.memberships, "/console/organizations"),
                ("Tiers", counts.tiers, "/console/tiers"),
                ("API keys", counts.keys, "/console/keys"),
            ] {
                a .stat href=(href) { span .n { (n) } span .label { (label) } }
            }
        }
        section #database {
            h2 { "Database" }
            dl {
                dt { "Engine" } dd #engine { (engine) }
                dt { "Size" } dd #size { (size(bytes)) }
                dt { "Location" } dd { code { (db.location()) } }
            }
        }
        section #health {
            h2 { "Health" }
            p .status data-ok=[(health == "ok").then_some("true")] { (health) }
        }
        section #latest-events {
            h2 { "Latest events" }
            (events_table("latest-events-table", &latest, &ops))
            p { a href="/console/events" { "All events →" } }
        }
    };
    Ok(page::page(
        &req,
        &sess,
        StatusCode::OK,
        "Dashboard",
        content,
    ))
}
