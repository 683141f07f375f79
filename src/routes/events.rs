//! `/events`: the audit trail (scope `admin`), newest first, cursor-paginated.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ok_json, ListParams};
use crate::auth::{scope, Need};
use crate::error::{ApiError, ErrorBody, Result};
use crate::model::CursorMeta;
use crate::storage::events::{self, Event};
use crate::storage::Db;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/events").route(web::get().to(list)));
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub data: Vec<Event>,
    pub meta: CursorMeta,
}

#[utoipa::path(get, path = "/api/integrations/events", tag = "events",
    params(("type" = Option<String>, Query, description = "e.g. user.created"), ("subject" = Option<String>, Query, description = "Subject id"),
        ("after" = Option<String>, Query, description = "Cursor: next_cursor of the previous page"), ("per_page" = Option<u32>, Query)),
    responses((status = 200, body = EventPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub async fn list(
    req: HttpRequest,
    key: Need<scope::Admin>,
    db: web::Data<Db>,
) -> Result<HttpResponse> {
    let p = ListParams::parse(&req, &["type", "subject", "after", "per_page"])?;
    let per = p.page.per_page;
    let data = db
        .read(&key.check, move |c| {
            if let Some(a) = &p.after {
                if !events::exists(c, a)? {
                    return Err(ApiError::InvalidQuery(super::one(
                        "after",
                        "after is not a cursor from this list",
                    )));
                }
            }
            events::list(
                c,
                p.kind.as_deref(),
                p.subject.as_deref(),
                p.after.as_deref(),
                per,
            )
        })
        .await?;
    let next_cursor = if data.len() == per as usize {
        data.last().map(|e| e.id.clone())
    } else {
        None
    };
    ok_json(&EventPage {
        meta: CursorMeta {
            per_page: per,
            count: data.len(),
            next_cursor,
        },
        data,
    })
}
