//! Backup: on SQLite, an online, verified copy of the database streamed to the browser (the
//! same copy as `invois backup`); on PostgreSQL, where to turn instead.

use std::io::Read;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use maud::html;

use super::page;
use super::session::Sess;
use super::{ConsoleError, Result};
use crate::storage::{Db, Engine};

/// Bytes read from the copy per chunk sent.
const CHUNK: usize = 256 * 1024;

pub async fn download(req: HttpRequest, sess: Sess, db: web::Data<Db>) -> Result<HttpResponse> {
    if db.engine() == Engine::Postgres {
        let content = html! {
            h1 { "Backup" }
            p { "This server keeps its data in PostgreSQL. Back it up with PostgreSQL's own tools ("
                code { "pg_dump" } ", base backups), or write the whole data set as JSON with "
                code { "invois export FILE" } " (" code { "invois import" } " loads it into an empty database of either engine)." }
        };
        return Ok(page::page(&req, &sess, StatusCode::OK, "Backup", content));
    }
    let dir = std::env::temp_dir();
    let name = format!(
        "invois-console-backup-{}-{:016x}.db",
        std::process::id(),
        rand::random::<u64>()
    );
    let tmp = dir.join(name);
    let db = db.get_ref().clone();
    let file = web::block(move || -> Result<std::fs::File> {
        let made = db.backup_to(&tmp);
        let opened = made.map_err(ConsoleError::from).and_then(|()| {
            std::fs::File::open(&tmp)
                .map_err(|e| ConsoleError::Internal(format!("backup copy: {e}")))
        });
        // The open file stays readable after its name is gone: nothing is left behind, even
        // if the download is cut off.
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = tmp.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
        opened
    })
    .await??;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
    std::thread::Builder::new()
        .name("invois-backup-send".into())
        .spawn(move || {
            let mut file = file;
            loop {
                let mut buf = vec![0u8; CHUNK];
                match file.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                            return; // the browser went away
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        })
        .map_err(|e| ConsoleError::Internal(format!("backup: {e}")))?;
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let date = chrono::Utc::now().format("%Y-%m-%d");
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.sqlite3")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"invois-{date}.db\""),
        ))
        .streaming(stream))
}
