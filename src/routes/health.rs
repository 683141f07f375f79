//! `/healthz` (liveness) and `/readyz` (the database answers and accepts writes).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::{ApiError, Result};
use crate::storage::Db;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)));
}

/// Liveness.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Readiness: the database answers and accepts writes.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: String,
    #[schema(example = "ok")]
    pub database: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "checkLiveness",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// Readiness: the database answers reads and accepts writes.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "checkReadiness",
    responses((status = 200, description = "The database answers", body = Readiness), (status = 503, description = "The database is not available", body = crate::error::ErrorBody)))]
pub async fn readyz(
    db: web::Data<Db>,
    draining: Option<web::Data<std::sync::atomic::AtomicBool>>,
) -> Result<HttpResponse> {
    // On SIGTERM the server drains: a proxy or load balancer takes it out of rotation.
    if draining.is_some_and(|d| d.load(std::sync::atomic::Ordering::Relaxed)) {
        return Err(ApiError::ServiceUnavailable(
            "The server is shutting down".into(),
        ));
    }
    // A deleted, replaced or corrupt database file makes the server unready for good
    // (checked off the executor: it reads the file's metadata).
    let files = db.get_ref().clone();
    web::block(move || files.health().writable()).await??;
    // On PostgreSQL a write that failed says nothing lasting (the server may have been
    // restarted since): readiness is probed each time, a standby (read-only) included.
    let postgres = db.engine() == crate::storage::Engine::Postgres;
    let ok = db
        .read_internal(|c| {
            let v: i64 = c.query_row("SELECT count(*) FROM premium_tiers", (), |r| r.get(0))?;
            if c.is_postgres() {
                let primary: bool =
                    c.query_row("SELECT NOT pg_is_in_recovery()", (), |r| r.get(0))?;
                if !primary {
                    return Err(ApiError::ServiceUnavailable(
                        "The database is a read-only standby; point invois at the primary".into(),
                    ));
                }
            }
            Ok(v >= 0)
        })
        .await;
    match ok {
        Ok(true) if postgres || db.writes_ok() => {
            Ok(HttpResponse::Ok().json(json!({"status": "ready", "database": "ok"})))
        }
        Ok(true) => Err(ApiError::ServiceUnavailable(
            "The database answers reads but the last write failed (disk full or read-only)".into(),
        )),
        Err(e @ ApiError::ServiceUnavailable(_)) => Err(e),
        _ => Err(ApiError::ServiceUnavailable(
            "The database is not available".into(),
        )),
    }
}
